"""Verifying the chains and holding them against their checkpoints, taking checkpoints, and
reading and exporting the log for auditors."""

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
from riskdesk.models.audit import CHAINS, GENESIS, AuditEntry
from riskdesk.security import keys
from riskdesk.security.permissions import Permission
from riskdesk.security.service import Principal


@dataclass(frozen=True)
class Finding:
    """One break in a chain (or in the log as a whole: ``chain`` None)."""

    kind: str  # edited, inserted, deleted, replayed, head, checkpoint
    seq: int | None
    entry_id: int | None
    message: str
    chain: int | None = None


@dataclass(frozen=True)
class Anchor:
    """A head a chain was held against: its latest checkpoint, or one an operator gave."""

    seq: int
    hash: str
    source: str
    at: dt.datetime | None
    held: bool  # the chain has this entry, with this hash
    chain: int = 0


@dataclass
class ChainState:
    """One chain as verify found it."""

    chain: int
    entries: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    anchored: bool = False  # a checkpoint or an expected head was held against it

    @property
    def unanchored(self) -> bool:
        """The chain has entries but nothing outside the database vouched for its end."""
        return not self.anchored and (self.entries > 0 or self.head_seq > 0)


@dataclass
class Verification:
    """What `audit verify` found."""

    entries: int = 0
    chains: list[ChainState] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    anchors: list[Anchor] = field(default_factory=list)
    looked_in: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every chain is whole (as far as it goes: see ``unanchored``)."""
        return not self.findings

    @property
    def unanchored(self) -> bool:
        """True when a chain has entries but nothing outside the database vouched for its end:
        a cut-off tail (or, with its head reset, an emptied chain) cannot be ruled out."""
        return any(c.unanchored for c in self.chains)

    @property
    def used(self) -> list[ChainState]:
        """The chains that have entries (or a head past the start)."""
        return [c for c in self.chains if c.entries or c.head_seq]


def _mac_ok(entry: Any) -> bool:
    values = {name: getattr(entry, name) for name in repo.CHAINED}
    expected = keys.audit_mac(repo.canonical(entry.at, entry.prev_hash, values, entry.chain))
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
    """Walk every chain from its first entry; name every entry that was edited, inserted,
    deleted or replayed, and a head that does not match its chain's last entry; then hold each
    chain against its latest checkpoint in ``found`` and the heads in ``expect``.

    A chain, not the sequence numbers, is the truth: each entry's MAC covers its content, its
    chain and the previous entry's hash, so renumbering cannot hide an insertion or a deletion,
    nor moving an entry to another chain. Entries whose MAC fails are judged as a run, by the
    next entry that passes: if it links to the last good entry, the run was inserted;
    otherwise the run's entries were edited. An entry whose MAC passes but which does not link
    is a copy of another one (replayed) when another row of its chain has its hash, else the
    entries before it are missing.

    A chain cannot show its own end cut off; a checkpoint (or an expected head) can: the chain
    must hold its entry with its hash. Without one, rows that are only ever created together
    with an entry (users, sign-ins, tokens) still show a lost tail, or an emptied log: the
    newest of them must have an entry that records making it.
    """
    result = Verification()
    found = found or Found()
    result.looked_in = list(found.looked_in)
    heads = repo.heads(session)
    # The latest time of a genuine entry recording a row made in each of AUDITED_CREATIONS.
    made: dict[str, dt.datetime] = {}
    tail_named = False  # a finding already says that entries at the end of a chain are gone
    latest_each = found.latest_each()
    for chain in range(CHAINS):
        latest = latest_each.get(chain)
        targets: list[Checkpoint | Expected] = [*([latest] if latest else [])]
        targets += [e for e in expect if e.chain == chain]
        tail_named |= _verify_chain(session, chain, heads.get(chain), targets, result, made)
    for stray in repo.strays(session):
        result.entries += 1
        result.findings.append(
            Finding(
                "inserted",
                stray.seq,
                stray.id,
                f"entry {stray.seq} (id {stray.id}) is in chain {stray.chain}, which the log "
                "does not have: it was inserted",
                stray.chain,
            )
        )
    for bad in found.bad:
        result.findings.append(Finding("checkpoint", None, None, f"{bad.source} {bad.reason}"))
    if not tail_named:
        _written_after(session, result, made)
    return result


def _verify_chain(
    session: Session,
    chain: int,
    head: Any | None,
    targets: list[Checkpoint | Expected],
    result: Verification,
    made: dict[str, dt.datetime],
) -> bool:
    """Walk one chain (see :func:`verify`) into ``result``; True when a finding says that
    entries at its end are gone."""
    state = ChainState(chain)
    result.chains.append(state)
    wanted = {t.seq for t in targets}
    hash_at: dict[int, str] = {}
    head_seq = head.seq if head is not None else None
    good_hash, last_seq, chain_seq = GENESIS, 0, 0  # last linked entry; last number accounted
    run: list[Any] = []  # consecutive entries whose MAC fails, not yet judged
    renumbered = replayed = False

    def add(kind: str, seq: int | None, entry_id: int | None, message: str) -> None:
        result.findings.append(Finding(kind, seq, entry_id, f"chain {chain}: {message}", chain))

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

    for entry in repo.stream_raw(session, chain):
        state.entries += 1
        if entry.seq in wanted:
            hash_at.setdefault(entry.seq, entry.hash)
        if not _mac_ok(entry):
            run.append(entry)
            continue
        _note_made(entry, made)
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
    if run:
        judge(None)
    result.entries += state.entries

    tail_named = False
    if head is None:
        add("head", None, None, "the head row is missing")
    else:
        state.head_seq, state.head_hash = head.seq, head.hash
        empty_head = head.seq == 0 and head.hash == GENESIS and not head.mac
        expected_mac = repo.head_mac(chain, head.seq, head.hash)
        if not empty_head and not hmac.compare_digest(head.mac, expected_mac):
            add("head", head.seq, None, "the head row was edited")
        elif empty_head and chain_seq:  # (entries that were only ever inserted are named)
            add("head", 0, None, "the head was reset to empty while the chain has entries")
        elif head.hash != good_hash:
            add(
                "deleted",
                chain_seq + 1,
                None,
                f"{_span(chain_seq + 1, head.seq)} deleted (the tail)",
            )
            tail_named = True
        elif head.seq != chain_seq and not (renumbered or replayed):
            add(
                "head", head.seq, None, f"the head counts {head.seq} entries, the chain {chain_seq}"
            )

    for target in targets:
        got = hash_at.get(target.seq)
        at = target.at if isinstance(target, Checkpoint) else None
        state.anchored = True
        result.anchors.append(
            Anchor(target.seq, target.hash, target.source, at, got == target.hash, chain)
        )
        if got == target.hash:
            continue
        who = _vouching(target)
        if got is None and target.seq > last_seq:
            first = last_seq + 1
            if state.entries == 0:
                why = (
                    f"the chain is empty, but {who} vouches for entry {target.seq}: it was emptied"
                )
            else:
                why = (
                    f"the chain ends at entry {last_seq}, but {who} vouches for entry "
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
                f"{target.hash[:16]}…, the chain's {got[:16]}…): the log was rewritten",
            )
    return tail_named


def _note_made(entry: Any, made: dict[str, dt.datetime]) -> None:
    """Keep the time of a genuine entry that records making a row of AUDITED_CREATIONS."""
    detail = entry.detail if isinstance(entry.detail, dict) else {}
    for change in detail.get("changes", ()):
        if not isinstance(change, dict) or change.get("op") != "insert":
            continue
        table = change.get("table")
        if table in repo.AUDITED_TABLES and (table not in made or entry.at > made[table]):
            made[table] = entry.at


def _replay(session: Session, entry: Any) -> tuple[int, int, int] | None:
    """(copy's seq, copy's id, original's seq) when another row of the chain has this entry's
    hash: the MAC does not cover the number, so a row copied in again passes it. The row
    inserted later (the higher id) is the copy."""
    others = repo.copies_of(session, entry)
    if not others:
        return None
    first = others[0]
    if first.id < entry.id:
        return entry.seq, entry.id, first.seq
    return first.seq, first.id, entry.seq


def _written_after(session: Session, result: Verification, made: dict[str, dt.datetime]) -> None:
    """Name a lost tail that only the other tables show: the newest row of a kind that is only
    made with an entry, whose entry is gone (in whichever chain it was)."""
    for what, table, count, latest in repo.latest_creations(session):
        if not count or latest is None:
            continue
        if result.entries == 0:
            rows = f"{count} {what}s exist" if count > 1 else f"1 {what} exists"
            result.findings.append(
                Finding(
                    "deleted",
                    1,
                    None,
                    f"the log is empty (every head at the start), yet {rows}, and making one "
                    "writes an entry: the log was emptied",
                )
            )
            return
        # The row and its entry are stamped by one clock, the row first: no slack needed.
        recorded = made.get(table)
        if recorded is None or latest > recorded:
            last = (
                f"the last entry that records making one is of {recorded:%Y-%m-%d %H:%M:%S} UTC"
                if recorded is not None
                else "no entry records making one"
            )
            result.findings.append(
                Finding(
                    "deleted",
                    None,
                    None,
                    f"entries deleted from the end of a chain: the newest {what} was created "
                    f"{latest:%Y-%m-%d %H:%M:%S} UTC, but {last}, and making one writes an "
                    "entry",
                )
            )
            return


# ---------------------------------------------------------------- checkpoints


class CheckpointRefused(RuntimeError):
    """A chain does not hold what its last checkpoint vouches for, or is not whole since: no
    checkpoint is signed over it (that would vouch for the damage). ``result`` says what was
    done for the other chains."""

    def __init__(self, message: str, result: CheckpointResult | None = None) -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class CheckpointResult:
    """What taking a checkpoint did."""

    outcome: str  # written (for some chain), unchanged (every head where its last one says), empty
    checkpoints: list[Checkpoint]  # written now; unchanged: the latest of each chain in use
    previous: dict[int, Checkpoint]  # each chain's latest before
    written_to: list[str] = field(default_factory=list)


def take_checkpoint(
    session: Session, settings: Settings, *, now: dt.datetime | None = None
) -> CheckpointResult:
    """Sign every chain's head as committed now, where it moved since the chain's last
    checkpoint, and append them to the checkpoint files (and the log).

    The head rows are read, not locked: writers never wait. Each chain's entries since its
    previous checkpoint (all of them, the first time) are checked first: a checkpoint vouches
    that the chain up to it was whole when it was taken. A chain that fails gets none, the
    others theirs; then CheckpointRefused names the failures.
    """
    heads = repo.heads(session)
    paths = settings.audit_checkpoint_paths()
    used = {chain for chain, head in heads.items() if head.seq}
    previous = checkpoints.latest_each(paths, used)
    taken_at = now or utcnow()
    refused: list[str] = []
    fresh: list[Checkpoint] = []
    unchanged: list[Checkpoint] = []
    for chain in range(CHAINS):
        head, before = heads.get(chain), previous.get(chain)
        try:
            if head is None:
                raise CheckpointRefused("its head row is missing")
            seq, digest, mac = head.seq, head.hash, head.mac
            start_seq, start_hash = _previous_stretch(session, chain, seq, before)
            if seq == 0:
                continue
            if not hmac.compare_digest(mac, repo.head_mac(chain, seq, digest)):
                raise CheckpointRefused("its head row was edited")
            _check_stretch(session, chain, start_seq, start_hash, seq, digest)
        except CheckpointRefused as exc:
            refused.append(f"chain {chain}: {exc}")
            continue
        if before is not None and (before.seq, before.hash) == (seq, digest):
            unchanged.append(before)
        else:
            fresh.append(checkpoints.sign(seq, digest, taken_at, chain))
    written = checkpoints.write(fresh, settings) if fresh else []
    if fresh:
        done = CheckpointResult("written", fresh, previous, written)
    elif unchanged:
        done = CheckpointResult("unchanged", unchanged, previous)
    else:
        done = CheckpointResult("empty", [], previous)
    if refused:
        raise CheckpointRefused(
            "; ".join(refused) + "; run `riskdesk audit verify`", done if fresh else None
        )
    return done


def _previous_stretch(
    session: Session, chain: int, seq: int, before: Checkpoint | None
) -> tuple[int, str]:
    """Where the check of a chain starts: its last checkpoint's entry, which it must still
    hold, and which its head must not be behind (else CheckpointRefused)."""
    if before is None:
        return 0, GENESIS
    there = repo.entry_at(session, chain, before.seq)
    if there is None or there.hash != before.hash:
        raise CheckpointRefused(
            f"the log no longer holds entry {before.seq} as {_vouching(before)} saw it: "
            "entries were deleted or rewritten"
        )
    if seq < before.seq:
        raise CheckpointRefused(
            f"the head is at entry {seq}, but {_vouching(before)} vouches for entry "
            f"{before.seq}: the head was set back"
        )
    return before.seq, before.hash


def _check_stretch(
    session: Session, chain: int, after: int, start_hash: str, upto: int, digest: str
) -> None:
    """The chain's entries after ``after`` up to ``upto`` follow on one another from
    ``start_hash`` and end at ``digest``; CheckpointRefused naming the first that does not."""
    expected_seq, link = after + 1, start_hash
    for entry in repo.stream_raw(session, chain, after=after, upto=upto):
        if entry.seq != expected_seq or entry.prev_hash != link or not _mac_ok(entry):
            raise CheckpointRefused(
                f"the chain breaks at entry {entry.seq} (after entry {expected_seq - 1})"
            )
        expected_seq, link = entry.seq + 1, entry.hash
    if expected_seq != upto + 1 or link != digest:
        raise CheckpointRefused(
            f"the chain ends at entry {expected_seq - 1}, not at the head's entry {upto}"
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


# The chain last: files read by position before 0027 still find every column where it was.
EXPORT_COLUMNS = (
    "seq", "at", "actor", "actor_id", "channel", "ip", "action", "request",
    "object_type", "object_id", "detail", "prev_hash", "hash", "chain",
)  # fmt: skip


def _row(entry: AuditEntry) -> dict[str, object]:
    row = {name: getattr(entry, name) for name in EXPORT_COLUMNS}
    row["at"] = entry.at.isoformat()
    return row


def export(
    session: Session, principal: Principal, flt: repo.AuditFilter, fmt: str
) -> Iterator[str]:
    """The matching entries as CSV or JSON lines, oldest first (by time written, then id);
    the export is itself logged."""
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
