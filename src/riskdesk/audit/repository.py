"""SQL for the audit log: appending under the head's lock, searching, streaming."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from riskdesk.kit.pagination import PageParams
from riskdesk.kit.timeutil import utcnow
from riskdesk.models.audit import GENESIS, AuditEntry, AuditHead
from riskdesk.models.security import ApiToken, User, UserSession
from riskdesk.security import keys

CHAINED = (
    "actor_id",
    "actor",
    "channel",
    "ip",
    "action",
    "request",
    "object_type",
    "object_id",
    "detail",
)


def canonical(at: dt.datetime, prev_hash: str, entry: dict[str, Any]) -> bytes:
    """The bytes an entry's hash covers: its content and the previous hash, in a fixed form
    (not the sequence number: the chain orders the entries)."""
    body = {"at": at.astimezone(dt.UTC).isoformat(), "prev": prev_hash}
    body.update({name: entry[name] for name in CHAINED})
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def head_mac(seq: int, last_hash: str) -> str:
    """The head's own MAC, so rolling it back to hide a cut-off tail is noticed."""
    return keys.audit_mac(f"head:{seq}:{last_hash}".encode())


_ENTRIES = cast(Table, AuditEntry.__table__)
_HEAD = cast(Table, AuditHead.__table__)
_INSERT = insert(_ENTRIES)
_UPDATE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == 1)
    .values(seq=bindparam("seq"), hash=bindparam("hash"), mac=bindparam("mac"))
)


class AuditHeadMissing(RuntimeError):
    """The audit head row is gone: the log was tampered with, and nothing more is written."""


def append(session: Session, entries: list[dict[str, Any]]) -> None:
    """Chain and insert entries after the current head (which stays locked until commit)."""
    if not entries:
        return
    found = session.execute(
        select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1).with_for_update()
    ).one_or_none()
    if found is None:
        raise AuditHeadMissing("the audit log's head row is missing; run `riskdesk audit verify`")
    seq, last = found
    now = utcnow()
    rows = []
    for entry in entries:
        seq += 1
        digest = keys.audit_mac(canonical(now, last, entry))
        rows.append({**entry, "seq": seq, "at": now, "prev_hash": last, "hash": digest})
        last = digest
    # Core statements on the session's connection: the ORM's bulk path costs more than the
    # insert itself for the one or two rows of a typical transaction.
    conn = session.connection()
    conn.execute(_INSERT, rows)
    conn.execute(_UPDATE_HEAD, {"seq": seq, "hash": last, "mac": head_mac(seq, last)})


@dataclass(frozen=True)
class AuditFilter:
    """What an auditor narrows the log to."""

    actor: str | None = None
    action: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    channel: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    request: str | None = None


def _filtered(flt: AuditFilter) -> Select[Any]:
    stmt = select(AuditEntry)
    if flt.actor:
        stmt = stmt.where(AuditEntry.actor == flt.actor)
    if flt.action:
        stmt = stmt.where(AuditEntry.action == flt.action)
    if flt.object_type:
        stmt = stmt.where(AuditEntry.object_type == flt.object_type)
    if flt.object_id:
        stmt = stmt.where(AuditEntry.object_id == flt.object_id)
    if flt.channel:
        stmt = stmt.where(AuditEntry.channel == flt.channel)
    if flt.since:
        stmt = stmt.where(AuditEntry.at >= flt.since)
    if flt.until:
        stmt = stmt.where(AuditEntry.at < flt.until)
    if flt.request:
        text = flt.request.replace("%", "").replace("_", "")
        stmt = stmt.where(AuditEntry.request.ilike(f"%{text}%"))
    return stmt


def search(session: Session, flt: AuditFilter, page: PageParams) -> tuple[list[AuditEntry], int]:
    """A page of entries, newest first, and how many match."""
    stmt = _filtered(flt)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.order_by(AuditEntry.seq.desc()).offset(page.offset).limit(page.size)
    )
    return list(rows), total


def stream(
    session: Session, flt: AuditFilter | None = None, *, batch: int = 2000
) -> Iterator[AuditEntry]:
    """Entries in chain order, read in batches (the log may be large)."""
    base = _filtered(flt or AuditFilter())
    after: int | None = None
    while True:
        stmt = base if after is None else base.where(AuditEntry.seq > after)
        rows = list(session.scalars(stmt.order_by(AuditEntry.seq, AuditEntry.id).limit(batch)))
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].seq


def stream_raw(
    session: Session, *, after: int | None = None, upto: int | None = None, batch: int = 5000
) -> Iterator[Any]:
    """Entries as plain rows (no ORM objects: a chain may be millions long), ordered by
    sequence then id (duplicates included), for verification; those after ``after`` up to
    ``upto`` when given."""
    last: tuple[int, int] | None = None
    c = _ENTRIES.c
    while True:
        stmt = select(_ENTRIES)
        if after is not None:
            stmt = stmt.where(c.seq > after)
        if upto is not None:
            stmt = stmt.where(c.seq <= upto)
        if last is not None:
            stmt = stmt.where((c.seq > last[0]) | ((c.seq == last[0]) & (c.id > last[1])))
        rows = list(session.execute(stmt.order_by(c.seq, c.id).limit(batch)))
        yield from rows
        if len(rows) < batch:
            return
        last = (rows[-1].seq, rows[-1].id)


def head(session: Session) -> AuditHead | None:
    """The head row."""
    return session.get(AuditHead, 1)


def head_now(session: Session) -> Any | None:
    """The head as committed (seq, hash, mac), read without locking it: taking a checkpoint
    must not make a writer wait."""
    return session.execute(
        select(_HEAD.c.seq, _HEAD.c.hash, _HEAD.c.mac).where(_HEAD.c.id == 1)
    ).one_or_none()


def entry_at(session: Session, seq: int) -> Any | None:
    """The entry with this sequence number, as a plain row."""
    return session.execute(select(_ENTRIES).where(_ENTRIES.c.seq == seq)).one_or_none()


def copies_of(session: Session, entry: Any) -> list[Any]:
    """Other entries (seq, id) with this entry's hash: copies of one entry. A copy has the
    same time (the MAC covers it), so the time's index finds them without a scan."""
    c = _ENTRIES.c
    return list(
        session.execute(
            select(c.seq, c.id)
            .where(c.at == entry.at, c.hash == entry.hash, c.id != entry.id)
            .order_by(c.id)
        )
    )


# Rows that only a write through Riskdesk creates, and so only with an audit entry in the same
# transaction, stamped no earlier than the row: (what, table, time column).
AUDITED_CREATIONS = (
    ("user account", User.__table__, "created_at"),
    ("sign-in session", UserSession.__table__, "created_at"),
    ("API token", ApiToken.__table__, "created_at"),
)


def latest_creations(session: Session) -> list[tuple[str, int, dt.datetime | None]]:
    """For each kind of row in AUDITED_CREATIONS: (what, how many, the latest one's time)."""
    found = []
    for what, table, column in AUDITED_CREATIONS:
        t = cast(Table, table)
        count, latest = session.execute(
            select(func.count(), func.max(t.c[column])).select_from(t)
        ).one()
        found.append((what, int(count or 0), latest))
    return found


__all__ = ["GENESIS", "AuditFilter", "append", "canonical", "head", "search", "stream"]
