"""Refresh indicators for the customers an event touched, or for everyone in batch."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from riskdesk.customers import repository as customer_repo
from riskdesk.customers import service as customer_service
from riskdesk.customers.repository import CustomerFilter
from riskdesk.indicators import repository as repo
from riskdesk.indicators import state
from riskdesk.indicators.catalogue import AGEING_BUCKETS, CATALOGUE
from riskdesk.indicators.compute import (
    REFERENCE_COLUMNS,
    REFERENCE_POINTS,
    EventFrames,
    Reference,
    compute,
    receivables,
    summarise,
)
from riskdesk.indicators.schemas import IndicatorsRead, IndicatorValue
from riskdesk.kit import signals
from riskdesk.kit.timeutil import today, utcnow
from riskdesk.models import IndicatorSnapshot
from riskdesk.security.service import Principal


@dataclass(frozen=True)
class RunSummary:
    """What a refresh computed."""

    customers: int
    as_of: dt.date
    seconds: float
    # customer_id and one column per indicator, as stored (floats, NaN as null): what the
    # rules read next without reading the snapshots back (``advance`` only)
    values: pl.DataFrame | None = field(default=None, compare=False, repr=False)


# A state is rebuilt from the event record after this long, whatever happened to it: what an
# event path did not carry (an edit made in place, a race with one) lasts no longer.
STATE_REBUILD_DAYS = 7
# A large population's stored summary is rebuilt from the snapshots when this old (a batch
# stores a fresh one too): where a customer ranks moves slowly.
REFERENCE_MAX_AGE = dt.timedelta(hours=24)

Changes = Mapping[str, Sequence[int]] | None  # kind -> ids of rows written; None: unknown


def refresh(
    session: Session, customer_ids: Sequence[int], *, as_of: dt.date | None = None
) -> RunSummary:
    """Recompute the given customers' indicators from their whole event record, ranking them
    against the stored population (after an edit in place, such as a complaint resolved or two
    customers merged). Their indicator states are dropped: the next event rebuilds them."""
    started = utcnow()
    as_of = as_of or today()
    ids = sorted(set(customer_ids))
    if not ids:
        return RunSummary(0, as_of, 0.0)
    frames = repo.load_frames(session, ids)
    result = compute(frames, as_of, reference=population(session))
    repo.store(session, result, as_of=as_of, computed_at=utcnow())
    repo.drop_states(session, ids)
    return RunSummary(result.height, as_of, (utcnow() - started).total_seconds())


def advance(
    session: Session, changes: Mapping[int, Changes], *, as_of: dt.date | None = None
) -> RunSummary:
    """Bring customers' indicators up to date with their new and changed events through their
    stored states (``indicators.state``): read each state and the rows the changes name, merge,
    trim, compute, store. A customer without a state, with unknown changes, or whose state is
    due for a rebuild is read whole from the event record instead. Only the worker that owns
    the customers' partition calls this."""
    started = utcnow()
    as_of = as_of or today()
    customers = repo.load_customers(session, sorted(changes))
    live = customers["customer_id"].to_list()
    if not live:
        return RunSummary(0, as_of, 0.0)
    stored = repo.load_states(session, live)
    now = utcnow()
    stale = now - dt.timedelta(days=STATE_REBUILD_DAYS)

    def current(cid: int) -> bool:
        known = stored.get(cid)
        return (
            changes.get(cid) is not None
            and known is not None
            and (known[0] <= as_of and known[1] > stale)
        )

    kept = [c for c in live if current(c)]
    built_at = {c: stored[c][1] for c in kept} | dict.fromkeys(
        (c for c in live if not current(c)), now
    )
    frames = _state_or_record(session, customers, {c: stored[c][2] for c in kept})
    if kept:
        refs: dict[str, set[int]] = {}
        for cid in kept:
            for kind, ids in (changes[cid] or {}).items():
                refs.setdefault(kind, set()).update(ids)
        new = repo.load_changes(session, refs).for_customers(kept)
        frames = state.merge(frames, new).with_customers(frames.customers)
    frames = state.trim(frames, as_of)
    result = compute(state.without_keys(frames), as_of, reference=population(session))
    repo.store(session, result, as_of=as_of, computed_at=utcnow())
    repo.store_states(session, state.to_blobs(frames), trimmed_as_of=as_of, built_at=built_at)
    values = result.select(
        "customer_id",
        *[pl.col(c).cast(pl.Float64).fill_nan(None) for c in result.columns if c != "customer_id"],
    )
    return RunSummary(result.height, as_of, (utcnow() - started).total_seconds(), values)


def run_batch(session: Session, *, as_of: dt.date | None = None) -> RunSummary:
    """Recompute every customer's indicators in one vectorised pass."""
    started = utcnow()
    as_of = as_of or today()
    result = run_batch_frame(session, as_of=as_of)
    return RunSummary(result.height, as_of, (utcnow() - started).total_seconds())


def run_batch_frame(session: Session, *, as_of: dt.date | None = None) -> pl.DataFrame:
    """Recompute and store every customer's indicators; the values, for scoring right after."""
    as_of = as_of or today()
    result = compute_batch(session, as_of=as_of)
    store_batch(session, result, as_of=as_of)
    return result


def population(session: Session) -> Reference | None:
    """What population indicators rank against: the stored summary of a large population
    (rebuilt from the snapshots once it is a day old), or, for a small one, a summary of the
    snapshots read now; None before any customer has one."""
    latest = repo.latest_reference(session)
    if (
        latest is not None
        and latest.customers > REFERENCE_POINTS
        and utcnow() - latest.computed_at < REFERENCE_MAX_AGE
    ):
        return Reference.from_json(latest.summary)
    return store_population(session, as_of=today())


def store_population(session: Session, *, as_of: dt.date) -> Reference | None:
    """Summarise the stored snapshots' population; kept when it is large (a small one is
    cheaper to read again than to keep current)."""
    ref = snapshots_population(session)
    keep_population(session, ref, as_of=as_of)
    return ref


def snapshots_population(session: Session) -> Reference | None:
    """The stored snapshots' population summary, read and not stored (None: no snapshots)."""
    frame = repo.snapshot_population(session)
    return None if frame is None else summarise(frame)


def keep_population(session: Session, ref: Reference | None, *, as_of: dt.date) -> None:
    """Store a summary read by snapshots_population, when it is large enough to keep."""
    if ref is not None and ref.customers > REFERENCE_POINTS:
        repo.store_reference(
            session, ref.as_json(), customers=ref.customers, as_of=as_of, computed_at=utcnow()
        )


def load_history(session: Session) -> EventFrames:
    """Every customer's whole event history, as the batch computation reads it."""
    return repo.load_frames(session)


def compute_batch(
    session: Session, *, as_of: dt.date, frames: EventFrames | None = None
) -> pl.DataFrame:
    """Every customer's indicators, computed and not stored (the read phase of a batch), from
    ``frames`` when the caller has read the history already."""
    return compute(frames if frames is not None else repo.load_frames(session), as_of)


def store_batch(session: Session, result: pl.DataFrame, *, as_of: dt.date) -> int:
    """Store indicators computed by compute_batch (the store phase of a batch), and the
    population summary events rank against until the next batch."""
    stored = repo.store(session, result, as_of=as_of, computed_at=utcnow())
    store_population(session, as_of=as_of)
    return stored


def stage_batch(
    session: Session,
    result: pl.DataFrame,
    *,
    batch_id: int,
    as_of: dt.date,
    seen: Mapping[int, dt.datetime | None],
) -> int:
    """Store some of a batch's indicators aside (read by nobody) until apply_batch makes the
    whole batch current at once: a long batch stores in short transactions this way."""
    return repo.stage(
        session, result, batch_id=batch_id, as_of=as_of, computed_at=utcnow(), seen=seen
    )


def apply_batch(
    session: Session, *, batch_id: int, customer_ids: Sequence[int] | None = None
) -> int:
    """Make a staged batch's indicators current (of some customers; None: all), set-based; a
    customer whose snapshot changed since the batch read keeps it. The population summary is
    the caller's to store after: store_population."""
    return repo.apply_staged(session, batch_id, customer_ids)


def drop_staged(session: Session, *, batch_id: int, customer_ids: Sequence[int] | None) -> None:
    """Forget a batch's staged indicators (of some customers; None: all of them)."""
    repo.drop_staged(session, batch_id, customer_ids)


def receivables_after_grace(
    session: Session, customer_ids: Sequence[int] | None, *, as_of: dt.date, grace_days: int
) -> pl.DataFrame:
    """Some customers' (None: all live ones) receivables indicators as of a date, computed
    now and not stored, counting an open invoice as overdue only once it is more than
    ``grace_days`` past due: what early warnings judge when payment feeds arrive late."""
    return receivables(event_frames(session, customer_ids, as_of=as_of), as_of,
                       overdue_grace_days=grace_days)  # fmt: skip


def event_frames(
    session: Session, customer_ids: Sequence[int] | None, *, as_of: dt.date
) -> EventFrames:
    """Customers' events as the formulas read them on ``as_of``: from their stored states where
    they have one trimmed by then (what any window reaches: the same values), else from the
    whole record (and for everyone when ``customer_ids`` is None)."""
    if customer_ids is None:
        return repo.load_frames(session, None)
    customers = repo.load_customers(session, sorted(set(customer_ids)))
    ids = customers["customer_id"].to_list()
    stored = {c: s[2] for c, s in repo.load_states(session, ids).items() if s[0] <= as_of}
    return state.without_keys(_state_or_record(session, customers, stored))


def _state_or_record(
    session: Session, customers: pl.DataFrame, blobs: Mapping[int, bytes]
) -> EventFrames:
    """The customers' events, keyed: from the stored states given (``blobs``), and for the
    others from the whole event record."""
    parts = []
    if blobs:
        mine = customers.filter(pl.col("customer_id").is_in(list(blobs)))
        parts.append(state.from_blobs(blobs, mine))
    missing = [c for c in customers["customer_id"].to_list() if c not in blobs]
    if missing or not parts:
        parts.append(repo.load_frames(session, missing, keyed=True))
    return state.concat(*parts)


def snapshot_read(snapshot: IndicatorSnapshot | None) -> IndicatorsRead:
    """The catalogue with a customer's values."""
    values = snapshot.values if snapshot is not None else {}
    return IndicatorsRead(
        as_of=snapshot.as_of if snapshot else None,
        computed_at=snapshot.computed_at if snapshot else None,
        indicators=[
            IndicatorValue(
                name=i.name,
                group=i.group,
                unit=i.unit,
                window_days=i.window_days,
                description_en=i.en,
                description_zh=i.zh,
                value=values.get(i.name),
            )
            for i in CATALOGUE
        ],
    )


def get_snapshot(session: Session, customer_id: int) -> IndicatorSnapshot | None:
    """The stored values of one customer."""
    return repo.get_snapshot(session, customer_id)


def trend(
    session: Session,
    customer_id: int,
    names: Sequence[str],
    *,
    months: int = 12,
    as_of: dt.date | None = None,
) -> dict[str, list[float | None]] | None:
    """Month-end values of some indicators over the last months (for charts)."""
    end = as_of or today()
    dates = [end]
    first_of_month = end.replace(day=1)
    while len(dates) < months:
        dates.append(first_of_month - dt.timedelta(days=1))  # the previous month's last day
        first_of_month = dates[-1].replace(day=1)
    dates.sort()
    frames = repo.load_frames(session, [customer_id])
    if frames.customers.height == 0:
        return None
    ref = population(session)
    rows = [compute(frames, d, reference=ref).with_columns(as_of=pl.lit(d)) for d in dates]
    table = pl.concat(rows)
    out: dict[str, list[Any]] = {"dates": [d.isoformat() for d in dates]}
    for name in names:
        out[name] = table[name].to_list()
    return out


__all__ = ["REFERENCE_COLUMNS", "RunSummary", "advance", "refresh", "run_batch", "trend"]


def export_ageing(
    session: Session, principal: Principal, *, flt: CustomerFilter, chunk: int
) -> Iterator[dict[str, Any]]:
    """Each filtered customer's open receivables by ageing bucket, as of its latest indicator
    run (blank where never computed), streamed by customer id."""
    flt = CustomerFilter(
        **{**flt.__dict__, "owner_ids": customer_service.visible_owner_ids(principal)}
    )
    for r in repo.ageing_for_export(session, flt, chunk=chunk):
        values = r.values or {}
        buckets = {f"ar_{b}": values.get(f"ar_{b}") for b in AGEING_BUCKETS}
        known = [v for v in buckets.values() if v is not None]
        yield {
            "customer_code": customer_repo.customer_code(r.id),
            "customer_name": customer_service.shown_name(r.kind, r.company_name, r.person_name),
            "risk_tier": r.risk_tier,
            "as_of": r.as_of,
            **buckets,
            "ar_total": sum(known) if known else None,
            "dpd_max": values.get("dpd_max"),
        }


def _on_customers_merged(session: Session, survivor_id: int, duplicate_id: int, **_: Any) -> None:
    """The survivor's indicators now read the duplicate's events too; the duplicate has none
    left, and its old snapshot must not count in the population the others rank against."""
    repo.drop_snapshots(session, [duplicate_id])
    repo.drop_states(session, [duplicate_id])
    refresh(session, [survivor_id])


signals.subscribe(signals.CUSTOMERS_MERGED, _on_customers_merged)
