"""The complaint desk: response SLA, answering and resolving, product surges, satisfaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import polars as pl
from scipy.stats import poisson
from sqlalchemy.orm import Session

from riskdesk.alerts import service as alert_service
from riskdesk.complaints import repository as repo
from riskdesk.customers import service as customer_service
from riskdesk.customers.repository import customer_code
from riskdesk.kit.errors import Conflict, NotFound, ValidationFailed
from riskdesk.kit.pagination import PageParams
from riskdesk.kit.timeutil import utcnow
from riskdesk.models import Alert, Complaint, Customer, SurveyResponse
from riskdesk.security import repository as users_repo
from riskdesk.security.permissions import Permission
from riskdesk.security.service import Principal, principal_for

SURGE_CODE = "complaint_surge_product"
SURGE_TITLES = ("Complaint surge on product {product}", "产品 {product} 投诉激增")


def breach_of(complaint: Complaint, now: dt.datetime) -> str | None:
    """Which SLA an open complaint has broken: "response", "resolution" or none."""
    if complaint.status not in repo.OPEN:
        return None
    if complaint.responded_at is None and complaint.respond_by and complaint.respond_by < now:
        return "response"
    if complaint.resolve_by and complaint.resolve_by < now:
        return "resolution"
    return None


@dataclass(frozen=True)
class DeskRow:
    """A complaint on the desk with its customer and SLA state."""

    complaint: Complaint
    customer: Customer
    breach: str | None


def desk(
    session: Session,
    principal: Principal,
    *,
    status: str | None = "open_any",
    category: str | None = None,
    product: str | None = None,
    breached: bool = False,
    customer_id: int | None = None,
    limit: int = 200,
    within: Any = None,
) -> list[DeskRow]:
    """The complaints the caller may see, newest first (of the customers ``within``, a
    SELECT of ids, when given)."""
    now = utcnow()
    rows = repo.desk(
        session,
        status=status,
        category=category,
        product=product,
        breached_at=now if breached else None,
        customer_id=customer_id,
        owner_ids=customer_service.visible_owner_ids(principal),
        limit=limit,
        within=within,
    )
    return [DeskRow(c, cu, breach_of(c, now)) for c, cu in rows]


def page_desk(
    session: Session,
    principal: Principal,
    *,
    status: str | None = "open_any",
    category: str | None = None,
    product: str | None = None,
    breached: bool = False,
    customer_id: int | None = None,
    within: Any = None,
    page: PageParams,
    sort: str = "-opened",
) -> tuple[list[DeskRow], int]:
    """One page of the complaints the caller may see, sorted by one of ``repo.DESK_SORTS``
    (``-`` in front: descending), with how many match in all."""
    if sort.removeprefix("-") not in repo.DESK_SORTS:
        raise ValidationFailed(f"unknown sort {sort!r}", field="sort")
    now = utcnow()
    narrowing = _narrowing(
        principal, status=status, category=category, product=product, breached=breached,
        customer_id=customer_id, now=now, within=within,
    )  # fmt: skip
    total = repo.count_desk(session, **narrowing)
    rows = repo.desk(session, **narrowing, limit=page.size, offset=page.offset, sort=sort)
    return [DeskRow(c, cu, breach_of(c, now)) for c, cu in rows], total


def _narrowing(
    principal: Principal,
    *,
    status: str | None,
    category: str | None,
    product: str | None,
    breached: bool,
    customer_id: int | None,
    now: dt.datetime,
    within: Any = None,
) -> dict[str, Any]:
    return {
        "within": within,
        "status": status,
        "category": category,
        "product": product,
        "breached_at": now if breached else None,
        "customer_id": customer_id,
        "owner_ids": customer_service.visible_owner_ids(principal),
    }


def count_desk(session: Session, principal: Principal, **flt: Any) -> int:
    """How many complaints the desk's filters match (the desk without its limit)."""
    return repo.count_desk(session, **_narrowing(principal, now=utcnow(), **flt))


def export_desk(
    session: Session, principal: Principal, *, chunk: int, **flt: Any
) -> Iterator[dict[str, Any]]:
    """The desk's rows for a file (newest first), streamed; filters as ``desk`` takes them."""
    now = utcnow()
    rows = repo.desk_for_export(session, chunk=chunk, **_narrowing(principal, now=now, **flt))
    for c, kind, company_name, person_name in rows:
        yield {
            "id": c.id,
            "severity": c.severity,
            "customer_code": customer_code(c.customer_id),
            "customer_name": customer_service.shown_name(kind, company_name, person_name),
            "category": c.category,
            "product": c.product,
            "opened_at": c.opened_at,
            "respond_by": c.respond_by,
            "resolve_by": c.resolve_by,
            "status": c.status,
            "breach": breach_of(c, now),
            "description": c.description,
        }


def _complaint_or_raise(session: Session, principal: Principal, complaint_id: int) -> Complaint:
    complaint = repo.get_complaint(session, complaint_id, lock=True)
    if complaint is None:
        raise NotFound(f"no complaint {complaint_id}", field="complaint_id")
    # Not theirs: the same answer as missing, so ids reveal nothing.
    try:
        customer_service.get_customer_or_raise(session, principal, complaint.customer_id)
    except NotFound:
        raise NotFound(f"no complaint {complaint_id}", field="complaint_id") from None
    return complaint


def respond(session: Session, principal: Principal, complaint_id: int, text: str) -> Complaint:
    """Answer a complaint: the first answer meets (or misses) the response SLA."""
    complaint = _complaint_or_raise(session, principal, complaint_id)
    if complaint.status not in repo.OPEN:
        raise Conflict(f"the complaint is {complaint.status}", code="wrong_state")
    if complaint.responded_at is not None and complaint.response == text:
        return complaint  # the same answer again
    complaint.responded_at = complaint.responded_at or utcnow()
    complaint.response = text
    complaint.status = "in_progress"
    complaint.assigned_to_id = complaint.assigned_to_id or principal.user_id
    session.flush()
    _refresh(session, complaint.customer_id)
    return complaint


def resolve(
    session: Session, principal: Principal, complaint_id: int, text: str | None
) -> Complaint:
    """Resolve a complaint; the customer's indicators and rules see it at once."""
    complaint = _complaint_or_raise(session, principal, complaint_id)
    if complaint.status in ("resolved", "closed"):
        return complaint  # already: no change
    now = utcnow()
    complaint.status, complaint.resolved_at = "resolved", now
    complaint.responded_at = complaint.responded_at or now
    if text:
        complaint.response = text
    complaint.assigned_to_id = complaint.assigned_to_id or principal.user_id
    session.flush()
    _refresh(session, complaint.customer_id)
    return complaint


def assign(session: Session, principal: Principal, complaint_id: int, username: str) -> Complaint:
    """Give a complaint to a colleague who may work on it."""
    complaint = _complaint_or_raise(session, principal, complaint_id)
    user = users_repo.get_user_by_username(session, username)
    if user is None or not user.is_active:
        raise ValidationFailed(f"no active user {username!r}", field="username")
    colleague = principal_for(session, user, via="assignment")
    if not colleague.can(Permission.COMPLAINTS_WORK):
        raise ValidationFailed(f"{username} does not work complaints", field="username")
    try:
        customer_service.get_customer_or_raise(session, colleague, complaint.customer_id)
    except NotFound:
        raise ValidationFailed(
            f"{username} may not see this complaint's customer", field="username"
        ) from None
    complaint.assigned_to_id = user.id
    session.flush()
    return complaint


def _refresh(session: Session, customer_id: int) -> None:
    from riskdesk.indicators import service as indicator_service

    indicator_service.refresh(session, [customer_id])
    alert_service.evaluate(session, [customer_id])


# ---------------------------------------------------------------- product surges


@dataclass(frozen=True)
class SurgeConfig:
    """When complaints about one product count as a surge: at least ``min_count`` in the last
    ``window_days``, at least ``ratio`` times what the ``baseline_days`` before predict, and
    unlikely by chance (Poisson tail below ``p_value``)."""

    window_days: int = 14
    baseline_days: int = 84
    min_count: int = 5
    ratio: float = 2.0
    p_value: float = 0.001


def surges(
    frame: pl.DataFrame,
    as_of: dt.datetime,
    cfg: SurgeConfig,
    history_start: dt.datetime | None = None,
) -> pl.DataFrame:
    """Products whose complaints surged in the window ending at ``as_of``: one row each with
    the counts, the expected count, the Poisson tail probability and the severity.

    Nothing surges before the complaint record (from ``history_start``, its first complaint)
    covers the whole baseline: a product's first weeks of complaints have nothing to be
    compared with, and were read as a surge over an empty baseline."""
    start = as_of - dt.timedelta(days=cfg.window_days)
    base_start = start - dt.timedelta(days=cfg.baseline_days)
    if history_start is None or history_start > base_start:
        frame = frame.clear()
    recent = pl.col("opened_at") >= start
    counts = (
        frame.filter(pl.col("opened_at") >= base_start, pl.col("opened_at") < as_of)
        .group_by("product")
        .agg(
            recent.sum().alias("count"),
            (~recent).sum().alias("baseline"),
            pl.col("customer_id").filter(recent).n_unique().alias("customers"),
            pl.col("category").filter(recent).mode().first().alias("top_category"),
        )
        # A product never complained about before still has some chance of a first complaint.
        .with_columns(
            pl.max_horizontal(
                pl.col("baseline") * (cfg.window_days / cfg.baseline_days), pl.lit(0.5)
            ).alias("expected")
        )
        .filter(pl.col("count") >= cfg.min_count, pl.col("count") >= cfg.ratio * pl.col("expected"))
    )
    if counts.is_empty():
        return counts.with_columns(pl.lit(None, pl.Float64).alias("p_value"))
    tail = poisson.sf(counts["count"].to_numpy() - 1, counts["expected"].to_numpy())
    return (
        counts.with_columns(pl.Series("p_value", tail))
        .filter(pl.col("p_value") < cfg.p_value)
        .with_columns(
            pl.when((pl.col("count") >= 4 * pl.col("expected")) & (pl.col("count") >= 10))
            .then(pl.lit("critical"))
            .otherwise(pl.lit("high"))
            .alias("severity")
        )
        .sort("product")
    )


def detect_surges(
    session: Session,
    *,
    products: list[str] | None = None,
    now: dt.datetime | None = None,
    cfg: SurgeConfig | None = None,
) -> tuple[int, int]:
    """Raise (or refresh) a product-level alert for each product whose complaints surged;
    (raised, refreshed). ``products`` narrows the check to those just complained about."""
    cfg, now = cfg or SurgeConfig(), now or utcnow()
    if products is not None and not products:
        return 0, 0
    since = now - dt.timedelta(days=cfg.window_days + cfg.baseline_days)
    found = surges(
        repo.complaint_frame(session, since, products), now, cfg, repo.first_complaint_at(session)
    )
    hits = [
        (
            row["product"],
            row["severity"],
            {
                "product": row["product"],
                f"complaints_{cfg.window_days}d": row["count"],
                "expected": round(row["expected"], 2),
                f"baseline_{cfg.baseline_days}d": row["baseline"],
                "customers": row["customers"],
                "top_category": row["top_category"],
                "p_value": float(f"{row['p_value']:.3g}"),
            },
        )
        for row in found.iter_rows(named=True)  # the surging products, a handful
    ]
    return alert_service.raise_product_alerts(
        session,
        hits,
        code=SURGE_CODE,
        category="complaints",
        titles=SURGE_TITLES,
        dedup_days=cfg.window_days,
        now=now,
    )


def product_alerts(session: Session, *, open_only: bool = True, limit: int = 50) -> list[Alert]:
    """Product-level alerts, newest first."""
    return repo.product_alerts(session, open_only=open_only, limit=limit)


def product_alerts_among(
    session: Session,
    principal: Principal,
    *,
    within: Any,
    open_only: bool = True,
    limit: int = 50,
    cfg: SurgeConfig | None = None,
) -> list[tuple[Alert, int]]:
    """The product alerts that concern some customers (a region, a segment: ``within``, a
    SELECT of ids), newest first, each with how many complaints the ones the caller may see
    made about its product since the surge window before it was raised; the alerts they made
    none of are left out."""
    window = dt.timedelta(days=(cfg or SurgeConfig()).window_days)
    alerts = [
        a
        for a in repo.product_alerts(session, open_only=open_only, limit=limit)
        if a.product is not None
    ]
    if not alerts:
        return []
    opened = repo.weekly_counts(
        session,
        min(a.raised_at for a in alerts) - window,
        sorted({str(a.product) for a in alerts}),
        owner_ids=customer_service.visible_owner_ids(principal),
        within=within,
    )
    found = []
    for alert in alerts:  # at most ``limit``
        start = alert.raised_at - window
        n = sum(1 for product, at in opened if product == alert.product and at >= start)
        if n:
            found.append((alert, n))
    return found


def trend(
    session: Session, principal: Principal, *, weeks: int = 26, top: int = 6, within: Any = None
) -> dict[str, Any]:
    """Weekly complaint counts of the most complained-about products, for a chart: over the
    customers the desk lists (those the caller may see, of ``within`` when given)."""
    now = utcnow()
    since = now - dt.timedelta(weeks=weeks)
    mine: dict[str, Any] = {
        "owner_ids": customer_service.visible_owner_ids(principal),
        "within": within,
    }
    products = [p for p, _ in repo.top_products(session, since, top, **mine)]
    starts = [(since + dt.timedelta(weeks=w)).date() for w in range(weeks)]
    frame = pl.DataFrame(
        repo.weekly_counts(session, since, products, **mine) if products else [],
        schema={"product": pl.String, "opened_at": pl.Datetime("us", "UTC")},
        orient="row",
    ).with_columns(
        ((pl.col("opened_at") - pl.lit(since)).dt.total_days() // 7).cast(pl.Int64).alias("week")
    )
    counts = frame.group_by("product", "week").len()
    series = []
    for product in products:  # a handful of products
        weekly = dict(counts.filter(pl.col("product") == product).select("week", "len").iter_rows())
        series.append({"product": product, "counts": [int(weekly.get(w, 0)) for w in range(weeks)]})
    return {"weeks": [d.isoformat() for d in starts], "series": series}


def surveys_of(session: Session, customer_id: int, limit: int) -> list[SurveyResponse]:
    """A customer's latest survey answers (the caller checked they may see the customer)."""
    return repo.survey_history(session, customer_id, limit)
