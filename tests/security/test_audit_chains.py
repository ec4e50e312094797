"""The audit log kept in several chains: verify catches tampering in any of them, every chain is
anchored by checkpoints of its own, writers at once take different heads and do not wait for
one another, and an upgraded database keeps its single chain as chain 0."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event, text
from sqlalchemy.orm import Session, sessionmaker

from riskdesk.audit import checkpoints, trail
from riskdesk.audit.repository import PREFERRED_CHAIN
from riskdesk.audit.service import CheckpointRefused, Verification, take_checkpoint, verify
from riskdesk.db import make_engine, make_sessionmaker, unit_of_work
from riskdesk.migrations import runner
from riskdesk.models.audit import CHAINS, GENESIS
from riskdesk.models.types import JSONType, UTCDateTime
from riskdesk.security import keys
from riskdesk.security import service as security_service
from riskdesk.security.permissions import Role

CHAIN = 5  # a chain other than 0, where the single chain of before 0027 went


def _write(factory: sessionmaker[Session], chain: int, n: int, start: int = 0) -> None:
    """n audited writes, appended to ``chain`` (the connection's preferred one, free here)."""
    for i in range(start, start + n):
        with unit_of_work(factory) as session:
            session.connection().info[PREFERRED_CHAIN] = chain
            security_service.set_email(session, username="auditor", email=f"c{i}@example.org")


def _check(factory: sessionmaker[Session], **kwargs: Any) -> Verification:
    with factory() as session:
        return verify(session, **kwargs)


def _found(
    factory: sessionmaker[Session], **kwargs: Any
) -> list[tuple[str, int | None, int | None]]:
    return [(f.kind, f.chain, f.seq) for f in _check(factory, **kwargs).findings]


def _sql(engine: sa.Engine, statement: str, **params: Any) -> None:
    with engine.begin() as conn:
        conn.execute(text(statement), params)


def test_verify_catches_tampering_in_a_chain_other_than_0(own_backend) -> None:  # type: ignore[no-untyped-def]
    engine = own_backend.engine
    factory = make_sessionmaker(engine)
    _write(factory, 0, 2)
    _write(factory, CHAIN, 6, start=2)
    result = _check(factory)
    assert result.ok, result.findings
    assert {c.chain: c.head_seq for c in result.used} == {0: 3, CHAIN: 6}  # 0: the users too
    assert result.entries == 9
    where = f"chain = {CHAIN}"

    # Edited.
    with engine.connect() as conn:
        actor = conn.execute(text(f"SELECT actor FROM audit_log WHERE {where} AND seq = 3"))
        actor = actor.scalar_one()
    _sql(engine, f"UPDATE audit_log SET actor = 'someone' WHERE {where} AND seq = 3")
    assert _found(factory) == [("edited", CHAIN, 3)]
    _sql(engine, f"UPDATE audit_log SET actor = :a WHERE {where} AND seq = 3", a=actor)
    assert _found(factory) == []

    # Moved to another chain: its MAC covers its chain, so it fails where it went.
    _sql(engine, f"UPDATE audit_log SET chain = 7 WHERE {where} AND seq = 6")
    assert _found(factory) == [("deleted", CHAIN, 6), ("inserted", 7, 6)]
    _sql(engine, "UPDATE audit_log SET chain = 0, seq = 4 WHERE chain = 7 AND seq = 6")
    assert _found(factory) == [("inserted", 0, 4), ("deleted", CHAIN, 6)]
    _sql(engine, "UPDATE audit_log SET chain = 99 WHERE chain = 0 AND seq = 4")
    assert [k for k, *_ in _found(factory)] == ["deleted", "inserted"]  # a chain there is not
    _sql(engine, f"UPDATE audit_log SET chain = {CHAIN}, seq = 6 WHERE chain = 99")
    assert _found(factory) == []

    # Deleted.
    with engine.connect() as conn:
        saved = dict(
            conn.execute(text(f"SELECT * FROM audit_log WHERE {where} AND seq = 4"))
            .mappings()
            .one()
        )
    _sql(engine, f"DELETE FROM audit_log WHERE {where} AND seq = 4")
    assert _found(factory) == [("deleted", CHAIN, 4)]
    if not isinstance(saved["detail"], str):
        saved["detail"] = json.dumps(saved["detail"])
    columns = ", ".join(saved)
    insert = text(f"INSERT INTO audit_log ({columns}) VALUES ({', '.join(':' + k for k in saved)})")
    with engine.begin() as conn:
        conn.execute(insert, saved)
    assert _found(factory) == []

    # Inserted: a forged entry at 4, the later ones renumbered to make room.
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE audit_log SET seq = seq + 1000 WHERE {where} AND seq >= 4"))
        conn.execute(text(f"UPDATE audit_log SET seq = seq - 999 WHERE {where} AND seq >= 1004"))
        prev = conn.execute(text(f"SELECT hash FROM audit_log WHERE {where} AND seq = 3"))
        forged = {**saved, "id": 999_999, "seq": 4, "actor": "ghost", "prev_hash": prev.scalar()}
        conn.execute(insert, forged)
        conn.execute(text(f"UPDATE audit_head SET seq = seq + 1 WHERE {where}"))
    found = _found(factory)
    assert ("inserted", CHAIN, 4) in found and all(k != "edited" for k, *_ in found), found
    assert all(chain == CHAIN for _, chain, _ in found), found
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id = 999999"))
        conn.execute(text(f"UPDATE audit_log SET seq = seq + 1000 WHERE {where} AND seq >= 5"))
        conn.execute(text(f"UPDATE audit_log SET seq = seq - 1001 WHERE {where} AND seq >= 1005"))
        conn.execute(text(f"UPDATE audit_head SET seq = seq - 1 WHERE {where}"))
    assert _found(factory) == []

    with engine.connect() as conn:
        head = conn.execute(text(f"SELECT seq, hash, mac FROM audit_head WHERE {where}")).one()
        at_5 = conn.execute(text(f"SELECT hash FROM audit_log WHERE {where} AND seq = 5"))
        at_5 = at_5.scalar_one()

    # Reset: the head set back to empty while the chain has entries.
    _sql(engine, f"UPDATE audit_head SET seq = 0, hash = '{GENESIS}', mac = '' WHERE {where}")
    assert _found(factory) == [("head", CHAIN, 0)]

    # Truncated, the head left where it was: the tail is named.
    _sql(
        engine,
        f"UPDATE audit_head SET seq = :s, hash = :h, mac = :m WHERE {where}",
        s=head.seq,
        h=head.hash,
        m=head.mac,
    )
    _sql(engine, f"DELETE FROM audit_log WHERE {where} AND seq = 6")
    assert _found(factory) == [("deleted", CHAIN, 6)]
    # ... and with the head rolled back to the new last entry: its MAC cannot be made without
    # the key, and the MAC the same head would have in another chain does not do either.
    _sql(engine, f"UPDATE audit_head SET seq = 5, hash = :h WHERE {where}", h=at_5)
    assert _found(factory) == [("head", CHAIN, 5)]
    for elsewhere in (f"head:5:{at_5}", f"head:3:5:{at_5}"):  # chain 0's form, chain 3's
        _sql(
            engine,
            f"UPDATE audit_head SET mac = :m WHERE {where}",
            m=keys.audit_mac(elsewhere.encode()),
        )
        assert _found(factory) == [("head", CHAIN, 5)]
    # A head of that moment with its genuine MAC (kept from a backup) makes the cut whole as
    # far as it goes: a checkpoint catches that (the next test).


def test_every_chain_is_anchored_and_a_cut_back_chain_is_caught(own_backend, settings) -> None:  # type: ignore[no-untyped-def]
    engine = own_backend.engine
    factory = make_sessionmaker(engine)
    where = f"chain = {CHAIN}"
    _write(factory, 0, 1)
    _write(factory, CHAIN, 2, start=1)
    with engine.connect() as conn:  # the backup: chain 5 as it is now
        backup = conn.execute(text(f"SELECT seq, hash, mac FROM audit_head WHERE {where}")).one()
    _write(factory, CHAIN, 3, start=10)
    _write(factory, 3, 1, start=20)
    with factory() as session:
        done = take_checkpoint(session, settings)
    assert done.outcome == "written"
    assert {(c.chain, c.seq) for c in done.checkpoints} == {
        ("audit_log", 2),
        ("audit_log/3", 1),
        (f"audit_log/{CHAIN}", 5),
    }
    [path] = settings.audit_checkpoint_paths()
    assert len(path.read_text().splitlines()) == 3
    result = _check(factory, found=checkpoints.read([path]))
    assert result.ok and not result.unanchored, result.findings
    assert sorted((a.chain, a.seq, a.held) for a in result.anchors) == [
        (0, 2, True),
        (3, 1, True),
        (CHAIN, 5, True),
    ]
    # Nothing new: nothing written; chain 3 grows: only its checkpoint is.
    with factory() as session:
        assert take_checkpoint(session, settings).outcome == "unchanged"
    _write(factory, 3, 1, start=30)
    with factory() as session:
        again = take_checkpoint(session, settings)
    assert [(c.chain, c.seq) for c in again.checkpoints] == [("audit_log/3", 2)]

    # Chain 5 put back as the backup had it (entries and head, MAC and all): whole, shorter.
    with engine.begin() as conn:
        conn.execute(text(f"DELETE FROM audit_log WHERE {where} AND seq > :s"), {"s": backup.seq})
        conn.execute(
            text(f"UPDATE audit_head SET seq = :s, hash = :h, mac = :m WHERE {where}"),
            {"s": backup.seq, "h": backup.hash, "m": backup.mac},
        )
    with factory() as session:
        bare = verify(session)
    # No checkpoint: the chain is whole as far as it goes (no user, sign-in or token since).
    assert bare.ok and bare.unanchored
    result = _check(factory, found=checkpoints.read([path]))
    assert [(f.kind, f.chain, f.seq) for f in result.findings] == [("deleted", CHAIN, 3)]
    assert "entries 3-5 deleted" in result.findings[0].message
    assert "the tail was cut off" in result.findings[0].message
    held = {a.chain: a.held for a in result.anchors}
    assert held == {0: True, 3: True, CHAIN: False}
    # The checkpoint worker signs the other chains and raises the alarm for this one.
    _write(factory, 0, 1, start=40)
    with (
        factory() as session,
        pytest.raises(
            CheckpointRefused, match="chain 5: the log no longer holds entry 5"
        ) as refused,
    ):
        take_checkpoint(session, settings)
    assert refused.value.result is not None
    assert [(c.chain, c.seq) for c in refused.value.result.checkpoints] == [("audit_log", 3)]

    # Chain 5 emptied and its head reset to how the migration made it.
    _sql(engine, f"DELETE FROM audit_log WHERE {where}")
    _sql(engine, f"UPDATE audit_head SET seq = 0, hash = '{GENESIS}', mac = '' WHERE {where}")
    result = _check(factory, found=checkpoints.read([path]))
    [finding] = result.findings
    assert (finding.kind, finding.chain, finding.seq) == ("deleted", CHAIN, 1)
    assert "entries 1-5 deleted: the chain is empty" in finding.message
    assert "it was emptied" in finding.message
    # A head row deleted outright.
    _sql(engine, f"DELETE FROM audit_head WHERE {where}")
    kinds = {(f.kind, f.chain) for f in _check(factory, found=checkpoints.read([path])).findings}
    assert ("head", CHAIN) in kinds


def test_a_token_whose_entry_is_gone_shows_the_lost_tail_whatever_the_chain(own_backend) -> None:  # type: ignore[no-untyped-def]
    """The newest row only made with an entry must have one: other chains' later entries do
    not hide that its chain lost its tail."""
    engine = own_backend.engine
    factory = make_sessionmaker(engine)
    _write(factory, CHAIN, 2)
    with engine.connect() as conn:
        backup = conn.execute(text(f"SELECT seq, hash, mac FROM audit_head WHERE chain = {CHAIN}"))
        backup = backup.one()
    with unit_of_work(factory) as session:
        session.connection().info[PREFERRED_CHAIN] = CHAIN
        user = security_service.get_user_by_username_or_raise(session, "auditor")
        scopes = sorted(p.value for p in security_service.permissions_for(user.role))
        security_service.issue_token(session, user=user, name="later", scopes=scopes)
    _write(factory, 0, 3, start=10)  # later entries, in another chain
    assert _check(factory).ok
    with engine.begin() as conn:
        conn.execute(
            text(f"DELETE FROM audit_log WHERE chain = {CHAIN} AND seq > :s"), {"s": backup.seq}
        )
        conn.execute(
            text(f"UPDATE audit_head SET seq = :s, hash = :h, mac = :m WHERE chain = {CHAIN}"),
            {"s": backup.seq, "h": backup.hash, "m": backup.mac},
        )
    result = _check(factory)
    assert [(f.kind, f.chain) for f in result.findings] == [("deleted", None)], result.findings
    assert "the newest API token" in result.findings[0].message


def test_the_log_reads_in_the_order_written_across_chains(db, connection, client_for) -> None:  # type: ignore[no-untyped-def]
    """The API newest first, exports oldest first, the page: by time written, then id."""
    auditor = client_for("auditor")
    trail.set_context(db, actor="order-test")
    saved = connection.info.get(PREFERRED_CHAIN)
    try:
        for i, chain in enumerate((3, 0, 7, 3)):
            connection.info[PREFERRED_CHAIN] = chain
            security_service.set_email(db, username="analyst", email=f"order{i}@example.org")
            db.commit()
    finally:
        connection.info[PREFERRED_CHAIN] = saved
    only = {"actor": "order-test"}
    listed = auditor.get("/api/v1/audit-log", params=only)
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [e["chain"] for e in items] == [3, 7, 0, 3]
    assert items[0]["seq"] == items[-1]["seq"] + 1  # chain 3: one after the other
    assert [e["at"] for e in items] == sorted((e["at"] for e in items), reverse=True)
    exported = auditor.get("/api/v1/audit-log/export", params={**only, "format": "jsonl"})
    rows = [json.loads(line) for line in exported.text.splitlines()]
    assert [r["chain"] for r in rows] == [3, 0, 7, 3]
    page = auditor.get("/audit", params=only)
    assert page.status_code == 200
    order = [page.text.index(f'id="entry-{e["chain"]}-{e["seq"]}"') for e in items]
    assert order == sorted(order)
    checked = auditor.get("/api/v1/audit-log/verification").json()
    assert checked["ok"] is True
    assert {c["chain"] for c in checked["chains"]} >= {0, 3, 7}


# ---------------------------------------------------------------- writers at once


def _locked_heads(engine: sa.Engine) -> int:
    """How many head rows another transaction holds right now."""
    with engine.connect() as conn:
        free = conn.execute(text("SELECT chain FROM audit_head FOR UPDATE SKIP LOCKED")).all()
        conn.rollback()
    return CHAINS - len(free)


@pytest.mark.parametrize("same_preference", [False, True])
def test_writers_at_once_take_different_heads_and_neither_waits(
    own_backend, same_preference: bool
) -> None:  # type: ignore[no-untyped-def]
    if own_backend.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: it has no row locks to wait on")
    engine = own_backend.engine
    factory = make_sessionmaker(engine)
    appended, release = threading.Event(), threading.Event()
    failed: list[BaseException] = []

    def first() -> None:
        try:
            with unit_of_work(factory) as session:
                session.connection().info[PREFERRED_CHAIN] = 0
                security_service.set_email(session, username="auditor", email="one@example.org")

                # After the trail's own hook (registered first) appended: the head is held.
                @event.listens_for(session, "before_commit")
                def hold(_session: Session) -> None:
                    appended.set()
                    release.wait(10)

        except BaseException as exc:  # pragma: no cover - reported below
            failed.append(exc)
            appended.set()

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert appended.wait(10) and not failed, failed
        assert _locked_heads(engine) == 1  # the first writer holds its head until it commits
        # A single head would make the second wait: a lock_timeout turns that wait into an
        # error at once, so the test fails fast instead of hanging.
        with engine.connect() as conn, pytest.raises(sa.exc.OperationalError, match="lock"):
            conn.execute(text("SET LOCAL lock_timeout = '200ms'"))
            conn.execute(text("SELECT seq FROM audit_head WHERE chain = 0 FOR UPDATE"))
        started = time.monotonic()
        with unit_of_work(factory) as session:
            session.execute(text("SET LOCAL lock_timeout = '2s'"))
            if same_preference:  # both want chain 0: the second takes the next free head
                session.connection().info[PREFERRED_CHAIN] = 0
            security_service.set_email(session, username="analyst", email="two@example.org")
        waited = time.monotonic() - started
        assert _locked_heads(engine) == 1  # the first still holds its head: it did not commit
    finally:
        release.set()
        thread.join(10)
    assert not failed, failed
    assert waited < 1.5, waited
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT chain, detail FROM audit_log WHERE action = 'write' ORDER BY id DESC")
        ).all()[:2]
    assert rows[0].chain != rows[1].chain  # the second committed first, in another chain
    assert rows[1].chain == 0
    assert _check(factory).ok


# ---------------------------------------------------------------- the migration


def _old_append(conn: sa.Connection, n: int, at: dt.datetime) -> None:
    """n entries appended as riskdesk.audit.repository.append did before 0027 (one chain, its
    head the row with id 1), written out here so that chain 0's form is held to it."""
    seq, last = conn.execute(text("SELECT seq, hash FROM audit_head WHERE id = 1")).one()
    entries = sa.table(
        "audit_log",
        *[sa.column(c) for c in ("id", "seq", "actor_id", "actor", "channel", "ip", "action")],
        *[sa.column(c) for c in ("request", "object_type", "object_id", "prev_hash", "hash")],
        sa.column("at", UTCDateTime()),
        sa.column("detail", JSONType),
    )
    for i in range(n):
        entry = {
            "actor_id": None,
            "actor": "cli",
            "channel": "cli",
            "ip": None,
            "action": "write",
            "request": "riskdesk users create",
            "object_type": "user",
            "object_id": str(i),
            "detail": {"changes": [{"table": "users", "op": "update", "rows": 1, "ids": [i]}]},
        }
        body = {"at": at.isoformat(), "prev": last, **entry}
        digest = keys.audit_mac(
            json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        )
        seq += 1
        conn.execute(entries.insert().values(seq=seq, at=at, prev_hash=last, hash=digest, **entry))
        last = digest
    mac = keys.audit_mac(f"head:{seq}:{last}".encode())
    conn.execute(
        text("UPDATE audit_head SET seq = :s, hash = :h, mac = :m WHERE id = 1"),
        {"s": seq, "h": last, "m": mac},
    )


def test_an_upgraded_log_is_chain_0_and_verifies_clean(backend, tmp_path, worker_id) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import PG_URL, _make_pg

    schema = None
    if backend.name == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'chains.db'}")
    else:
        engine, schema = _make_pg(f"{worker_id}_0027")
    try:
        runner.upgrade(engine, "0026")
        written = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)
        with engine.begin() as conn:
            _old_append(conn, 5, written)
            old_head = conn.execute(text("SELECT seq, hash, mac FROM audit_head")).one()
        # A checkpoint taken before the upgrade: it names the single chain "audit_log".
        before = checkpoints.sign(old_head.seq, old_head.hash, written)
        assert before.chain == "audit_log"

        runner.upgrade(engine)
        factory = make_sessionmaker(engine)
        with engine.connect() as conn:
            heads = conn.execute(text("SELECT chain, seq, hash, mac FROM audit_head")).all()
            chains = conn.execute(text("SELECT DISTINCT chain FROM audit_log")).scalars().all()
        assert sorted(heads)[0] == (0, old_head.seq, old_head.hash, old_head.mac)
        assert [tuple(h) for h in sorted(heads)[1:]] == [
            (c, 0, GENESIS, "") for c in range(1, CHAINS)
        ]
        assert chains == [0]
        found = checkpoints.Found(checkpoints=[before])
        result = _check(factory, found=found)
        assert result.ok and not result.unanchored, result.findings
        assert [(a.chain, a.seq, a.held) for a in result.anchors] == [(0, 5, True)]

        # Written after the upgrade: chain 0 goes on where it was.
        with unit_of_work(factory) as session:
            session.connection().info[PREFERRED_CHAIN] = 0
            security_service.create_user(
                session,
                username="later",
                display_name="later",
                role=Role.AUDITOR,
                password="Quiet-harbour-lamp-2026",
            )
        result = _check(factory, found=found)
        assert result.ok, result.findings
        assert [(c.chain, c.head_seq) for c in result.used] == [(0, 6)]

        # Down while only chain 0 has entries: the single head is chain 0's.
        runner.downgrade(engine, "0026")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT id, seq FROM audit_head")).all() == [(1, 6)]
            assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar() == 6
        runner.upgrade(engine)
        assert _check(factory, found=found).ok
        # Once another chain has entries, down is refused, saying why.
        with unit_of_work(factory) as session:
            session.connection().info[PREFERRED_CHAIN] = 4
            security_service.set_email(session, username="later", email="l@example.org")
        with pytest.raises(RuntimeError, match="1 audit entries are in chains other than 0"):
            runner.downgrade(engine, "0026")
        assert runner.current_revision(engine) == runner.head_revision()
        assert _check(factory, found=found).ok
    finally:
        engine.dispose()
        if schema is not None:
            admin = make_engine(PG_URL or "")
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
