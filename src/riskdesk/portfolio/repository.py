"""SQL of the portfolio dashboard: every figure is a GROUP BY in the database over the
customers in scope, never a loop over customers in Python."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    Select,
    and_,
    case,
    cast,
    distinct,
    exists,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session

from riskdesk.customers import repository as customer_repo
from riskdesk.customers.repository import UNRATED as UNRATED
from riskdesk.customers.repository import CustomerFilter
from riskdesk.events import repository as event_repo
from riskdesk.kit.money import quantize
from riskdesk.models import (
    Alert,
    CreditDecision,
    CreditExposure,
    CreditProfile,
    Customer,
    CustomerGroup,
    EclCustomerResult,
    ExposureCategory,
    Invoice,
    InvoiceBalance,
    LimitRequest,
    User,
)

CENT = Decimal("0.005")  # less than half a cent open is settled (as the credit check counts)
UNKNOWN = "unknown"
# (band, lower bound inclusive, upper bound exclusive) of exposure / limit.
UTILISATION_BANDS: tuple[tuple[str, float, float | None], ...] = (
    ("under_50", 0.0, 0.5),
    ("50_80", 0.5, 0.8),
    ("80_100", 0.8, 1.0),
    ("over_100", 1.0, None),
)
NO_LIMIT = "no_limit"
AGEING_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    # (bucket, days past due from, to inclusive); "current" is not yet due.
    ("1_30", 1, 30),
    ("31_60", 31, 60),
    ("61_90", 61, 90),
    ("over_90", 91, None),
)
BUCKET_NAMES = ("current", *(b for b, _, _ in AGEING_BUCKETS))


Scope = CustomerFilter  # the customers the figures cover: the filters and the caller's view


def is_whole_book(scope: Scope) -> bool:
    """Whether a scope is every customer of the book (no filter, everyone visible). A
    subquery narrowing it (``within``) is tested first: comparing one as a field could build
    a SQL expression rather than answer."""
    return scope.within is None and scope == Scope()


def scoped_ids(scope: Scope) -> Select[Any]:
    """The ids of the customers in scope, as a subquery to filter other tables by."""
    return customer_repo.matching_ids(scope)


def in_scope(customer_id: Any, scope: Scope) -> Any:
    """Whether a row's customer is in scope, as a correlated EXISTS: a table of a few rows per
    customer at most (held orders, requests, alerts) probes its own rows' customers, rather
    than the database first listing every customer of the book."""
    return exists(scoped_ids(scope).where(Customer.id == customer_id))


def money(value: Any) -> Decimal:
    """A value the database summed, as an amount to the cent (NULL: zero)."""
    return quantize(Decimal(value or 0))


def _exposure_by_customer(scope: Scope) -> Any:
    """Counted exposure per customer in scope (the categories that count in the limit check).
    A narrowed scope is repeated inside: the database does not push it into a grouped
    subquery. The whole book's is left out, as listing every customer first costs more than
    the few exposures of merged customers it would skip (the join leaves them out)."""
    stmt = (
        select(
            CreditExposure.customer_id.label("customer_id"),
            func.sum(CreditExposure.amount).label("exposure"),
        )
        .join(ExposureCategory, ExposureCategory.code == CreditExposure.category)
        .where(ExposureCategory.counts_in_limit.is_(True))
        .group_by(CreditExposure.customer_id)
    )
    if not is_whole_book(scope):
        stmt = stmt.where(CreditExposure.customer_id.in_(scoped_ids(scope)))
    return stmt.subquery("customer_exposure")


def _positions(scope: Scope) -> Any:
    """One row per customer in scope: exposure, limit, tier, industry, region, group."""
    exposure = _exposure_by_customer(scope)
    return (
        select(
            Customer.id.label("customer_id"),
            Customer.industry.label("industry"),
            Customer.region.label("region"),
            Customer.group_id.label("group_id"),
            CreditProfile.risk_tier.label("tier"),
            CreditProfile.credit_limit.label("credit_limit"),
            func.coalesce(exposure.c.exposure, 0).label("exposure"),
        )
        .join(CreditProfile, CreditProfile.customer_id == Customer.id)
        .outerjoin(exposure, exposure.c.customer_id == Customer.id)
        .where(*customer_repo.conditions(scope))
        .subquery("positions")
    )


def utilisation_band(exposure: Any, limit: Any) -> Any:
    """The utilisation band of a customer, as a SQL CASE (no division: limit may be zero)."""
    whens: list[tuple[Any, Any]] = [(limit <= 0, literal(NO_LIMIT))]
    for band, low, high in UTILISATION_BANDS:
        if high is None:
            whens.append((exposure >= limit * low, literal(band)))
        else:
            whens.append((exposure < limit * high, literal(band)))
    return case(*whens, else_=literal(UTILISATION_BANDS[-1][0]))


def by_band_and_tier(
    session: Session, scope: Scope
) -> list[tuple[str, str, int, Decimal, Decimal]]:
    """(utilisation band, risk tier or ``unrated``, customers, exposure, limit): one pass over
    the book, a few dozen rows at most; totals, bands and tiers are sums of them."""
    p = _positions(scope)
    band = utilisation_band(p.c.exposure, p.c.credit_limit).label("band")
    tier = func.coalesce(p.c.tier, UNRATED).label("tier")
    stmt = select(
        band, tier, func.count(), func.sum(p.c.exposure), func.sum(p.c.credit_limit)
    ).group_by(band, tier)
    return [(b, t, int(n), money(e), money(lim)) for b, t, n, e, lim in session.execute(stmt)]


def top_exposures(session: Session, scope: Scope, limit: int) -> list[Any]:
    """The largest exposures: (customer id, kind, company name, tier, exposure, limit)."""
    p = _positions(scope)
    stmt = (
        select(
            p.c.customer_id,
            Customer.kind,
            Customer.company_name,
            p.c.tier,
            p.c.exposure,
            p.c.credit_limit,
        )
        .join(Customer, Customer.id == p.c.customer_id)
        .where(p.c.exposure > 0)
        .order_by(p.c.exposure.desc(), p.c.customer_id)
        .limit(limit)
    )
    return list(session.execute(stmt))


def concentration(
    session: Session, scope: Scope, dimension: str, limit: int
) -> tuple[list[tuple[str | None, int | None, Decimal]], float, float]:
    """Exposure by industry, region or group: the largest ``limit`` as (key, customer id,
    exposure), and over all keys the sum of squared exposures and the total (for the HHI).
    A group's key is its code; a customer outside any group stands alone (key None, its id):
    single names concentrate risk too."""
    p = _positions(scope)
    key: Any
    if dimension == "group":
        key = case((p.c.group_id.is_not(None), p.c.group_id), else_=-p.c.customer_id)
    else:
        key = func.coalesce(getattr(p.c, dimension), UNKNOWN)
    per_key = (
        select(key.label("key"), func.sum(p.c.exposure).label("exposure"))
        .where(p.c.exposure > 0)
        .group_by(key)
        .subquery("per_key")
    )
    exposure = per_key.c.exposure
    # The HHI needs no cents: as floats, squares of billions cannot overflow SQLite's integers.
    as_float = cast(exposure, Float)
    # One pass: the sums over every key ride along each of the top rows as window totals.
    top = (
        select(
            per_key.c.key,
            exposure,
            func.sum(as_float * as_float).over().label("squares"),
            func.sum(as_float).over().label("total"),
        )
        .order_by(exposure.desc(), per_key.c.key)
        .limit(limit)
    )
    result = list(session.execute(top))
    squares, total = (result[0][2], result[0][3]) if result else (0, 0)
    found = [(k, money(e)) for k, e, _, _ in result]
    if dimension != "group":
        return [(k, None, e) for k, e in found], float(squares or 0), float(total or 0)
    ids = [k for k, _ in found if k > 0]
    stmt = select(CustomerGroup.id, CustomerGroup.code).where(CustomerGroup.id.in_(ids))
    codes = {gid: code for gid, code in session.execute(stmt)}
    rows: list[tuple[str | None, int | None, Decimal]] = [
        (codes[k], None, e) if k > 0 else (None, -k, e) for k, e in found
    ]
    return rows, float(squares or 0), float(total or 0)


def group_names(session: Session, codes: list[str]) -> dict[str, str]:
    """Group code -> name."""
    stmt = select(CustomerGroup.code, CustomerGroup.name).where(CustomerGroup.code.in_(codes))
    return {code: name for code, name in session.execute(stmt)}


def _open_invoices(scope: Scope, as_of: dt.date) -> Any:
    """Open invoices of the customers in scope as of a day: customer, due date, amount still
    open. An invoice counts from its issue date, less the payments made by that day, so a past
    month end's ageing (the committee pack's) is what it was then."""
    # Only the settlements of these customers' invoices, not every payment of the book;
    # payments net of reversals and adjustments, each counted from its own date.
    flows = event_repo.settlement_flows(
        select(Invoice.id).where(Invoice.customer_id.in_(scoped_ids(scope)))
    )
    paid = (
        select(flows.c.invoice_id, func.sum(flows.c.amount).label("paid"))
        .where(flows.c.day <= as_of)
        .group_by(flows.c.invoice_id)
        .subquery("paid")
    )
    open_amount = (Invoice.amount - func.coalesce(paid.c.paid, 0)).label("open")
    invoices = (
        select(Invoice.customer_id, Invoice.due_date, open_amount)
        .outerjoin(paid, paid.c.invoice_id == Invoice.id)
        .where(Invoice.customer_id.in_(scoped_ids(scope)), Invoice.issue_date <= as_of)
        .subquery("open_invoices")
    )
    return invoices


def _kept_open_invoices(scope: Scope, as_of: dt.date) -> Any:
    """``_open_invoices`` from the balances the triggers keep (models.portfolio): only the
    invoices still open are read, not every invoice and payment. Every payment recorded
    counts, so it answers for today (a payment is dated tomorrow at the latest)."""
    return (
        select(
            InvoiceBalance.customer_id,
            InvoiceBalance.due_date,
            (InvoiceBalance.amount - InvoiceBalance.paid).label("open"),
        )
        .where(
            InvoiceBalance.customer_id.in_(scoped_ids(scope)),
            InvoiceBalance.issue_date <= as_of,
        )
        .subquery("open_invoices")
    )


def _bucket_of(due_date: Any, as_of: dt.date) -> Any:
    """The ageing bucket of a due date as of a day, as a SQL CASE. The cut-off dates are
    computed here, so the SQL needs no date arithmetic (which SQLite and PostgreSQL spell
    differently)."""
    whens: list[tuple[Any, Any]] = [(due_date >= as_of, literal("current"))]
    for bucket, _, to in AGEING_BUCKETS:
        if to is not None:
            whens.append((due_date >= as_of - dt.timedelta(days=to), literal(bucket)))
    return case(*whens, else_=literal(AGEING_BUCKETS[-1][0]))


Ageing = tuple[dict[str, tuple[int, Decimal]], int]


def ageing(session: Session, scope: Scope, as_of: dt.date, *, kept: bool = False) -> Ageing:
    """Open receivables by ageing bucket (days past due as of ``as_of``): bucket ->
    (customers, amount); and how many customers have something past due. A customer counts
    once per bucket it has open, and once among the overdue however many overdue buckets it
    has. ``kept``: read the kept balances (for today only). Each database answers in the
    form it runs fastest; both give the same figures."""
    invoices = _kept_open_invoices(scope, as_of) if kept else _open_invoices(scope, as_of)
    if session.get_bind().dialect.name == "postgresql":
        return ageing_distinct(session, invoices, as_of)
    return ageing_grouped(session, invoices, as_of)


def ageing_grouped(session: Session, invoices: Any, as_of: dt.date) -> Ageing:
    """``ageing`` in one pass that sums the open invoices per customer into a column per
    bucket, then sums the columns and counts their customers (SQLite: twice as fast as
    counting distinct customers)."""
    open_amount = invoices.c.open
    names = BUCKET_NAMES
    # Plain date comparisons per bucket: about a third cheaper than comparing the bucket's
    # name from one CASE five times (SQLite, 300,000 open invoices).
    per_customer = (
        select(
            *(
                func.sum(case((in_bucket(invoices.c.due_date, as_of, name), open_amount))).label(
                    f"b_{k}"
                )
                for k, name in enumerate(names)
            )
        )
        .where(open_amount > CENT)
        .group_by(invoices.c.customer_id)
        .subquery("per_customer")
    )
    overdue_any = or_(*(per_customer.c[f"b_{k}"].is_not(None) for k in range(1, len(names))))
    stmt = select(
        *(
            part
            for k in range(len(names))
            for part in (func.count(per_customer.c[f"b_{k}"]), func.sum(per_customer.c[f"b_{k}"]))
        ),
        func.coalesce(func.sum(case((overdue_any, 1), else_=0)), 0),
    )
    row = session.execute(stmt).one()
    found = {
        name: (int(row[2 * k]), money(row[2 * k + 1])) for k, name in enumerate(names) if row[2 * k]
    }
    return found, int(row[-1])


def ageing_distinct(session: Session, invoices: Any, as_of: dt.date) -> Ageing:
    """``ageing`` in one pass over the open invoices that counts each bucket's distinct
    customers (PostgreSQL: grouping per customer first makes it hash five numeric sums per
    customer, which spills past work_mem at 100,000 customers and runs half as fast)."""
    due, customer, open_amount = invoices.c.due_date, invoices.c.customer_id, invoices.c.open
    stmt = select(
        *(
            part
            for name in BUCKET_NAMES
            for part in (
                func.count(distinct(case((in_bucket(due, as_of, name), customer)))),
                func.sum(case((in_bucket(due, as_of, name), open_amount))),
            )
        ),
        func.count(distinct(case((due < as_of, customer)))),
    ).where(open_amount > CENT)
    row = session.execute(stmt).one()
    found = {
        name: (int(row[2 * k]), money(row[2 * k + 1]))
        for k, name in enumerate(BUCKET_NAMES)
        if row[2 * k]
    }
    return found, int(row[-1])


def in_bucket(due_date: Any, as_of: dt.date, bucket: str) -> Any:
    """Whether a due date falls in an ageing bucket as of a day (the edges of ``_bucket_of``),
    as a SQL condition over plain date comparisons."""
    if bucket == "current":
        return due_date >= as_of
    start, to = next((start, to) for b, start, to in AGEING_BUCKETS if b == bucket)
    # 1 to 30 days past due: due before as_of - 0 days and on or after as_of - 30 days.
    late = due_date < as_of - dt.timedelta(days=start - 1)
    return late if to is None else and_(late, due_date >= as_of - dt.timedelta(days=to))


def open_at(ids: Any, dates: Sequence[dt.date]) -> Any:
    """Per invoice of the customers ``ids`` selects: its customer, dates and amount, and its
    open amount at each date where it counts (else NULL), computed once.

    The payments of each invoice paid by each date are grouped by invoice first. An invoice
    counts from its issue date, and only while more than half a cent is open, as the ageing
    of today counts."""
    # Payments net of reversals and adjustments (events.repository.settlement_flows).
    flows = event_repo.settlement_flows(select(Invoice.id).where(Invoice.customer_id.in_(ids)))
    paid_cols = [
        func.sum(case((flows.c.day <= day, flows.c.amount), else_=0)).label(f"paid_{k}")
        for k, day in enumerate(dates)
    ]
    # Whether anything after the first date owes more again (a reversal, an adjustment up).
    reopened = func.sum(case((and_(flows.c.day > dates[0], flows.c.amount < 0), 1), else_=0))
    paid = (
        select(flows.c.invoice_id, *paid_cols, reopened.label("reopened"))
        .group_by(flows.c.invoice_id)
        .subquery("paid_by")
    )
    open_at: list[Any] = []
    for k, day in enumerate(dates):
        still_open = Invoice.amount - func.coalesce(paid.c[f"paid_{k}"], 0)
        counted = and_(Invoice.issue_date <= day, still_open > CENT)
        open_at.append(case((counted, still_open)).label(f"open_{k}"))
    return (
        select(Invoice.customer_id, Invoice.issue_date, Invoice.due_date, Invoice.amount, *open_at)
        .outerjoin(paid, paid.c.invoice_id == Invoice.id)
        .where(
            Invoice.customer_id.in_(ids),
            Invoice.issue_date <= dates[-1],
            # Settled before the first date and issued before it: nothing to count (it stays
            # settled unless reversed or adjusted up since); on a long book most are such.
            or_(
                Invoice.issue_date > dates[0],
                Invoice.amount - func.coalesce(paid.c.paid_0, 0) > CENT,
                paid.c.reopened > 0,
            ),
        )
        .subquery("open_at")
    )


def _trend_columns(invoices: Any, dates: Sequence[dt.date]) -> list[Any]:
    """Sums over ``open_at``'s rows: the open amount per bucket at each date (``BUCKET_NAMES``
    in order), then the invoices issued in each period between consecutive dates."""
    columns: list[Any] = [
        func.sum(case((in_bucket(invoices.c.due_date, day, b), invoices.c[f"open_{k}"])))
        for k, day in enumerate(dates)
        for b in BUCKET_NAMES
    ]
    for start, end in itertools.pairwise(dates):
        issued = and_(invoices.c.issue_date > start, invoices.c.issue_date <= end)
        columns.append(func.sum(case((issued, invoices.c.amount), else_=0)))
    return columns


def _split_trend(
    values: Sequence[Any], dates: Sequence[dt.date]
) -> tuple[list[dict[str, Decimal]], list[Decimal]]:
    row = [money(v) for v in values]
    width = len(BUCKET_NAMES)
    ageing = [
        dict(zip(BUCKET_NAMES, row[k * width : (k + 1) * width], strict=True))
        for k in range(len(dates))
    ]
    return ageing, row[len(dates) * width :]


def ageing_history(
    session: Session, scope: Scope, dates: Sequence[dt.date], *, only: Any = None
) -> tuple[list[dict[str, Decimal]], list[Decimal]]:
    """Open receivables by ageing bucket at each date, and the credit sales (invoices issued)
    of each period between consecutive dates (the first date only opens the first period),
    over the customers in scope (and among ``only``'s ids, when given).

    One statement of conditional sums over ``open_at``."""
    ids = scoped_ids(scope)
    if only is not None:
        ids = ids.where(Customer.id.in_(only))
    invoices = open_at(ids, dates)
    return _split_trend(session.execute(select(*_trend_columns(invoices, dates))).one(), dates)


def month_sales(session: Session, scope: Scope, after: dt.date, until: dt.date) -> Decimal:
    """The invoices issued to the customers in scope after one day, up to another.

    Joined to the customers rather than ``IN`` their ids: the database then starts from the
    month's invoices (an index on the issue date) instead of listing every customer first."""
    stmt = (
        select(func.sum(Invoice.amount))
        .join(Customer, Customer.id == Invoice.customer_id)
        .join(CreditProfile, CreditProfile.customer_id == Customer.id)
        .where(
            Invoice.issue_date > after,
            Invoice.issue_date <= until,
            *customer_repo.conditions(scope),
        )
    )
    return money(session.execute(stmt).scalar())


def ecl_in_scope(session: Session, scope: Scope, run_id: int) -> tuple[int, Decimal, Decimal]:
    """A stored ECL run's results over the customers in scope: (customers, balance, ECL)."""
    stmt = select(
        func.count(), func.sum(EclCustomerResult.balance), func.sum(EclCustomerResult.ecl)
    ).where(
        EclCustomerResult.run_id == run_id,
        EclCustomerResult.customer_id.in_(scoped_ids(scope)),
    )
    n, balance, ecl = session.execute(stmt).one()
    return int(n), money(balance), money(ecl)


def ids_in_bucket(scope: Scope, bucket: str, as_of: dt.date, *, kept: bool = False) -> Select[Any]:
    """Customers with an open invoice in an ageing bucket (``overdue``: any past due);
    ``kept`` as ``ageing``'s."""
    invoices = _kept_open_invoices(scope, as_of) if kept else _open_invoices(scope, as_of)
    if bucket == "overdue":
        where = invoices.c.due_date < as_of
    else:
        where = _bucket_of(invoices.c.due_date, as_of) == bucket
    return select(invoices.c.customer_id).where(invoices.c.open > CENT, where).distinct()


def ids_in_band(scope: Scope, band: str) -> Select[Any]:
    """Customers whose utilisation falls in a band."""
    p = _positions(scope)
    return select(p.c.customer_id).where(utilisation_band(p.c.exposure, p.c.credit_limit) == band)


def held_orders(session: Session, scope: Scope) -> tuple[int, Decimal]:
    """Orders held by the credit check, waiting for a person: (count, amount)."""
    stmt = select(func.count(), func.sum(CreditDecision.amount)).where(
        CreditDecision.status == "held", in_scope(CreditDecision.customer_id, scope)
    )
    n, amount = session.execute(stmt).one()
    return int(n), money(amount)


def pending_limit_requests(session: Session, scope: Scope, now: dt.datetime) -> tuple[int, Decimal]:
    """Limit requests waiting for a decision (not yet expired): (count, limit asked on top)."""
    stmt = select(
        func.count(), func.sum(LimitRequest.requested_limit - LimitRequest.current_limit)
    ).where(
        LimitRequest.status == "pending",
        LimitRequest.expires_at >= now,
        in_scope(LimitRequest.customer_id, scope),
    )
    n, amount = session.execute(stmt).one()
    return int(n), money(amount)


def alert_funnel(
    session: Session, scope: Scope, since: dt.date, now: dt.datetime
) -> dict[str, int]:
    """Customer alerts observed since ``since``: raised, worked (taken up), closed, confirmed,
    false alarms, and SLA breaches (escalated, closed late, or open past due)."""
    open_any = Alert.status.in_(("open", "acknowledged", "in_progress"))
    breached = or_(
        Alert.escalation_level > 0,
        and_(Alert.closed_at.is_(None), Alert.due_at < now),
        and_(Alert.closed_at.is_not(None), Alert.closed_at > Alert.due_at),
    )

    def counted(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    stmt = select(
        func.count(),
        counted(Alert.status != "open"),
        counted(Alert.status.in_(("resolved", "dismissed"))),
        counted(Alert.outcome == "confirmed"),
        counted(Alert.outcome == "false_alarm"),
        counted(breached),
        counted(open_any),
    ).where(Alert.observed_on >= since, in_scope(Alert.customer_id, scope))
    row = session.execute(stmt).one()
    names = ("raised", "worked", "closed", "confirmed", "false_alarm", "sla_breached", "open")
    return {name: int(value) for name, value in zip(names, row, strict=True)}


def reviews_due(session: Session, scope: Scope, as_of: dt.date, until: dt.date) -> tuple[int, int]:
    """Periodic reviews (as the review queue counts them): (overdue, due by ``until``)."""
    stmt = (
        select(
            func.coalesce(func.sum(case((CreditProfile.next_review_date < as_of, 1), else_=0)), 0),
            func.count(),
        )
        .select_from(Customer)
        .join(CreditProfile, CreditProfile.customer_id == Customer.id)
        .where(
            *customer_repo.conditions(scope),
            Customer.status != "closed",
            CreditProfile.next_review_date <= until,
        )
    )
    overdue, due = session.execute(stmt).one()
    return int(overdue), int(due)


def filter_options(session: Session, owner_ids: tuple[int, ...] | None) -> dict[str, list[Any]]:
    """The values the filters offer: regions, segments, industries, tiers, and owners, among
    the customers the caller may see."""
    # The scope's terms go straight on the customers read (no IN over the book's ids): on
    # 100,000 customers the semi-join cost each of these five reads about a tenth of a second.
    terms = customer_repo.conditions(Scope(owner_ids=owner_ids))
    options: dict[str, list[Any]] = {}
    for name, column in (
        ("region", Customer.region),
        ("segment", Customer.segment),
        ("industry", Customer.industry),
    ):
        stmt = select(column).distinct().where(*terms, column.is_not(None)).order_by(column)
        options[name] = list(session.scalars(stmt))
    tier_stmt = (
        select(CreditProfile.risk_tier)
        .distinct()
        .join(Customer, Customer.id == CreditProfile.customer_id)
        .where(*terms, CreditProfile.risk_tier.is_not(None))
        .order_by(CreditProfile.risk_tier)
    )
    options["tier"] = list(session.scalars(tier_stmt))
    owner_stmt = (
        select(User.id, User.display_name)
        .where(User.id.in_(select(Customer.owner_id).distinct().where(*terms)))
        .order_by(User.display_name, User.id)
    )
    options["owner"] = [(uid, name) for uid, name in session.execute(owner_stmt)]
    return options


def _cents(amount: Any) -> Any:
    """An amount as whole cents (a BIGINT): integers reach Python and Polars without a
    Decimal per value, which on 100,000 customers cost more than the query. Exact: an amount
    has two decimals, and a customer's limit or counted exposure is far below 9.2e16."""
    return cast(func.round(amount * 100), BigInteger)


def positions(session: Session, scope: Scope) -> list[Any]:
    """One row per customer in scope, in the order of ``portfolio.book.COLUMNS``: id,
    industry, region, group id, tier, and limit and counted exposure in cents. Names are not
    read here: only the top exposures show them (``customer_names``), and 100,000 of them cost
    a tenth of the read."""
    p = _positions(scope)
    stmt = select(
        p.c.customer_id,
        p.c.industry,
        p.c.region,
        p.c.group_id,
        p.c.tier,
        _cents(p.c.credit_limit),
        _cents(p.c.exposure),
    )
    # Through the Core connection: the ORM's result machinery costs about a tenth more on
    # 100,000 customers (nothing here is an ORM entity); plain tuples suit Polars best.
    return [tuple(row) for row in session.connection().execute(stmt)]


def customer_names(session: Session, ids: list[int]) -> dict[int, tuple[str, str | None]]:
    """Customer id -> (kind, company name) of a few customers."""
    stmt = select(Customer.id, Customer.kind, Customer.company_name).where(Customer.id.in_(ids))
    return {cid: (kind, name) for cid, kind, name in session.execute(stmt)}


def group_codes(session: Session, ids: list[int]) -> dict[int, str]:
    """Group id -> code."""
    stmt = select(CustomerGroup.id, CustomerGroup.code).where(CustomerGroup.id.in_(ids))
    return {gid: code for gid, code in session.execute(stmt)}
