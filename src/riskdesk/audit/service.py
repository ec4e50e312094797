"""Verifying the chain and holding it against its checkpoints, taking checkpoints, and reading
and exporting the log for auditors."""

from __future__ import annotations

import csv
import datetime as dt
import hmac
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from riskdesk.audit import checkpoints, trail
from riskdesk.audit import repository as repo
from riskdesk.audit.checkpoints import Checkpoint, Expected, Found
from riskdesk.config import Settings
from riskdesk.kit.errors import PermissionDenied
from riskdesk.kit.pagination import PageParams
from riskdesk.kit.timeutil import utcnow
from riskdesk.models.audit import GENESIS, AuditEntry
from riskdesk.security import keys
from riskdesk.security.permissions import Permission
from riskdesk.security.service import Principal


@dataclass(frozen=True)
class Finding:
    """One break in the chain."""

    kind: str  # edited, inserted, deleted, replayed, head, checkpoint
    seq: int | None
    entry_id: int | None
    message: str


@dataclass(frozen=True)
class Anchor:
    """A head the chain was held against: the latest checkpoint, or one an operator gave."""

    seq: int
    hash: str
    source: str
    at: dt.datetime | None
    held: bool  # the chain has this entry, with this hash


@dataclass
class Verification:
    """What `audit verify` found."""

    entries: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    findings: list[Finding] = field(default_factory=list)
    anchors: list[Anchor] = field(default_factory=list)
    looked_in: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the chain is whole (as far as it goes: see ``unanchored``)."""
        return not self.findings

    @property
    def unanchored(self) -> bool:
        """True when the log has entries but nothing outside the database vouched for its end:
        a cut-off tail (or, with the head reset, an emptied log) cannot be ruled out."""
        return not self.anchors and (self.entries > 0 or self.head_seq > 0)


def _mac_ok(entry: Any) -> bool:
    values = {name: getattr(entry, name) for name in repo.CHAINED}
    expected = keys.audit_mac(repo.canonical(entry.at, entry.prev_hash, values))
    return hmac.compare_digest(expected, entry.hash)


def _span(first: int, last: int) -> str:
    return f"entry {first}" if first >= last else f"entries {first}-{last}"


def _vouching(anchor: Checkpoint | Expected) -> str:
    if isinstance(anchor, Checkpoint):
        return f"the checkpoint of {anchor.at:%Y-%m-%d %H:%M:%S} UTC ({anchor.source})"
    return f"the head you expect ({anchor.source})"


def verify(
    session: Session, *, found: Found | None = None, expect: Sequence[Expected] = ()
) -> Verification:
    """Walk the chain from the first entry; name every entry that was edited, inserted,
    deleted or replayed, and a head that does not match the last entry; then hold the chain
    against the latest checkpoint in ``found`` and the heads in ``expect``.

    The chain, not the sequence numbers, is the truth: each entry's MAC covers its content and
    the previous entry's hash, so renumbering cannot hide an insertion or a deletion. Entries
    whose MAC fails are judged as a run, by the next entry that passes: if it links to the
    last good entry, the run was inserted; otherwise the run's entries were edited. An entry
    whose MAC passes but which does not link is a copy of another one (replayed) when another
    row has its hash, else the entries before it are missing.

    The chain cannot show its own end cut off; a checkpoint (or an expected head) can: the
    chain must hold its entry with its hash. Without one, rows that are only ever created
    together with an entry (users, sign-ins, tokens), created after the last entry, still show
    a lost tail, or an emptied log.
    """
    result = Verification()
    found = found or Found()
    result.looked_in = list(found.looked_in)
    latest = found.latest()
    targets: list[Checkpoint | Expected] = [*([latest] if latest else []), *expect]
    wanted = {t.seq for t in targets}
    hash_at: dict[int, str] = {}
    head = repo.head(session)
    head_seq = head.seq if head is not None else None
    good_hash, last_seq, chain_seq = GENESIS, 0, 0  # last linked entry; last number accounted
    # The latest time among linked entries whose MAC holds (the latest, not the last: a clock
    # set back must not make older rows look newer than the log).
    last_at: dt.datetime | None = None
    run: list[Any] = []  # consecutive entries whose MAC fails, not yet judged
    renumbered = replayed = False

    def add(kind: str, seq: int | None, entry_id: int | None, message: str) -> None:
        result.findings.append(Finding(kind, seq, entry_id, message))

    def gap(seq: int) -> None:
        add("deleted", last_seq + 1, None, f"{_span(last_seq + 1, seq - 1)} deleted")

    def judge(successor: Any | None) -> None:
        nonlocal good_hash, last_seq, chain_seq
        inserted = successor is not None and successor.prev_hash == good_hash
        for bad in run:
            if inserted or bad.seq <= last_seq or (head_seq is not None and bad.seq > head_seq):
                add("inserted", bad.seq, bad.id, f"entry {bad.seq} (id {bad.id}) was inserted")
                continue
            if bad.seq > last_seq + 1:
                gap(bad.seq)
            add("edited", bad.seq, bad.id, f"entry {bad.seq} (id {bad.id}) was edited")
            good_hash, last_seq, chain_seq = bad.hash, bad.seq, bad.seq
        run.clear()

    for entry in repo.stream_raw(session):
        result.entries += 1
        if entry.seq in wanted:
            hash_at.setdefault(entry.seq, entry.hash)
        if not _mac_ok(entry):
            run.append(entry)
            continue
        edited_before = bool(run) and entry.prev_hash != good_hash
        if run:
            judge(entry)
        if entry.seq <= last_seq:
            add("inserted", entry.seq, entry.id, f"entry {entry.seq} repeats a sequence number")
            continue
        if entry.prev_hash != good_hash:
            copy = _replay(session, entry)
            if copy is not None:
                add(
                    "replayed",
                    copy[0],
                    copy[1],
                    f"entry {copy[0]} (id {copy[1]}) is a copy of entry {copy[2]}: replayed",
                )
                replayed, last_seq = True, entry.seq  # takes a number, not a place in the chain
                continue
            if entry.seq > last_seq + 1:
                gap(entry.seq)
            elif not edited_before:
                renumbered = True
                add(
                    "deleted",
                    entry.seq,
                    None,
                    f"entries before {entry.seq} were deleted and the rest renumbered",
                )
        good_hash, last_seq, chain_seq = entry.hash, entry.seq, entry.seq
        last_at = entry.at if last_at is None else max(last_at, entry.at)
    if run:
        judge(None)

    tail_named = False  # a finding already says that entries at the end are gone
    if head is None:
        add("head", None, None, "the head row is missing")
    else:
        result.head_seq, result.head_hash = head.seq, head.hash
        empty_head = head.seq == 0 and head.hash == GENESIS and not head.mac
        if not empty_head and not hmac.compare_digest(head.mac, repo.head_mac(head.seq, head.hash)):
            add("head", head.seq, None, "the head row was edited")
        elif empty_head and result.entries:
            add("head", 0, None, "the head was reset to empty while the log has entries")
        elif head.hash != good_hash:
            add(
                "deleted",
                chain_seq + 1,
                None,
                f"{_span(chain_seq + 1, head.seq)} deleted (the tail)",
            )
            tail_named = True
        elif head.seq != chain_seq and not (renumbered or replayed):
            add("head", head.seq, None, f"the head counts {head.seq} entries, the log {chain_seq}")

    for target in targets:
        got = hash_at.get(target.seq)
        at = target.at if isinstance(target, Checkpoint) else None
        result.anchors.append(
            Anchor(target.seq, target.hash, target.source, at, got == target.hash)
        )
        if got == target.hash:
            continue
        who = _vouching(target)
        if got is None and target.seq > last_seq:
            first = last_seq + 1
            if result.entries == 0:
                why = f"the log is empty, but {who} vouches for entry {target.seq}: it was emptied"
            else:
                why = (
                    f"the log ends at entry {last_seq}, but {who} vouches for entry "
                    f"{target.seq}: the tail was cut off (or the log restored from an "
                    "older backup)"
                )
            add("deleted", first, None, f"{_span(first, target.seq)} deleted: {why}")
            tail_named = True
        elif got is None:
            add(
                "deleted",
                target.seq,
                None,
                f"entry {target.seq}, which {who} vouches for, is missing",
            )
        else:
            add(
                "checkpoint",
                target.seq,
                None,
                f"entry {target.seq} is not the one {who} vouches for (hash "
                f"{target.hash[:16]}…, the log's {got[:16]}…): the log was rewritten",
            )
    for bad in found.bad:
        add("checkpoint", None, None, f"{bad.source} {bad.reason}")

    if not tail_named:
        _written_after(session, result, last_at, chain_seq, add)
    return result


def _replay(session: Session, entry: Any) -> tuple[int, int, int] | None:
    """(copy's seq, copy's id, original's seq) when another row has this entry's hash: the
    MAC does not cover the number, so a row copied in again passes it. The row inserted later
    (the higher id) is the copy."""
    others = repo.copies_of(session, entry)
    if not others:
        return None
    first = others[0]
    if first.id < entry.id:
        return entry.seq, entry.id, first.seq
    return first.seq, first.id, entry.seq


def _written_after(
    session: Session, result: Verification, last_at: dt.datetime | None, chain_seq: int, add: Any
) -> None:
    """Name a lost tail that only the other tables show: a row created (with an entry of its
    own) after the last entry there is."""
    for what, count, latest in repo.latest_creations(session):
        if not count or latest is None:
            continue
        if last_at is None and result.entries == 0:
            rows = f"{count} {what}s exist" if count > 1 else f"1 {what} exists"
            add(
                "deleted",
                1,
                None,
                f"the log is empty (its head at the start), yet {rows}, and making one "
                "writes an entry: the log was emptied",
            )
            return
        # The row and its entry are stamped by one clock, the row first: no slack needed.
        if last_at is not None and latest > last_at:
            add(
                "deleted",
                chain_seq + 1,
                None,
                f"entries after {chain_seq} deleted: the newest {what} (created "
                f"{latest:%Y-%m-%d %H:%M:%S} UTC) is newer than the newest entry "
                f"({last_at:%Y-%m-%d %H:%M:%S} UTC), and making one writes an entry",
            )
            return


# ---------------------------------------------------------------- checkpoints


class CheckpointRefused(RuntimeError):
    """The log does not hold what the last checkpoint vouches for, or is not whole since: no
    checkpoint is signed over it (that would vouch for the damage)."""


@dataclass(frozen=True)
class CheckpointResult:
    """What taking a checkpoint did."""

    outcome: str  # written, unchanged (the head is where the last one says), empty (no entries)
    checkpoint: Checkpoint | None
    previous: Checkpoint | None
    written_to: list[str] = field(default_factory=list)


def take_checkpoint(
    session: Session, settings: Settings, *, now: dt.datetime | None = None
) -> CheckpointResult:
    """Sign the head as committed now and append it to the checkpoint files (and the log).

    The head row is read, not locked: writers never wait. The entries since the previous
    checkpoint (all of them, the first time) are checked first: a checkpoint vouches that the
    chain up to it was whole when it was taken.
    """
    previous = checkpoints.latest(settings.audit_checkpoint_paths())
    head = repo.head_now(session)
    if head is None:
        raise CheckpointRefused("the audit log's head row is missing; run `riskdesk audit verify`")
    seq, digest, mac = head
    start_seq, start_hash = 0, GENESIS
    if previous is not None:
        there = repo.entry_at(session, previous.seq)
        if there is None or there.hash != previous.hash:
            raise CheckpointRefused(
                f"the log no longer holds entry {previous.seq} as {_vouching(previous)} "
                "saw it: entries were deleted or rewritten; run `riskdesk audit verify`"
            )
        if seq < previous.seq:
            raise CheckpointRefused(
                f"the head is at entry {seq}, but {_vouching(previous)} vouches for entry "
                f"{previous.seq}: the head was set back; run `riskdesk audit verify`"
            )
        start_seq, start_hash = previous.seq, previous.hash
    if seq == 0:
        return CheckpointResult("empty", None, previous)
    if not hmac.compare_digest(mac, repo.head_mac(seq, digest)):
        raise CheckpointRefused("the audit log's head row was edited; run `riskdesk audit verify`")
    _check_stretch(session, start_seq, start_hash, seq, digest)
    if previous is not None and (previous.seq, previous.hash) == (seq, digest):
        return CheckpointResult("unchanged", previous, previous)
    taken = checkpoints.sign(seq, digest, now or utcnow())
    return CheckpointResult("written", taken, previous, checkpoints.write(taken, settings))


def _check_stretch(session: Session, after: int, start_hash: str, upto: int, digest: str) -> None:
    """The entries after ``after`` up to ``upto`` follow on one another from ``start_hash``
    and end at ``digest``; CheckpointRefused naming the first that does not."""
    expected_seq, link = after + 1, start_hash
    for entry in repo.stream_raw(session, after=after, upto=upto):
        if entry.seq != expected_seq or entry.prev_hash != link or not _mac_ok(entry):
            raise CheckpointRefused(
                f"the chain breaks at entry {entry.seq} (after entry {expected_seq - 1}); "
                "run `riskdesk audit verify`"
            )
        expected_seq, link = entry.seq + 1, entry.hash
    if expected_seq != upto + 1 or link != digest:
        raise CheckpointRefused(
            f"the chain ends at entry {expected_seq - 1}, not at the head's entry {upto}; "
            "run `riskdesk audit verify`"
        )


# ---------------------------------------------------------------- reading and exporting


def _require(principal: Principal) -> None:
    if not principal.can(Permission.AUDIT_READ):
        raise PermissionDenied("reading the audit log needs 'audit:read'")


def verify_for(session: Session, principal: Principal, settings: Settings) -> Verification:
    """:func:`verify` against the configured checkpoint files, for an auditor."""
    _require(principal)
    return verify(session, found=checkpoints.read(settings.audit_checkpoint_paths()))


def search(
    session: Session, principal: Principal, flt: repo.AuditFilter, page: PageParams
) -> tuple[list[AuditEntry], int]:
    """A page of the log, newest first."""
    _require(principal)
    return repo.search(session, flt, page)


EXPORT_COLUMNS = (
    "seq", "at", "actor", "actor_id", "channel", "ip", "action", "request",
    "object_type", "object_id", "detail", "prev_hash", "hash",
)  # fmt: skip


def _row(entry: AuditEntry) -> dict[str, object]:
    row = {name: getattr(entry, name) for name in EXPORT_COLUMNS}
    row["at"] = entry.at.isoformat()
    return row


def export(
    session: Session, principal: Principal, flt: repo.AuditFilter, fmt: str
) -> Iterator[str]:
    """The matching entries as CSV or JSON lines, oldest first; the export is itself logged."""
    _require(principal)
    trail.viewed(
        session,
        object_type="audit_log",
        object_id="export",
        fields=[f"{k}={v}" for k, v in vars(flt).items() if v is not None] or ["all"],
        action="export",
    )
    if fmt == "jsonl":
        for entry in repo.stream(session, flt):
            yield json.dumps(_row(entry), ensure_ascii=False, default=str) + "\n"
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    for entry in repo.stream(session, flt):
        row = _row(entry)
        row["detail"] = json.dumps(entry.detail, ensure_ascii=False, sort_keys=True)
        writer.writerow([_cell(row[c]) for c in EXPORT_COLUMNS])
        if buffer.tell() > 65536:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    # A cell starting like a formula would run in a spreadsheet (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
