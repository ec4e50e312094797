"""The portfolio dashboard: the repository's aggregates, put in order and into ratios."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from riskdesk.customers import service as customer_service
from riskdesk.ecl import service as ecl_service
from riskdesk.kit.errors import ValidationFailed
from riskdesk.kit.timeutil import today, utcnow
from riskdesk.models.customers import customer_code
from riskdesk.portfolio import book, month_ends
from riskdesk.portfolio import month_end_repository as month_end_repo
from riskdesk.portfolio import repository as repo
from riskdesk.portfolio import trends as trend_math
from riskdesk.portfolio.schemas import (
    AgeingBucket,
    AlertFunnel,
    Concentration,
    ConcentrationItem,
    EclCard,
    MonthTrend,
    Overdue,
    PortfolioFilter,
    PortfolioSummary,
    ReviewsDue,
    TierShare,
    TopExposure,
    Totals,
    UtilisationBand,
    WorkWaiting,
)
from riskdesk.scoring.definition import TIERS
from riskdesk.security.permissions import Permission
from riskdesk.security.service import Principal

ZERO = Decimal("0.00")
TOP_EXPOSURES = 20
TOP_CONCENTRATION = 10
REVIEW_HORIZON_DAYS = 30
# Limits and exposure are kept in the limit currency, CNY across the book (credit policy).
CURRENCY = "CNY"
BANDS = (repo.NO_LIMIT, *(b for b, _, _ in repo.UTILISATION_BANDS))
BUCKETS = ("current", *(b for b, _, _ in repo.AGEING_BUCKETS))
DIMENSIONS = ("industry", "region", "group")
TREND_MONTHS = month_ends.TREND_MONTHS


def scope_of(principal: Principal, flt: PortfolioFilter) -> repo.Scope:
    """The filters narrowed to what the caller may see (sales: their own customers)."""
    return repo.Scope(
        region=flt.region or None,
        segment=flt.segment or None,
        owner_id=flt.owner_id,
        risk_tier=flt.tier or None,
        industry=flt.industry or None,
        owner_ids=customer_service.visible_owner_ids(principal),
    )


SCOPE_FIELDS = ("region", "segment", "owner_id", "tier", "industry")


def is_narrowed(flt: PortfolioFilter | None) -> bool:
    """True when a filter narrows the customers (the period alone does not)."""
    return flt is not None and any(getattr(flt, k) for k in SCOPE_FIELDS)


def customers_within(flt: PortfolioFilter | None) -> Any:
    """The ids (a SELECT) of the live customers a filter keeps, or None when it keeps
    everyone; for figures over other records (alerts, complaints) that narrow by customer.
    Visibility is left to the figure, which applies it on its own."""
    if not is_narrowed(flt):
        return None
    assert flt is not None
    return repo.scoped_ids(
        repo.Scope(
            region=flt.region,
            segment=flt.segment,
            owner_id=flt.owner_id,
            risk_tier=flt.tier,
            industry=flt.industry,
        )
    )


def customers_in_band(principal: Principal, flt: PortfolioFilter, band: str) -> Any:
    """The ids (a SELECT) of the customers in scope whose utilisation is in a band."""
    if band not in BANDS:
        raise ValidationFailed(f"unknown utilisation band {band!r}", field="utilisation")
    return repo.ids_in_band(scope_of(principal, flt), band)


def customers_in_bucket(
    principal: Principal, flt: PortfolioFilter, bucket: str, as_of: dt.date | None = None
) -> Any:
    """The ids (a SELECT) of the customers in scope with an open invoice in an ageing bucket
    (``overdue``: any bucket past due)."""
    if bucket not in (*BUCKETS, "overdue"):
        raise ValidationFailed(f"unknown ageing bucket {bucket!r}", field="ageing")
    day = as_of or today()
    return repo.ids_in_bucket(scope_of(principal, flt), bucket, day, kept=day == today())


def _money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


def _ratio(part: Decimal, whole: Decimal) -> float | None:
    return float(part / whole) if whole > 0 else None


def summary(
    session: Session,
    principal: Principal,
    *,
    flt: PortfolioFilter,
    as_of: dt.date | None = None,
) -> PortfolioSummary:
    """Every figure of the dashboard over the customers in scope, as of a business date."""
    day = as_of or today()
    now = utcnow()
    scope = scope_of(principal, flt)
    # The book is read once; bands, tiers, top exposures and concentration derive from it.
    positions = book.frame(repo.positions(session, scope))
    cells = book.by_band_and_tier(positions, repo.UTILISATION_BANDS)
    total = _summed(cells, None)[None]
    bands = _summed(cells, 0)
    tiers = _summed(cells, 1)
    # Today's open invoices are kept as events arrive; another day's are derived.
    kept = day == today()
    ageing, overdue_customers = repo.ageing(session, scope, day, kept=kept)
    today_ageing = {b: amount for b, (_, amount) in ageing.items()} if kept else None
    open_total = sum((amount for _, amount in ageing.values()), ZERO)
    overdue = sum((a for b, (_, a) in ageing.items() if b != "current"), ZERO)
    held = repo.held_orders(session, scope)
    requests = repo.pending_limit_requests(session, scope, now)
    since = day - dt.timedelta(days=flt.period_days)
    funnel = repo.alert_funnel(session, scope, since, now)
    late, due = repo.reviews_due(session, scope, day, day + dt.timedelta(days=REVIEW_HORIZON_DAYS))
    tier_order = [
        *TIERS,
        *sorted(t for t in tiers if t is not None and t not in TIERS and t != repo.UNRATED),
    ]
    return PortfolioSummary(
        as_of=day,
        currency=CURRENCY,
        filters=flt,
        totals=Totals(
            customers=total[0],
            exposure=total[1],
            credit_limit=total[2],
            available=total[2] - total[1],
            utilisation=_ratio(total[1], total[2]),
        ),
        utilisation=[
            UtilisationBand(band=b, customers=n, exposure=e, credit_limit=lim)
            for b in BANDS
            for n, e, lim in [bands.get(b, (0, ZERO, ZERO))]
        ],
        overdue=Overdue(
            open_receivables=open_total,
            overdue=overdue,
            share=_ratio(overdue, open_total),
            customers=overdue_customers,
        ),
        ageing=[
            AgeingBucket(bucket=b, customers=n, amount=a)
            for b in BUCKETS
            for n, a in [ageing.get(b, (0, ZERO))]
        ],
        tiers=[
            TierShare(tier=t, customers=n, exposure=e, credit_limit=lim)
            for t in [*tier_order, repo.UNRATED]
            if t in tiers or t in TIERS
            for n, e, lim in [tiers.get(t, (0, ZERO, ZERO))]
        ],
        top_exposures=_top(session, positions),
        concentration=[_concentration(session, positions, d) for d in DIMENSIONS],
        held_orders=WorkWaiting(count=held[0], amount=held[1]),
        limit_requests=WorkWaiting(count=requests[0], amount=requests[1]),
        alerts=AlertFunnel(since=since, **funnel),
        reviews=ReviewsDue(overdue=late, due=due, horizon_days=REVIEW_HORIZON_DAYS),
        trends=_trends(session, scope, day, today_ageing),
        ecl=_ecl(session, principal, scope) if principal.can(Permission.ECL_READ) else None,
    )


def _trends(
    session: Session, scope: repo.Scope, day: dt.date, today_ageing: dict[str, Decimal] | None
) -> list[MonthTrend]:
    """The last months' ageing at each month end (and ``day``), sales, DSO and CEI.

    The month ends come from the stored month ends (portfolio.month_ends) once the job has
    stored them all; until then, everything is derived in one statement. ``day``'s own
    column is today's ageing card when given (the kept balances), else derived."""
    dates = trend_math.cutoffs(day, TREND_MONTHS)
    stored = _stored_month_ends(session, scope, dates)
    if stored is None:
        ageing, sales = repo.ageing_history(session, scope, dates)
        if today_ageing is not None:  # the card's figures, as the stored path shows them
            ageing[-1] = {b: today_ageing.get(b, ZERO) for b in BUCKETS}
    else:
        ageing = [_bucket_dict(stored[d]) for d in dates[:-1]]
        sales = [stored[d][-1] for d in dates[1:-1]]
        if dates[-1] in stored:
            ageing.append(_bucket_dict(stored[dates[-1]]))
            sales.append(stored[dates[-1]][-1])
        elif today_ageing is not None:
            ageing.append({b: today_ageing.get(b, ZERO) for b in BUCKETS})
            sales.append(repo.month_sales(session, scope, dates[-2], day))
        else:
            last, sold = repo.ageing_history(session, scope, dates[-2:])
            ageing.append(last[1])
            sales.append(sold[0])
    periods = [
        trend_math.PeriodSums(
            end=end,
            days=(end - start).days,
            sales=sold,
            ar=sum(buckets.values(), ZERO),
            current_ar=buckets["current"],
        )
        for (start, end), sold, buckets in zip(
            itertools.pairwise(dates), sales, ageing[1:], strict=True
        )
    ]
    opening = sum(ageing[0].values(), ZERO)
    return [
        MonthTrend(
            month_end=p.end,
            days=p.days,
            month_to_date=p.end != trend_math.month_end(p.end),
            sales=p.sales,
            ar=p.ar,
            current_ar=p.current_ar,
            ageing=buckets,
            dso=r.dso,
            best_dso=r.best_dso,
            add=r.add,
            cei=r.cei,
        )
        for p, r, buckets in zip(
            periods, trend_math.ratios(opening, periods), ageing[1:], strict=True
        )
    ]


def _bucket_dict(sums: month_end_repo.Sums) -> dict[str, Decimal]:
    return dict(zip(BUCKETS, sums[: len(BUCKETS)], strict=True))


# Stale customers derived afresh per answer at most; past that (a back-filled history before
# the job has caught up) the whole trend is derived, as before the job ran.
STALE_DERIVED_AT_MOST = 2_000


def _stored_month_ends(
    session: Session, scope: repo.Scope, dates: list[dt.date]
) -> dict[dt.date, month_end_repo.Sums] | None:
    """The stored sums over the customers in scope of every date that is a ready month end
    (bucket amounts, then the month's sales), or None unless all but the last date are.

    The whole book reads the stored totals; a filter sums the rows of its customers. Stale
    customers (a late event since they were stored) are read once, left out of the stored
    sums and derived afresh, so the figures are the derivation's. Each sum of stored figures
    is one statement, so the month-end job storing some customers again meanwhile cannot
    make it count them twice or not at all; a customer made stale after the list was read
    counts as stored, as of just before its event."""
    ready = {m for m, r in month_end_repo.months(session).items() if r}
    if not set(dates[:-1]) <= ready:
        return None
    stale = month_end_repo.stale_customers(session, STALE_DERIVED_AT_MOST + 1)
    if len(stale) > STALE_DERIVED_AT_MOST:
        return None
    wanted = [d for d in dates if d in ready]
    if repo.is_whole_book(scope):
        # Every stale customer's stored rows are in the totals, merged-away ones too.
        sums = month_end_repo.totals_less(session, wanted, less=stale)
    else:
        ids = month_end_repo.scoped_except(scope, stale)
        sums = month_end_repo.sums_by_month(session, wanted, ids=ids)
    if stale:
        opening = month_ends.month_before(wanted[0])
        ageing, sales = repo.ageing_history(session, scope, [opening, *wanted], only=stale)
        for d, buckets, sold in zip(wanted, ageing[1:], sales, strict=True):
            afresh = (*(buckets[b] for b in BUCKETS), sold)
            sums[d] = _plus(sums.get(d, month_end_repo.ZEROS), afresh)
    return {d: sums.get(d, month_end_repo.ZEROS) for d in wanted}


def _plus(
    a: month_end_repo.Sums, b: Sequence[Decimal] | None, *, sign: int = 1
) -> month_end_repo.Sums:
    if b is None:
        return a
    return tuple(x + sign * y for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def _ecl(session: Session, principal: Principal, scope: repo.Scope) -> EclCard:
    """The latest stored ECL run, over the customers in scope when filters narrow it."""
    runs = ecl_service.list_runs(session, limit=1)
    if not runs:
        return EclCard(
            run_id=None, as_of=None, customers=0, balance=ZERO, ecl=ZERO, coverage=None,
            scoped=False,
        )  # fmt: skip
    run = runs[0]
    if repo.is_whole_book(scope):
        # The whole book: the run's own totals, as its report shows them.
        customers, balance, ecl = run.customers, run.total_balance, run.total_ecl
        scoped = False
    else:
        customers, balance, ecl = repo.ecl_in_scope(session, scope, run.id)
        scoped = True
    return EclCard(
        run_id=run.id,
        as_of=run.as_of,
        customers=customers,
        balance=balance,
        ecl=ecl,
        coverage=_ratio(ecl, balance),
        scoped=scoped,
    )


def _summed(
    cells: list[tuple[str, str, int, Decimal, Decimal]], by: int | None
) -> dict[str | None, tuple[int, Decimal, Decimal]]:
    """Customers, exposure and limit summed by band (0), tier (1) or in total (None)."""
    sums: dict[str | None, tuple[int, Decimal, Decimal]] = (
        {None: (0, ZERO, ZERO)} if by is None else {}
    )
    for cell in cells:
        key = None if by is None else str(cell[by])
        n, e, lim = sums.get(key, (0, ZERO, ZERO))
        sums[key] = (n + cell[2], e + cell[3], lim + cell[4])
    return sums


def _top(session: Session, positions: pl.DataFrame) -> list[TopExposure]:
    top = book.top_exposures(positions, TOP_EXPOSURES)
    names = repo.customer_names(session, [row[0] for row in top])
    return [
        TopExposure(
            customer_id=cid,
            code=customer_code(cid),
            name=names[cid][1] if names[cid][0] == "company" else None,
            tier=tier,
            exposure=exposure,
            credit_limit=limit,
            utilisation=_ratio(exposure, limit),
        )
        for cid, tier, exposure, limit in top
    ]


def _concentration(session: Session, positions: pl.DataFrame, dimension: str) -> Concentration:
    found, squares, total = book.concentration(positions, dimension, TOP_CONCENTRATION)
    rows: list[tuple[str | None, int | None, Decimal]]
    if dimension == "group":
        # A group's key is its id; a customer outside any group, minus its id.
        codes = repo.group_codes(session, [k for k, _ in found if k > 0])
        rows = [(codes[k], None, e) if k > 0 else (None, -k, e) for k, e in found]
    else:
        rows = [(k, None, e) for k, e in found]
    names = (
        repo.group_names(session, [k for k, _, _ in rows if k is not None])
        if dimension == "group"
        else {}
    )
    return Concentration(
        dimension=dimension,
        # Herfindahl-Hirschman: the sum of squared shares, in percent points (0 to 10,000).
        hhi=round(squares / (total * total) * 10_000, 1) if total > 0 else None,
        items=[
            ConcentrationItem(
                key=key,
                name=names.get(key) if key is not None else None,
                customer_id=cid,
                exposure=_money(exposure),
                share=float(exposure) / total if total > 0 else 0.0,
            )
            for key, cid, exposure in rows
        ],
    )


def filter_options(session: Session, principal: Principal) -> dict[str, list[object]]:
    """What the filter bar offers, among the customers the caller may see."""
    return repo.filter_options(session, customer_service.visible_owner_ids(principal))
