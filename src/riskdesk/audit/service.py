"""Verifying the chain, and reading and exporting the log for auditors."""

from __future__ import annotations

import csv
import hmac
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from riskdesk.audit import repository as repo
from riskdesk.audit import trail
from riskdesk.kit.errors import PermissionDenied
from riskdesk.kit.pagination import PageParams
from riskdesk.models.audit import GENESIS, AuditEntry
from riskdesk.security import keys
from riskdesk.security.permissions import Permission
from riskdesk.security.service import Principal


@dataclass(frozen=True)
class Finding:
    """One break in the chain."""

    kind: str  # edited, inserted, deleted, head
    seq: int | None
    entry_id: int | None
    message: str


@dataclass
class Verification:
    """What `audit verify` found."""

    entries: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the chain is whole."""
        return not self.findings


def _mac_ok(entry: AuditEntry) -> bool:
    values = {name: getattr(entry, name) for name in repo.CHAINED}
    expected = keys.audit_mac(repo.canonical(entry.at, entry.prev_hash, values))
    return hmac.compare_digest(expected, entry.hash)


def verify(session: Session) -> Verification:
    """Walk the chain from the first entry; name every entry that was edited, inserted or
    deleted, and a head that does not match the last entry.

    The chain, not the sequence numbers, is the truth: each entry's MAC covers its content and
    the previous entry's hash, so renumbering cannot hide an insertion or a deletion. Entries
    whose MAC fails are judged as a run, by the next entry that passes: if it links to the
    last good entry, the run was inserted; otherwise the run's entries were edited.
    """
    result = Verification()
    head = repo.head(session)
    head_seq = head.seq if head is not None else None
    good_hash, last_seq = GENESIS, 0
    run: list[Any] = []  # consecutive entries whose MAC fails, not yet judged
    renumbered = False

    def add(kind: str, seq: int | None, entry_id: int | None, message: str) -> None:
        result.findings.append(Finding(kind, seq, entry_id, message))

    def gap(seq: int) -> None:
        first, last = last_seq + 1, seq - 1
        span = f"entry {first}" if first == last else f"entries {first}-{last}"
        add("deleted", first, None, f"{span} deleted")

    def judge(successor: Any | None) -> None:
        nonlocal good_hash, last_seq
        inserted = successor is not None and successor.prev_hash == good_hash
        for bad in run:
            if inserted or bad.seq <= last_seq or (head_seq is not None and bad.seq > head_seq):
                add("inserted", bad.seq, bad.id, f"entry {bad.seq} (id {bad.id}) was inserted")
                continue
            if bad.seq > last_seq + 1:
                gap(bad.seq)
            add("edited", bad.seq, bad.id, f"entry {bad.seq} (id {bad.id}) was edited")
            good_hash, last_seq = bad.hash, bad.seq
        run.clear()

    for entry in repo.stream_raw(session):
        result.entries += 1
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
            if entry.seq > last_seq + 1:
                gap(entry.seq)
            elif not edited_before:
                renumbered = True
                add("deleted", entry.seq, None,
                    f"entries before {entry.seq} were deleted and the rest renumbered")  # fmt: skip
        good_hash, last_seq = entry.hash, entry.seq
    if run:
        judge(None)
    if head is None:
        add("head", None, None, "the head row is missing")
        return result
    result.head_seq, result.head_hash = head.seq, head.hash
    empty_head = head.seq == 0 and head.hash == GENESIS and not head.mac
    if not empty_head and not hmac.compare_digest(head.mac, repo.head_mac(head.seq, head.hash)):
        add("head", head.seq, None, "the head row was edited")
    elif empty_head and result.entries:
        add("head", 0, None, "the head was reset to empty while the log has entries")
    elif head.hash != good_hash:
        first = last_seq + 1
        span = f"entry {first}" if first >= head.seq else f"entries {first}-{head.seq}"
        add("deleted", first, None, f"{span} deleted (the tail)")
    elif head.seq != last_seq and not renumbered:
        add("head", head.seq, None, f"the head counts {head.seq} entries, the log {last_seq}")
    return result


# ---------------------------------------------------------------- reading and exporting


def _require(principal: Principal) -> None:
    if not principal.can(Permission.AUDIT_READ):
        raise PermissionDenied("reading the audit log needs 'audit:read'")


def verify_for(session: Session, principal: Principal) -> Verification:
    """:func:`verify`, for an auditor."""
    _require(principal)
    return verify(session)


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
