"""Load the generated demo population through the normal intake, so it obeys every rule."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from riskdesk.company import service as company_service
from riskdesk.customers import repository as customer_repo
from riskdesk.customers import service as customer_service
from riskdesk.demo.generator import DemoData, generate
from riskdesk.indicators import service as indicator_service
from riskdesk.kit.intake import Item
from riskdesk.kit.timeutil import today
from riskdesk.models import Customer, DemoBehaviour
from riskdesk.pipeline.intake import KINDS, ingest_items
from riskdesk.security import repository as users_repo
from riskdesk.security import service as security_service
from riskdesk.security.permissions import Role

DEMO_PASSWORD = "Riskdesk-Demo-2026"  # noqa: S105  (published demo login)
DEMO_USERS: tuple[tuple[str, str, Role, str | None], ...] = (
    ("manager", "信用经理 Li Wei", Role.CREDIT_MANAGER, None),
    ("manager2", "信用经理 Zhou Min", Role.CREDIT_MANAGER, None),
    ("analyst", "风控专员 Chen Jing", Role.RISK_ANALYST, None),
    ("sales", "销售 Wang Fang", Role.SALES, "华东"),
    ("sales2", "销售 Zhao Lei", Role.SALES, "华北"),
    ("sales3", "销售 Sun Yu", Role.SALES, "华南"),
    ("service", "客服 Liu Yang", Role.CUSTOMER_SERVICE, "华东"),
    ("auditor", "审计 Huang Qing", Role.AUDITOR, None),
    ("admin", "管理员 Admin", Role.ADMIN, None),
)
DEMO_APPROVERS = ("manager", "manager2")
# A Chinese company's regions and teams, entered in Chinese (data is shown as entered).
DEMO_OWNERS = {"华东": ["sales"], "华北": ["sales2"], "华南": ["sales3"]}

DEMO_TIME_ZONE = "Asia/Shanghai"


@dataclass(frozen=True)
class DemoSummary:
    """What was loaded."""

    counts: dict[str, int]
    behaviours: dict[str, int]


def ensure_demo_users(session: Session) -> None:
    """Create the demo users that do not exist yet."""
    for username, name, role, team in DEMO_USERS:
        if users_repo.get_user_by_username(session, username) is None:
            security_service.create_user(
                session,
                username=username,
                display_name=name,
                role=role,
                password=DEMO_PASSWORD,
                team=team,
            )


def is_empty(session: Session) -> bool:
    """True when no customer exists yet."""
    return (session.scalar(select(func.count()).select_from(Customer)) or 0) == 0


def _records(data: DemoData, kind: str) -> list[dict[str, Any]]:
    if kind == "customers":
        groups = {g["code"]: g["name"] for g in data.groups}
        return [
            {**c, "group_name": groups.get(c["group_code"]) if c.get("group_code") else None}
            for c in data.customers
        ]
    if kind == "statements":
        return [{**s, "customer_source": "demo"} for s in data.statements]
    if kind == "credit_reports":
        return [{**r, "customer_source": "demo"} for r in data.credit_reports]
    return list(getattr(data, kind))


def _approve_creation_values(session: Session) -> int:
    """The demo loads as `manager`, whose own authority covers the generated limits; any beyond
    it waited like anyone's, and the second demo approver signs them off: the history shows who
    set each limit and who approved it. Returns how many were approved."""
    approver = users_repo.get_user_by_username(session, DEMO_APPROVERS[1])
    assert approver is not None
    principal = security_service.system_principal(session, approver)
    waiting = customer_repo.pending_change_ids(session, channel="demo")
    for change_id in waiting:
        customer_service.approve_change(session, principal, change_id, "demo load")
    return len(waiting)


def _score(
    session: Session, indicators: Any, as_of: dt.date | None, *, last_quarter: bool = False
) -> None:
    """Install the demo scorecard (drafted by manager, approved by manager2) and score all;
    ``last_quarter``: first as of the end of the quarter before, from the indicators as of
    then, so the rating migration has two quarters to compare."""
    from riskdesk.policy import service as _policy  # noqa: F401  (schedules reviews on scores)
    from riskdesk.scoring import service as scoring_service
    from riskdesk.scoring.schemas import ScorecardCreate

    spec = yaml.safe_load((Path(__file__).parent / "scorecard.yaml").read_text(encoding="utf-8"))
    author, approver = (users_repo.get_user_by_username(session, u) for u in DEMO_APPROVERS)
    assert author is not None and approver is not None
    _, draft, created = scoring_service.create_scorecard(
        session,
        security_service.system_principal(session, author),
        ScorecardCreate.model_validate(spec),
    )
    if created:
        scoring_service.approve(
            session, security_service.system_principal(session, approver), draft.id, "demo"
        )
    if last_quarter:
        from riskdesk.portfolio import migration

        _, previous_end, _ = migration.period(None, as_of or today())
        scoring_service.score_customers(
            session,
            None,
            trigger="demo",
            as_of=previous_end,
            indicators=indicator_service.compute_batch(session, as_of=previous_end),
        )
    scoring_service.score_customers(
        session, None, trigger="demo", as_of=as_of, indicators=indicators
    )
    # The default early-warning rules, run once over everyone.
    from riskdesk.alerts import service as alert_service
    from riskdesk.complaints import service as complaints_service
    from riskdesk.monitoring import service as monitoring_service

    # Churn is fitted first: the churn rule reads each customer's BG/NBD probability.
    monitoring_service.fit_churn(session, as_of=as_of)
    alert_service.install_default_pack(session)
    # A year's replay of the pack, as a scheduled one would have measured it: each warning
    # type's precision grades the severity of the alerts raised next.
    from riskdesk.monitoring import replay

    last = as_of or today()
    report = replay.run(session, start=last - dt.timedelta(days=365), end=last, every="month")
    replay.record(session, report, created_by_id=None)
    add_demo_routes(session)
    alert_service.evaluate(session, None, indicators=indicators, as_of=as_of)
    complaints_service.detect_surges(session)


# Who works the demo's alerts, as a credit team would set it: the risk analyst takes high and
# critical ones, the customer's sales owner the rest; a credit manager is escalated to when
# either is late. Without routes every alert went to sales, and the analyst's desk was empty.
DEMO_ROUTES: tuple[dict[str, Any], ...] = (
    {"position": 10, "min_severity": "high", "assign_to_owner": False, "username": "analyst",
     "escalate_to": "manager"},
    {"position": 100, "assign_to_owner": True, "escalate_to": "manager"},
)  # fmt: skip


def add_demo_routes(session: Session) -> None:
    """The demo's alert routing rules (the same again changes nothing)."""
    from riskdesk.alerts import service as alert_service
    from riskdesk.alerts.schemas import RouteIn

    for route in DEMO_ROUTES:
        alert_service.add_route(session, RouteIn.model_validate(route))


# Today's work waiting on day one (`riskdesk demo`): orders the credit check held, limit
# requests from sales and credit-file changes waiting for a second person, so each role's
# worklists and the practice walkthroughs have something to act on.
HELD_ORDERS = 6
LIMIT_REQUESTS = 4
PENDING_CHANGES = 2
_REQUEST_REASONS = (
    "年度采购计划扩大，申请提高信用额度",
    "新增门店，订货量预计增长约五成",
    "Seasonal peak: orders for the next quarter are already confirmed",
    "已签订年度框架合同，需匹配额度",
)


def add_todays_work(session: Session) -> dict[str, int]:
    """Put a morning's work on the demo's worklists, through the same services a person or
    an ERP uses: orders over the customer's limit entered by the customers' sales owners and
    held by the check, limit requests by the same owners, and limit changes by manager2 for
    manager (the demo's main login) to approve. The customers are the first active ones of
    each sales owner with a limit, in id order, so the same demo gets the same work. What was
    added, by kind."""
    from riskdesk.credit import service as credit_service
    from riskdesk.credit.schemas import CreditCheckIn
    from riskdesk.customers.schemas import CustomerUpdate
    from riskdesk.policy import service as policy_service
    from riskdesk.policy.schemas import LimitRequestIn

    # The second credit manager asks for the changes, so the first (the demo's main login)
    # approves them.
    manager2 = users_repo.get_user_by_username(session, "manager2")
    assert manager2 is not None
    by_manager2 = security_service.system_principal(session, manager2)
    owners = {
        u.id: u
        for name in ("sales", "sales2", "sales3")
        if (u := users_repo.get_user_by_username(session, name)) is not None
    }
    picked = customer_repo.demo_worklist_customers(
        session, sorted(owners), HELD_ORDERS + LIMIT_REQUESTS + PENDING_CHANGES
    )
    held, asked, changed = (
        picked[:HELD_ORDERS],
        picked[HELD_ORDERS : HELD_ORDERS + LIMIT_REQUESTS],
        picked[HELD_ORDERS + LIMIT_REQUESTS :],
    )
    for n, (customer, limit, currency, owner_id) in enumerate(held, start=1):
        # Entered by the customer's sales owner, so any credit manager may release it.
        sales = security_service.system_principal(session, owners[owner_id])
        body = CreditCheckIn(
            source="erp",
            order_external_id=f"DEMO-HOLD-{n}",
            customer_code=customer.code,
            amount=(limit * Decimal("1.25")).quantize(Decimal("1")),
            currency=currency,
        )
        credit_service.check_order(session, sales, body)
    for n, (customer, limit, currency, owner_id) in enumerate(asked):
        sales = security_service.system_principal(session, owners[owner_id])
        policy_service.request_limit(
            session,
            sales,
            customer.id,
            LimitRequestIn(
                requested_limit=(limit * Decimal("1.5")).quantize(Decimal("1000")),
                currency=currency,
                reason=_REQUEST_REASONS[n % len(_REQUEST_REASONS)],
            ),
        )
    for customer, limit, _, _ in changed:
        customer_service.update_customer(
            session,
            by_manager2,
            customer.id,
            CustomerUpdate(
                credit_limit=(limit * Decimal("0.8")).quantize(Decimal("1000")),
                reason="逾期增加，年度复核建议下调额度",
            ),
            channel="demo",
        )
    return {"held_orders": len(held), "limit_requests": len(asked), "pending_changes": len(changed)}


def add_ecl_runs(session: Session, end: dt.date) -> list[dt.date]:
    """Expected credit loss as of the last month end and as of ``end``, run by a credit manager
    as a month's close would, so the ECL page and the committee pack have a run and its
    movement to show on day one; the dates run (none with under six months of history)."""
    from riskdesk.ecl import service as ecl_service
    from riskdesk.kit.errors import ValidationFailed

    manager = users_repo.get_user_by_username(session, "manager")
    assert manager is not None
    principal = security_service.system_principal(session, manager)
    month_end = end.replace(day=1) - dt.timedelta(days=1)
    done: list[dt.date] = []
    for day in (month_end, end):
        try:
            plan = ecl_service.plan_run(session, as_of=day, lookback_months=ECL_LOOKBACK_MONTHS)
        except ValidationFailed:  # too little history for roll rates
            continue
        ecl_service.store_run(session, plan, principal)
        done.append(day)
    return done


ECL_LOOKBACK_MONTHS = 24  # the ECL form's default; a shorter demo uses what it has


def load_demo(
    session: Session,
    *,
    customers: int,
    months: int,
    seed: int,
    end_date: dt.date | None = None,
    on_kind: Callable[[str, int], None] | None = None,
    progress: Callable[[int], None] | None = None,
    last_quarter: bool = False,
) -> DemoSummary:
    """Generate and load a demo population in the caller's transaction (``last_quarter``:
    scored as of the previous quarter's end too, as `riskdesk demo` does)."""
    ensure_demo_users(session)
    manager = users_repo.get_user_by_username(session, "manager")
    assert manager is not None
    principal = security_service.system_principal(session, manager)
    # A Chinese company: its people read times on Shanghai's clock (as an administrator set it).
    admin = users_repo.get_user_by_username(session, "admin")
    if admin is not None:
        admin_principal = security_service.system_principal(session, admin)
        company_service.set_time_zone(session, admin_principal, DEMO_TIME_ZONE)
    data = generate(
        customers=customers,
        months=months,
        seed=seed,
        end_date=end_date or dt.date.today(),
        owners=DEMO_OWNERS,
    )
    counts: dict[str, int] = {}
    for kind in KINDS:  # references point backwards in this order
        if kind != "customers" and not hasattr(data, kind):
            continue  # the demo sends no corrections
        records = _records(data, kind)
        if on_kind:
            on_kind(kind, len(records))
        items = [Item(row=n, raw=r) for n, r in enumerate(records, start=1)]
        report = ingest_items(
            session,
            principal,
            kind,
            items,
            skip_invalid=False,
            channel="demo",
            progress=progress,
            refresh_indicators=False,
        )
        counts[kind] = report.created + (report.pending if kind == "customers" else 0)
        if kind == "customers":
            _approve_creation_values(session)
    refs = customer_repo.customer_ids_by_ref(
        session,
        {("demo", b["customer_external_id"]) for b in data.behaviours if b["customer_external_id"]},
    )
    session.add_all(
        DemoBehaviour(
            customer_id=refs.get(("demo", b["customer_external_id"]))
            if b["customer_external_id"]
            else None,
            behaviour=b["behaviour"],
            onset_date=b["onset_date"],
            detail=b["detail"],
        )
        for b in data.behaviours
    )
    session.flush()
    # One batch pass instead of a refresh per kind, then the demo scorecard scores everyone.
    indicators = indicator_service.run_batch_frame(session, as_of=end_date)
    _score(session, indicators, end_date, last_quarter=last_quarter)
    tally: dict[str, int] = {}
    for b in data.behaviours:
        tally[b["behaviour"]] = tally.get(b["behaviour"], 0) + 1
    return DemoSummary(counts=counts, behaviours=tally)
