"""SQL for the audit log: appending under a chain head's lock, searching, streaming."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from riskdesk.kit.pagination import PageParams
from riskdesk.kit.timeutil import utcnow
from riskdesk.models.audit import CHAINS, GENESIS, AuditEntry, AuditHead
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


def canonical(at: dt.datetime, prev_hash: str, entry: dict[str, Any], chain: int = 0) -> bytes:
    """The bytes an entry's hash covers: its content, the previous hash and its chain, in a
    fixed form (not the sequence number: the chain orders the entries).

    Chain 0 is the single chain of before 0027, whose entries were signed without a chain
    number: it keeps that form so they verify unchanged. Every other chain's entries cover
    theirs, so an entry moved to another chain fails its MAC.
    """
    body: dict[str, Any] = {"at": at.astimezone(dt.UTC).isoformat(), "prev": prev_hash}
    if chain:
        body["chain"] = chain
    body.update({name: entry[name] for name in CHAINED})
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def head_mac(chain: int, seq: int, last_hash: str) -> str:
    """A head's own MAC, so rolling it back to hide a cut-off tail is noticed (chain 0 in the
    form of before 0027, as in :func:`canonical`)."""
    message = f"head:{seq}:{last_hash}" if chain == 0 else f"head:{chain}:{seq}:{last_hash}"
    return keys.audit_mac(message.encode())


_ENTRIES = cast(Table, AuditEntry.__table__)
_HEAD = cast(Table, AuditHead.__table__)
_INSERT = insert(_ENTRIES)
_UPDATE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.chain == bindparam("head_chain"))
    .values(seq=bindparam("seq"), hash=bindparam("hash"), mac=bindparam("mac"))
)
# Connection info: the chain this database connection appends to when it is free.
PREFERRED_CHAIN = "riskdesk_audit_chain"
_ordinals: weakref.WeakKeyDictionary[Any, Iterator[int]] = weakref.WeakKeyDictionary()
_ordinals_lock = threading.Lock()


class AuditHeadMissing(RuntimeError):
    """No audit head row is left: the log was tampered with, and nothing more is written."""


def preferred_chain(conn: Connection) -> int:
    """The chain a connection appends to first: its pool's connections take 0, 1, 2, ... in
    the order they first append, and keep it (it lives in the connection's info).

    Why the connection: two transactions at once are always on two connections, whatever
    they change (many change no customer: a sign-in, a token, a setting; an import changes
    thousands), so numbering the connections of a pool gives the writers of one process
    different chains up to CHAINS of them, with no hash that could collide. Other processes
    (more server workers, the CLI) number theirs from 0 too; their collisions are resolved by
    :func:`append`, which skips a head another transaction holds.
    """
    chain = conn.info.get(PREFERRED_CHAIN)
    if chain is None:
        pool = conn.engine.pool
        with _ordinals_lock:
            counter = _ordinals.setdefault(pool, itertools.count())
            chain = next(counter) % CHAINS
        conn.info[PREFERRED_CHAIN] = chain
    return int(chain)


def _take_head(session: Session) -> tuple[int, int, str]:
    """Lock a chain's head until commit: (chain, seq, last hash).

    The connection's own chain when no other transaction holds it, else the next free one
    round the ring (PostgreSQL SKIP LOCKED): a writer waits only when every head is taken.
    SQLite has one writer at a time and no row locks; there the first head of the ring is it.
    """
    preferred = preferred_chain(session.connection())
    ring = (
        select(_HEAD.c.chain, _HEAD.c.seq, _HEAD.c.hash)
        .where(_HEAD.c.chain >= 0, _HEAD.c.chain < CHAINS)
        .order_by((_HEAD.c.chain + (CHAINS - preferred)) % CHAINS)
        .limit(1)
    )
    found = session.execute(ring.with_for_update(skip_locked=True)).one_or_none()
    if found is None:  # more writers than chains right now: queue for the first head
        found = session.execute(ring.with_for_update()).one_or_none()
    if found is None:
        raise AuditHeadMissing("the audit log's head rows are missing; run `riskdesk audit verify`")
    return int(found.chain), int(found.seq), str(found.hash)


def append(session: Session, entries: list[dict[str, Any]]) -> None:
    """Chain and insert entries after the head of a free chain (which stays locked until
    commit)."""
    if not entries:
        return
    chain, seq, last = _take_head(session)
    now = utcnow()
    rows = []
    for entry in entries:
        seq += 1
        digest = keys.audit_mac(canonical(now, last, entry, chain))
        rows.append(
            {**entry, "chain": chain, "seq": seq, "at": now, "prev_hash": last, "hash": digest}
        )
        last = digest
    # Core statements on the session's connection: the ORM's bulk path costs more than the
    # insert itself for the one or two rows of a typical transaction.
    conn = session.connection()
    conn.execute(_INSERT, rows)
    conn.execute(
        _UPDATE_HEAD,
        {"head_chain": chain, "seq": seq, "hash": last, "mac": head_mac(chain, seq, last)},
    )


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
    """A page of entries, newest first (by time written, then id: the chains interleave),
    and how many match."""
    stmt = _filtered(flt)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .offset(page.offset)
        .limit(page.size)
    )
    return list(rows), total


def stream(
    session: Session, flt: AuditFilter | None = None, *, batch: int = 2000
) -> Iterator[AuditEntry]:
    """Entries oldest first (by time written, then id), read in batches (the log may be
    large)."""
    base = _filtered(flt or AuditFilter())
    after: tuple[dt.datetime, int] | None = None
    while True:
        stmt = base
        if after is not None:
            at, last_id = after
            stmt = stmt.where(
                (AuditEntry.at > at) | ((AuditEntry.at == at) & (AuditEntry.id > last_id))
            )
        rows = list(session.scalars(stmt.order_by(AuditEntry.at, AuditEntry.id).limit(batch)))
        yield from rows
        if len(rows) < batch:
            return
        after = (rows[-1].at, rows[-1].id)


def stream_raw(
    session: Session,
    chain: int,
    *,
    after: int | None = None,
    upto: int | None = None,
    batch: int = 5000,
) -> Iterator[Any]:
    """A chain's entries as plain rows (no ORM objects: a chain may be millions long), ordered
    by sequence then id (duplicates included), for verification; those after ``after`` up to
    ``upto`` when given."""
    last: tuple[int, int] | None = None
    c = _ENTRIES.c
    while True:
        stmt = select(_ENTRIES).where(c.chain == chain)
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


def strays(session: Session) -> list[Any]:
    """Entries (chain, seq, id) whose chain is none of the log's: put there by hand."""
    c = _ENTRIES.c
    return list(
        session.execute(
            select(c.chain, c.seq, c.id)
            .where((c.chain < 0) | (c.chain >= CHAINS))
            .order_by(c.chain, c.seq, c.id)
        )
    )


def heads(session: Session) -> dict[int, Any]:
    """Every head as committed (chain, seq, hash, mac), by chain, read without locking: taking a
    checkpoint or verifying must not make a writer wait."""
    h = _HEAD.c
    rows = session.execute(select(h.chain, h.seq, h.hash, h.mac).order_by(h.chain))
    return {int(row.chain): row for row in rows}


def entry_at(session: Session, chain: int, seq: int) -> Any | None:
    """The entry of this chain with this sequence number, as a plain row."""
    c = _ENTRIES.c
    return session.execute(
        select(_ENTRIES).where(c.chain == chain, c.seq == seq).order_by(c.id).limit(1)
    ).one_or_none()


def copies_of(session: Session, entry: Any) -> list[Any]:
    """Other entries (seq, id) of the entry's chain with its hash: copies of one entry. A copy
    has the same time (the MAC covers it), so the time's index finds them without a scan."""
    c = _ENTRIES.c
    return list(
        session.execute(
            select(c.seq, c.id)
            .where(c.at == entry.at, c.hash == entry.hash, c.id != entry.id, c.chain == entry.chain)
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


AUDITED_TABLES = frozenset(cast(Table, table).name for _, table, _ in AUDITED_CREATIONS)


def latest_creations(session: Session) -> list[tuple[str, str, int, dt.datetime | None]]:
    """For each kind of row in AUDITED_CREATIONS: (what, its table, how many, the latest
    one's time)."""
    found = []
    for what, table, column in AUDITED_CREATIONS:
        t = cast(Table, table)
        count, latest = session.execute(
            select(func.count(), func.max(t.c[column])).select_from(t)
        ).one()
        found.append((what, t.name, int(count or 0), latest))
    return found


__all__ = ["CHAINS", "GENESIS", "AuditFilter", "append", "canonical", "heads", "search", "stream"]
