"""Expected credit loss: compute a run from one snapshot, store it once per set of inputs,
read it back with its movement, and the four-eyes forward-looking adjustments."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import polars as pl
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from riskdesk.ecl import matrix
from riskdesk.ecl import repository as repo
from riskdesk.ecl.matrix import BUCKETS, PORTFOLIO, Adjustment, Matrix
from riskdesk.ecl.schemas import (
    AdjustmentIn,
    AdjustmentStatus,
    CustomerResult,
    MatrixRow,
    MonthEndBalance,
    Movement,
    RunDetail,
    RunRead,
    SegmentTotal,
)
from riskdesk.kit.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from riskdesk.kit.pagination import Page, PageParams
from riskdesk.kit.timeutil import today, utcnow
from riskdesk.models import EclAdjustment, EclRun
from riskdesk.security.permissions import Permission
from riskdesk.security.service import Principal, ensure_second_person, ensure_still_allowed

# The customer columns of the stored results, by bucket.
RESULT_COLUMNS = {
    "current": "current",
    "1_30": "dpd_1_30",
    "31_60": "dpd_31_60",
    "61_90": "dpd_61_90",
    "91_180": "dpd_91_180",
    "over_180": "dpd_over_180",
}
RATE_DIGITS = 10


def _money(value: float) -> Decimal:
    return Decimal(str(round(value, 2))).quantize(Decimal("0.01"))


# ---------------------------------------------------------------- runs


@dataclass
class Plan:
    """A computed run waiting to be stored: the matrix and the digest of its inputs."""

    as_of: dt.date
    lookback_months: int
    result: Matrix
    inputs_hash: str


def _approved(session: Session) -> list[Adjustment]:
    return [
        Adjustment(a.segment, a.multiplier, a.reason, a.id)
        for a in repo.adjustments(session, AdjustmentStatus.APPROVED)
    ]


def inputs_digest(as_of: dt.date, lookback: int, result: Matrix) -> str:
    """What makes two runs the same: the reporting date, the window, every customer's
    balances, the month-end history and the adjustments (their rates follow from these)."""
    digest = hashlib.sha256(f"{as_of.isoformat()}|{lookback}".encode())
    customers = result.customers.select(
        "customer_id", "segment", *[pl.col(b).round(2) for b in BUCKETS]
    )
    history = result.month_end_balances.with_columns(pl.col("balance").round(2))
    transitions = result.transitions.with_columns(pl.col("base", "rolled", "stayed").round(2))
    for frame in (customers, history, transitions):
        digest.update(frame.write_csv().encode())
    adjustments = sorted(
        (a.segment, a.multiplier, a.adjustment_id or 0) for a in result.adjustments
    )
    digest.update(json.dumps(adjustments).encode())
    return digest.hexdigest()


def plan_run(session: Session, *, as_of: dt.date | None, lookback_months: int) -> Plan:
    """Read the receivables history and the approved adjustments, and compute the matrix
    (stores nothing)."""
    as_of = as_of or today()
    invoices, payments, customers = repo.receivables(session, as_of)
    adjustments = _approved(session)
    result = matrix.compute(invoices, payments, customers, as_of, lookback_months, adjustments)
    if result.history_months < matrix.MIN_LOOKBACK_MONTHS:
        raise ValidationFailed(
            f"{result.history_months} month ends of the window hold receivables; the roll "
            f"rates need at least {matrix.MIN_LOOKBACK_MONTHS}",
            field="lookback_months",
            code="not_enough_history",
        )
    return Plan(as_of, lookback_months, result, inputs_digest(as_of, lookback_months, result))


def _matrix_rows(result: Matrix) -> list[dict[str, Any]]:
    return [
        {
            "segment": r["segment"],
            "bucket": BUCKETS[r["bucket"]],
            "rates_from": r["rates_from"],
            "base": round(r["base"], 2),
            "rolled": round(r["rolled"], 2),
            "stayed": round(r["stayed"], 2),
            "roll_rate": round(r["roll_rate"], RATE_DIGITS),
            "historical_rate": round(r["historical_rate"], RATE_DIGITS),
            "multiplier": r["multiplier"],
            "adjusted_rate": round(r["adjusted_rate"], RATE_DIGITS),
            "balance": round(r["balance"], 2),
            "ecl": round(r["ecl"], 2),
        }
        for r in result.rates.iter_rows(named=True)
    ]


def _new_run(plan: Plan, principal: Principal | None, **extra: Any) -> EclRun:
    result = plan.result
    totals = result.rates.filter(pl.col("segment") == PORTFOLIO)
    return EclRun(
        as_of=plan.as_of,
        lookback_months=plan.lookback_months,
        inputs_hash=plan.inputs_hash,
        customers=result.customers.height,
        total_balance=_money(float(totals["balance"].sum())),
        total_ecl=_money(float(totals["ecl"].sum())),
        matrix=_matrix_rows(result),
        month_end_balances=[
            {
                "segment": r["segment"],
                "date": r["date"].isoformat(),
                "bucket": BUCKETS[r["bucket"]],
                "balance": round(r["balance"], 2),
            }
            for r in result.month_end_balances.iter_rows(named=True)
        ],
        adjustments=[
            {
                "id": a.adjustment_id,
                "segment": a.segment,
                "multiplier": a.multiplier,
                "reason": a.reason,
            }
            for a in result.adjustments
        ],
        created_by_id=principal.user_id if principal else None,
        **extra,
    )


def customer_rows(plan: Plan) -> pl.DataFrame:
    """The run's customer rows to store (without the run's id), rounded to the cent in
    Polars; the Numeric columns keep them exact."""
    customers = plan.result.customers.with_columns(pl.col(*BUCKETS, "balance", "ecl").round(2))
    return customers.rename(RESULT_COLUMNS).select(
        "customer_id", "segment", "rates_from", *RESULT_COLUMNS.values(), "balance", "ecl"
    )


def store_customers(session: Session, run_id: int, rows: pl.DataFrame) -> None:
    """Store some of a run's customer rows."""
    repo.insert_customers(session, rows.with_columns(run_id=pl.lit(run_id)).to_dicts())


def store_run(session: Session, plan: Plan, principal: Principal | None) -> tuple[EclRun, bool]:
    """Store the planned run, or find the one already stored with the same inputs; whether
    it is new (in the caller's one transaction: a request's, or the CLI's)."""
    if principal is not None:
        ensure_still_allowed(session, principal, Permission.ECL_RUN)
    found = repo.find_run(session, plan.as_of, plan.lookback_months, plan.inputs_hash)
    if found is not None:
        return found, False
    run = _new_run(plan, principal)
    try:
        with session.begin_nested():
            repo.add(session, run)
    except IntegrityError:
        # The same run stored meanwhile by another request: that one stands.
        found = repo.find_run(session, plan.as_of, plan.lookback_months, plan.inputs_hash)
        if found is None:
            raise
        return found, False
    store_customers(session, run.id, customer_rows(plan))
    return run, True


# A job stores a run in parts, each a short transaction (SQLite has one writer: an event intake
# waits for a part, not for 100,000 rows), under a run in status "storing" that no reader
# reads until the last transaction marks it done.
STORE_CHUNK = 2000


def begin_staged(session: Session, plan: Plan, principal: Principal, job_id: int) -> int | None:
    """The first transaction of a job's store: what an earlier attempt of the job staged goes,
    and a run in status "storing" is added; its id, or None when a run with these inputs is
    already done (nothing to store)."""
    ensure_still_allowed(session, principal, Permission.ECL_RUN)
    repo.delete_staged(session, job_id=job_id)
    if repo.find_run(session, plan.as_of, plan.lookback_months, plan.inputs_hash) is not None:
        return None
    run = repo.add(session, _new_run(plan, principal, status="storing", job_id=job_id))
    return int(run.id)


def finish_staged(
    session: Session, plan: Plan, principal: Principal, run_id: int | None
) -> tuple[EclRun, bool]:
    """The last transaction: the staged run is done, unless a run with the same inputs was
    finished meanwhile (that one stands, and the staged one goes); whether it is new."""
    ensure_still_allowed(session, principal, Permission.ECL_RUN)
    found = repo.find_run(session, plan.as_of, plan.lookback_months, plan.inputs_hash)
    if found is not None or run_id is None:
        if run_id is not None:
            repo.delete_staged(session, run_id=run_id)
        if found is None:  # begun as already done, and that run has gone since
            raise Conflict("the ECL run it found was removed; run it again", code="ecl_run_gone")
        return found, False
    run = repo.staged_run(session, run_id)
    if run is None:
        raise Conflict("the ECL run being stored was removed; run it again", code="ecl_run_gone")
    try:
        with session.begin_nested():
            run.status = "done"
            run.created_at = utcnow()
            session.flush()
    except IntegrityError:
        # The same run finished by a request since the check above (PostgreSQL: another
        # writer; SQLite's one writer cannot): that one stands, and this one goes.
        session.expire(run)
        found = repo.find_run(session, plan.as_of, plan.lookback_months, plan.inputs_hash)
        if found is None:
            raise
        repo.delete_staged(session, run_id=run_id)
        return found, False
    return run, True


def discard_staged(session: Session, job_id: int) -> None:
    """Delete what a failed, cancelled or lost job staged."""
    repo.delete_staged(session, job_id=job_id)


def get_run_or_raise(session: Session, run_id: int) -> EclRun:
    """A stored run, or 404."""
    run = repo.get_run(session, run_id)
    if run is None:
        raise NotFound(f"no ECL run {run_id}", field="run_id", code="ecl_run_not_found")
    return run


def list_runs(session: Session, limit: int = 50) -> list[EclRun]:
    """The latest runs."""
    return repo.runs(session, limit)


def customer_page(
    session: Session, run: EclRun, segment: str | None, params: PageParams
) -> Page[CustomerResult]:
    """A page of a run's customers (of one segment when given), largest ECL first."""
    rows, total = repo.customer_page(
        session, run.id, segment=segment, offset=params.offset, size=params.size
    )
    items = [CustomerResult.model_validate(r).model_copy(update={"name": name}) for r, name in rows]
    return Page[CustomerResult](items=items, total=total, page=params.page, size=params.size)


def _segments(rows: list[MatrixRow]) -> list[SegmentTotal]:
    found: dict[str, SegmentTotal] = {}
    for row in rows:
        total = found.setdefault(
            row.segment,
            SegmentTotal(
                segment=row.segment,
                rates_from=row.rates_from,
                balance=Decimal("0"),
                ecl=Decimal("0"),
                coverage=None,
            ),
        )
        total.balance += row.balance
        total.ecl += row.ecl
    for total in found.values():
        total.coverage = float(total.ecl / total.balance) if total.balance else None
    # The portfolio last, after the segments it adds up.
    return sorted(found.values(), key=lambda t: (t.segment == PORTFOLIO, t.segment))


def _movement(rows: list[MatrixRow], before: list[MatrixRow]) -> list[Movement]:
    earlier = {(r.segment, r.bucket): r for r in before}
    moves = []
    for row in rows:
        old = earlier.get((row.segment, row.bucket))
        moves.append(
            Movement(
                segment=row.segment,
                bucket=row.bucket,
                balance_change=row.balance - (old.balance if old else Decimal("0")),
                adjusted_rate_change=round(
                    row.adjusted_rate - (old.adjusted_rate if old else 0.0), RATE_DIGITS
                ),
                ecl_change=row.ecl - (old.ecl if old else Decimal("0")),
            )
        )
    return moves


def _rows(run: EclRun) -> list[MatrixRow]:
    return [MatrixRow.model_validate(r) for r in run.matrix]


def run_detail(session: Session, run: EclRun) -> RunDetail:
    """A run with its matrix, inputs, totals per segment and movement since the previous."""
    rows = _rows(run)
    previous = repo.previous_run(session, run)
    return RunDetail(
        **RunRead.model_validate(run).model_dump(),
        matrix=rows,
        month_end_balances=[MonthEndBalance.model_validate(r) for r in run.month_end_balances],
        adjustments=run.adjustments,
        segments=_segments(rows),
        previous_run_id=previous.id if previous else None,
        movement=_movement(rows, _rows(previous) if previous else []),
    )


# ---------------------------------------------------------------- adjustments


def list_adjustments(session: Session) -> list[EclAdjustment]:
    """Every adjustment, newest first."""
    return repo.adjustments(session)


def propose_adjustment(session: Session, principal: Principal, body: AdjustmentIn) -> EclAdjustment:
    """Propose a multiplier for a segment; it applies once a second person approves it."""
    adjustment = EclAdjustment(
        segment=body.segment,
        multiplier=body.multiplier,
        reason=body.reason,
        status=AdjustmentStatus.PROPOSED,
        proposed_by_id=principal.user_id,
    )
    repo.add(session, adjustment)
    return adjustment


def _proposed_or_raise(session: Session, adjustment_id: int) -> EclAdjustment:
    found = repo.get_adjustment(session, adjustment_id, lock=True)
    if found is None:
        raise NotFound(
            f"no ECL adjustment {adjustment_id}", field="adjustment_id", code="adjustment_not_found"
        )
    if found.status != AdjustmentStatus.PROPOSED:
        raise Conflict(f"adjustment {adjustment_id} is {found.status}", code="wrong_state")
    return found


def decide_adjustment(
    session: Session, principal: Principal, adjustment_id: int, *, approve: bool,
    comment: str | None,
) -> EclAdjustment:  # fmt: skip
    """A second person approves (superseding the segment's approved one) or rejects."""
    if not principal.can(Permission.ECL_RUN):
        raise PermissionDenied("deciding ECL adjustments needs 'ecl:run'")
    found = _proposed_or_raise(session, adjustment_id)
    ensure_second_person(principal, found.proposed_by_id, "nobody approves their own adjustment")
    if approve:
        for old in repo.adjustments(session, AdjustmentStatus.APPROVED):
            if old.segment == found.segment:
                old.status = AdjustmentStatus.SUPERSEDED
    found.status = AdjustmentStatus.APPROVED if approve else AdjustmentStatus.REJECTED
    found.decided_by_id = principal.user_id
    found.decided_at = utcnow()
    found.decision_comment = comment
    session.flush()
    return found
