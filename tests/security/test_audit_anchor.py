"""The audit log's anchor: signed checkpoints outside the database catch what the chain alone
cannot (a log emptied with its head reset, a tail cut back to an old backup), a forged
checkpoint is itself a finding, and a replayed entry is named as one."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from riskdesk.audit import checkpoints
from riskdesk.audit.checkpoints import Expected
from riskdesk.audit.service import (
    CheckpointRefused,
    Verification,
    take_checkpoint,
    verify,
)
from riskdesk.audit.tasks import CheckpointWorker
from riskdesk.config import Settings
from riskdesk.db import make_sessionmaker, unit_of_work
from riskdesk.models.audit import GENESIS
from riskdesk.security import keys
from riskdesk.security import service as security_service


def _write_some(factory: sessionmaker[Session], n: int, start: int = 0) -> None:
    """n audited writes that create no user, sign-in or token (nothing else dates them)."""
    for i in range(start, start + n):
        with unit_of_work(factory) as session:
            security_service.set_email(session, username="auditor", email=f"a{i}@example.org")


def _check(factory: sessionmaker[Session], settings: Settings, **kwargs: Any) -> Verification:
    with factory() as session:
        found = checkpoints.read(settings.audit_checkpoint_paths())
        return verify(session, found=found, **kwargs)


def _kinds(result: Verification) -> list[tuple[str, int | None]]:
    return [(f.kind, f.seq) for f in result.findings]


def _checkpoint(factory: sessionmaker[Session], settings: Settings) -> checkpoints.Checkpoint:
    with factory() as session:
        done = take_checkpoint(session, settings)
    # One connection writing one transaction after another appends to one chain: its own.
    assert done.outcome == "written" and len(done.checkpoints) == 1, done
    [taken] = done.checkpoints
    assert taken.number == 0
    return taken


def _head(conn: Any) -> Any:
    return conn.execute(text("SELECT seq, hash, mac FROM audit_head WHERE chain = 0")).one()


def test_an_emptied_log_with_its_head_reset_is_caught(own_backend, settings) -> None:  # type: ignore[no-untyped-def]
    factory = make_sessionmaker(own_backend.engine)
    _write_some(factory, 4)
    taken = _checkpoint(factory, settings)
    result = _check(factory, settings)
    assert result.ok and not result.unanchored, result.findings
    assert [(a.seq, a.held) for a in result.anchors] == [(taken.seq, True)]

    # No key needed: every entry deleted, the head set back to how the migration made it.
    with own_backend.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log"))
        conn.execute(text(f"UPDATE audit_head SET seq = 0, hash = '{GENESIS}', mac = ''"))

    result = _check(factory, settings)
    assert not result.ok and result.entries == 0
    [finding] = result.findings
    assert (finding.kind, finding.seq) == ("deleted", 1)
    assert f"entries 1-{taken.seq} deleted" in finding.message and "emptied" in finding.message
    # The checkpoint file gone as well: the users (each created with an entry) still tell.
    for path in settings.audit_checkpoint_paths():
        path.unlink()
    with factory() as session:
        alone = verify(session)
    assert _kinds(alone) == [("deleted", 1)], alone.findings
    assert "the log was emptied" in alone.findings[0].message
    assert "user account" in alone.findings[0].message
    # The server's worker does not sign the emptied log: it raises the alarm instead.
    checkpoints.write(taken, settings)
    with factory() as session, pytest.raises(CheckpointRefused, match=f"entry {taken.seq}"):
        take_checkpoint(session, settings)


def test_a_tail_cut_back_to_an_old_backup_is_caught_once_a_newer_checkpoint_exists(
    own_backend, settings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    factory = make_sessionmaker(own_backend.engine)
    _write_some(factory, 3)
    old = _checkpoint(factory, settings)
    with own_backend.engine.connect() as conn:  # the backup: the tables as they are now
        backup_head = _head(conn)
    assert backup_head.seq == old.seq
    _write_some(factory, 4, start=10)
    newer = _checkpoint(factory, settings)
    assert newer.seq == old.seq + 4

    # The audit tables put back as the backup had them: a whole, shorter chain.
    with own_backend.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq > :s"), {"s": backup_head.seq})
        conn.execute(
            text("UPDATE audit_head SET seq = :s, hash = :h, mac = :m WHERE chain = 0"),
            {"s": backup_head.seq, "h": backup_head.hash, "m": backup_head.mac},
        )

    # Against the old checkpoint only, nothing shows: that is what a newer one is for.
    with factory() as session:
        before = verify(session, found=checkpoints.Found(checkpoints=[old]))
    assert before.ok and before.anchors[0].held
    # Nor without any: the chain is whole as far as it goes, and verify says it is unanchored.
    with factory() as session:
        bare = verify(session)
    assert bare.ok and bare.unanchored

    result = _check(factory, settings)
    first, last = backup_head.seq + 1, newer.seq
    assert _kinds(result) == [("deleted", first)], result.findings
    assert f"entries {first}-{last} deleted" in result.findings[0].message
    assert "the tail was cut off" in result.findings[0].message
    assert [(a.seq, a.held) for a in result.anchors] == [(last, False)]

    # A head kept elsewhere by the operator catches it too, with no checkpoint file at all.
    with factory() as session:
        expected = verify(session, expect=[Expected(newer.seq, newer.hash)])
    assert _kinds(expected) == [("deleted", first)]
    assert "the head you expect" in expected.findings[0].message

    with factory() as session, pytest.raises(CheckpointRefused, match="no longer holds"):
        take_checkpoint(session, settings)


def test_a_forged_or_edited_checkpoint_is_a_finding(own_backend, settings) -> None:  # type: ignore[no-untyped-def]
    factory = make_sessionmaker(own_backend.engine)
    _write_some(factory, 3)
    taken = _checkpoint(factory, settings)
    [path] = settings.audit_checkpoint_paths()
    assert path.stat().st_mode & 0o777 == 0o600
    genuine = path.read_text().strip()
    assert json.loads(genuine)["seq"] == taken.seq

    # Moved forward to vouch for entries that never were: the MAC no longer matches.
    moved = json.loads(genuine) | {"seq": taken.seq + 50}
    # Signed with a key that is not this installation's audit key.
    ring = keys.current()
    keys.use(keys.generate().to_json())
    try:
        foreign = checkpoints.sign(taken.seq + 70, "e" * 64, taken.at).to_json()
    finally:
        keys.use(ring.to_json())
    with path.open("a") as out:
        out.write(json.dumps(moved) + "\n" + foreign + "\n" + "not a checkpoint\n")

    result = _check(factory, settings)
    assert sorted(_kinds(result)) == [("checkpoint", None)] * 3, result.findings
    messages = " | ".join(f.message for f in result.findings)
    assert f"{path}:2 fails its MAC" in messages and f"{path}:3 fails its MAC" in messages
    assert f"{path}:4 is not a checkpoint" in messages
    # The genuine one still anchors the chain; the forged ones are never taken as the latest.
    assert [(a.seq, a.held) for a in result.anchors] == [(taken.seq, True)]


def test_a_replayed_entry_is_named_as_a_replay(own_backend, settings) -> None:  # type: ignore[no-untyped-def]
    factory = make_sessionmaker(own_backend.engine)
    _write_some(factory, 6)
    with own_backend.engine.connect() as conn:
        last = _head(conn).seq
        columns = list(conn.execute(text("SELECT * FROM audit_log WHERE seq = 3")).keys())

    def copy(seq: int, at_seq: int, new_id: int) -> None:
        names = ", ".join(c for c in columns if c not in ("id", "seq"))
        with own_backend.engine.begin() as conn:
            conn.execute(
                text(
                    f"INSERT INTO audit_log (id, seq, {names}) "
                    f"SELECT :id, :at, {names} FROM audit_log WHERE seq = :seq"
                ),
                {"id": new_id, "at": at_seq, "seq": seq},
            )

    # Entry 3 copied in again at the end: its MAC holds (the MAC does not cover the number).
    copy(3, last + 1, 900_001)
    result = _check(factory, settings)
    assert _kinds(result) == [("replayed", last + 1)], result.findings
    assert result.findings[0].message == (
        f"chain 0: entry {last + 1} (id 900001) is a copy of entry 3: replayed"
    )
    with own_backend.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id = 900001"))
    assert _check(factory, settings).ok

    # Entry 2 copied into the middle, the later entries renumbered to make room.
    with own_backend.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET seq = seq + 1000 WHERE seq >= 5"))
        conn.execute(text("UPDATE audit_log SET seq = seq - 999 WHERE seq >= 1005"))
    copy(2, 5, 900_002)
    result = _check(factory, settings)
    assert _kinds(result) == [("replayed", 5)], result.findings
    assert "is a copy of entry 2" in result.findings[0].message


def test_checkpoints_go_where_the_settings_say_and_the_log_line_reads_back(
    own_backend, settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    factory = make_sessionmaker(own_backend.engine)
    other = tmp_path / "other-volume" / "checkpoints.jsonl"
    configured = settings.model_copy(
        update={
            "audit_checkpoint_files": [settings.data_dir / "cp.jsonl", other],
            "audit_checkpoint_log": True,
        }
    )
    _write_some(factory, 2)
    with (
        caplog.at_level(logging.INFO, logger="riskdesk.audit.checkpoint"),
        factory() as session,
    ):
        done = take_checkpoint(session, configured)
    assert done.outcome == "written" and len(done.checkpoints) == 1
    assert done.written_to == [
        str(settings.data_dir / "cp.jsonl"),
        str(other),
        "the server log (riskdesk.audit.checkpoint)",
    ]
    assert other.read_text() == (settings.data_dir / "cp.jsonl").read_text()
    # The line a log collector keeps is read back as it is (prefix and all) by --checkpoints.
    [record] = [r for r in caplog.records if r.name == "riskdesk.audit.checkpoint"]
    kept = tmp_path / "from-the-collector.log"
    kept.write_text(f"2026-01-01 INFO riskdesk.audit.checkpoint {record.getMessage()}\n")
    found = checkpoints.read([kept])
    assert found.bad == [] and found.latest() == done.checkpoints[0]
    # Nothing new: nothing written.
    with factory() as session:
        again = take_checkpoint(session, configured)
    assert again.outcome == "unchanged" and len(other.read_text().splitlines()) == 1
    # One file lost (the volume gone): the other still anchors the chain.
    (settings.data_dir / "cp.jsonl").unlink()
    result = _check(factory, configured)
    assert result.ok and [a.held for a in result.anchors] == [True]
    assert f"{settings.data_dir / 'cp.jsonl'} (missing)" in result.looked_in


def test_the_server_worker_checkpoints_without_writing_or_waiting_for_writers(
    own_backend, settings
) -> None:  # type: ignore[no-untyped-def]
    factory = make_sessionmaker(own_backend.engine)
    fast = settings.model_copy(update={"audit_checkpoint_interval_seconds": 0.05})
    [path] = fast.audit_checkpoint_paths()
    _write_some(factory, 2)

    def vouched() -> dict[int, int]:
        return {chain: c.seq for chain, c in checkpoints.latest_each([path]).items()}

    def heads() -> dict[int, int]:
        with own_backend.engine.connect() as conn:
            rows = conn.execute(text("SELECT chain, seq FROM audit_head WHERE seq > 0"))
            return {int(chain): int(seq) for chain, seq in rows}

    worker = CheckpointWorker(factory, fast)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while vouched() != heads() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert vouched() == heads()  # taken at start, with nothing more written
        _write_some(factory, 3, start=20)
        deadline = time.monotonic() + 10
        while vouched() != heads() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert vouched() == heads()
        lines = len(path.read_text().splitlines())
        time.sleep(0.3)  # idle passes: the log did not grow, nothing is appended
        assert len(path.read_text().splitlines()) == lines >= 2
    finally:
        worker.stop()

    # A writer holds every head's lock in the middle of an append: a checkpoint does not wait.
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with unit_of_work(factory) as session:
            security_service.set_email(session, username="auditor", email="held@example.org")
            session.flush()
            session.execute(text("UPDATE audit_head SET seq = seq"))
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(10)
        started = time.monotonic()
        with factory() as session:
            done = take_checkpoint(session, fast)
        assert time.monotonic() - started < 2
        assert done.outcome == "unchanged"  # the write in flight is not committed yet
    finally:
        release.set()
        thread.join()
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_without_a_checkpoint_a_token_newer_than_the_log_shows_the_lost_tail(own_backend) -> None:  # type: ignore[no-untyped-def]
    factory = make_sessionmaker(own_backend.engine)
    _write_some(factory, 2)
    with own_backend.engine.connect() as conn:
        backup_head = _head(conn)
    with unit_of_work(factory) as session:  # made with an entry of its own, after the backup
        user = security_service.get_user_by_username_or_raise(session, "auditor")
        scopes = sorted(p.value for p in security_service.permissions_for(user.role))
        security_service.issue_token(session, user=user, name="later", scopes=scopes)
    _write_some(factory, 1, start=5)
    with own_backend.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq > :s"), {"s": backup_head.seq})
        conn.execute(
            text("UPDATE audit_head SET seq = :s, hash = :h, mac = :m WHERE chain = 0"),
            {"s": backup_head.seq, "h": backup_head.hash, "m": backup_head.mac},
        )
    with factory() as session:
        result = verify(session)
    # Which chain lost it is not known (any chain may hold the token's entry): no number.
    assert _kinds(result) == [("deleted", None)], result.findings
    assert "the newest API token" in result.findings[0].message
