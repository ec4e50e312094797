"""The pages: login, customers, credit file, approvals, imports, duplicates."""

from __future__ import annotations

import contextlib
import datetime as dt
import hmac
import json
import secrets
import threading
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, quote, urlencode

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from riskdesk.alerts import service as alert_service
from riskdesk.alerts.endpoints import Blank
from riskdesk.audit.trail import context_of, set_context
from riskdesk.complaints import service as complaints_service
from riskdesk.credit import service as credit_service
from riskdesk.credit.schemas import GroupLimitIn
from riskdesk.customers import repository as customer_repo
from riskdesk.customers import service as customer_service
from riskdesk.customers.endpoints import duplicate_candidates
from riskdesk.customers.repository import CustomerFilter
from riskdesk.customers.schemas import ContactCreate, CustomerUpdate, RevealRequest
from riskdesk.db import SessionDep
from riskdesk.events import repository as event_repo
from riskdesk.indicators import service as indicator_service
from riskdesk.indicators.catalogue import AGEING_BUCKETS
from riskdesk.indicators.catalogue import CATALOGUE as INDICATOR_CATALOGUE
from riskdesk.jobs import service as job_service
from riskdesk.kit.encodings import check_encoding_name
from riskdesk.kit.errors import (
    NotAuthenticated,
    NotFound,
    PayloadTooLarge,
    RiskdeskError,
    ValidationFailed,
)
from riskdesk.kit.pagination import PageParams
from riskdesk.kit.tabular import ColumnMapping
from riskdesk.kit.timeutil import today, utcnow
from riskdesk.kit.validation import (
    DB_ID_MAX,
    BusinessDate,
    DbId,
    PathId,
    details_from_validation_error,
)
from riskdesk.models import Job
from riskdesk.monitoring import service as monitoring_service
from riskdesk.monitoring import warning_types
from riskdesk.monitoring.rules import RuleError, compile_rule
from riskdesk.monitoring.schemas import BacktestIn, ReplayIn, RuleIn
from riskdesk.pipeline import guide as import_guide
from riskdesk.pipeline import intake, mappings, processing
from riskdesk.pipeline import merge as merge_pipeline
from riskdesk.pipeline import repository as import_repo
from riskdesk.pipeline.deps import ProgressBoardDep
from riskdesk.pipeline.endpoints import read_upload, template_response
from riskdesk.policy import service as policy_service
from riskdesk.policy.schemas import LimitRequestIn, RecommendationRead, ReviewComplete
from riskdesk.portfolio import migration as migration_service
from riskdesk.portfolio import service as portfolio_service
from riskdesk.portfolio.schemas import PortfolioFilter
from riskdesk.privacy import repository as privacy_repo
from riskdesk.privacy import service as privacy_service
from riskdesk.scoring import registry
from riskdesk.scoring import service as scoring_service
from riskdesk.security import repository as users_repo
from riskdesk.security import service as security_service
from riskdesk.security.deps import (
    SESSION_COOKIE,
    CanAlertsWork,
    CanChangesApprove,
    CanCreditDecisionsResolve,
    CanCreditPolicyManage,
    CanCustomersMerge,
    CanCustomersRead,
    CanCustomersWrite,
    CanDocumentsWrite,
    CanEventsWrite,
    CanImportsRun,
    CanLimitRequestsCreate,
    CanPersonalDataReveal,
    CanReviewsPerform,
    CanRulesManage,
    CanScoringManage,
    CurrentPrincipal,
    cookie_serializer,
    landing_after_sign_in,
)
from riskdesk.security.permissions import Permission
from riskdesk.security.service import Principal
from riskdesk.security.throttle import LoginThrottle
from riskdesk.ui import home_pages, import_view, relationship_panel
from riskdesk.ui.i18n import LANG_COOKIE, LOCALES, Translator, pick_locale
from riskdesk.ui.render import Reason, format_day, indicator_label, render, rule_error_text

router = APIRouter(include_in_schema=False)
PRE_CSRF_COOKIE = "rd_login_csrf"


async def form_data(request: Request) -> FormData:
    """The posted form, read before a (thread-pool) page handler runs."""
    return await request.form()


FormDep = Annotated[FormData, Depends(form_data)]


def customer_scope(
    region: Annotated[str | None, Query(max_length=64)] = None,
    segment: Annotated[str | None, Query(max_length=64)] = None,
    owner_id: Annotated[DbId | None, Blank, Query()] = None,
    tier: Annotated[str | None, Query(max_length=16)] = None,
    industry: Annotated[str | None, Query(max_length=64)] = None,
) -> CustomerFilter | None:
    """The portfolio's customer filters on a work list it links to (None: not filtered)."""
    flt = CustomerFilter(
        region=region or None,
        segment=segment or None,
        owner_id=owner_id,
        risk_tier=tier or None,
        industry=industry or None,
    )
    return flt if flt != CustomerFilter() else None


ScopeDep = Annotated[CustomerFilter | None, Depends(customer_scope)]


def within_scope(scope: CustomerFilter | None) -> Any:
    # Visibility is applied by each list itself; this only narrows.
    return customer_repo.matching_ids(scope) if scope is not None else None


def _scope_query(shown: dict[str, tuple[str, str]], **extra: str) -> str:
    """A work list's filters (as ``_scope_shown`` gives them) as a query, for its export: the
    file holds what the list shows."""
    return urlencode({k: v for k, (v, _) in shown.items()} | extra)


def _scope_shown(
    session: Any, scope: CustomerFilter | None, **extra: str | None
) -> dict[str, tuple[str, str]]:
    """The scope (and ``extra`` filters) as query name -> (value, what the page shows): kept
    in the page's forms and shown above its list. An owner shows by name."""
    values: dict[str, Any] = dict(extra)
    if scope is not None:
        values |= {
            "region": scope.region,
            "segment": scope.segment,
            "owner_id": scope.owner_id,
            "tier": scope.risk_tier,
            "industry": scope.industry,
        }
    shown: dict[str, tuple[str, str]] = {}
    for key, value in values.items():
        if not value:
            continue
        text = str(value)
        if key == "owner_id":
            owner = users_repo.get_user(session, int(value))
            text = owner.display_name if owner else text
        shown[key] = (str(value), text)
    return shown


DECISION_STATUSES = ("approved", "held", "rejected", "released", "consumed")
TREND_INDICATORS = ("orders_amount_30d", "dpd_max", "paydex", "return_rate_90d")
EDIT_FIELDS = (
    "name",
    "tax_id",
    "national_id",
    "phone",
    "email",
    "address",
    "bank_account",
    "segment",
    "industry",
    "region",
    "owner",
    "status",
    "credit_limit",
    "limit_currency",
    "limit_valid_from",
    "limit_valid_to",
    "payment_terms_days",
    "prepayment_required",
    "rating_override",
    "blocked",
    "blocked_reason",
    "next_review_date",
)
CHECKBOXES = ("prepayment_required", "blocked")


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an open redirect would let a link send users anywhere after login.
    # Without one, the role's home (/ sends each role to its own).
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


FormErrors = list[tuple[str | None, str]]


def filled(form: FormData, names: tuple[str, ...]) -> dict[str, Any]:
    """The named fields the user filled in, trimmed (an empty field is no value)."""
    return {k: v.strip() for k in names if isinstance(v := form.get(k), str) and v.strip()}


def _form_failure(session: Any, exc: Exception) -> tuple[int, FormErrors]:
    """Status and field errors of a refused form: invalid input, or a refusal by the service
    (rolled back, so nothing is half-written)."""
    if isinstance(exc, ValidationError):
        return 422, [(d.field, Reason.of_detail(d)) for d in details_from_validation_error(exc)]
    assert isinstance(exc, RiskdeskError)
    session.rollback()
    return exc.status_code, [(exc.field, Reason.of_error(exc))]


# ---------------------------------------------------------------- sign in and out


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None, error: str | None = None) -> Response:
    """The sign-in form."""
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        None,
        next=_safe_next(next),
        login_csrf=token,
        error=error if error == "failed" else None,
    )
    response.set_cookie(
        PRE_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.app.state.settings.cookie_secure,
        max_age=3600,
    )
    return response


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    csrf_token: Annotated[str, Form(max_length=100)],
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    """Check the credentials and start a session."""
    expected = request.cookies.get(PRE_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, csrf_token):
        return RedirectResponse(f"/login?next={quote(_safe_next(next))}", status_code=303)
    throttle: LoginThrottle = request.app.state.login_throttle
    address = request.client.host if request.client else "unknown"
    wait = throttle.retry_after(session, address)
    if wait is not None:
        refused = render(
            request, "login.html", None, status_code=429, next=_safe_next(next), error="throttled"
        )
        refused.headers["Retry-After"] = str(wait)
        return refused
    settings = request.app.state.settings
    try:
        user = security_service.authenticate(
            session,
            username=username,
            password=password,
            policy=security_service.LockoutPolicy.from_settings(settings),
        )
        set_context(session, actor_id=user.id, actor=user.username)
    except NotAuthenticated:
        throttle.failed(session, address)
        session.commit()  # keep the failed-login count even though we answer with an error
        # One answer for a wrong password, an unknown name and a locked or disabled account.
        return RedirectResponse(
            f"/login?error=failed&next={quote(_safe_next(next))}", status_code=303
        )
    row = security_service.start_session(session, user=user, hours=settings.session_hours)
    response = RedirectResponse(landing_after_sign_in(user, _safe_next(next)), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie_serializer(request).dumps(row.id),
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        max_age=settings.session_hours * 3600,
    )
    response.delete_cookie(PRE_CSRF_COOKIE)
    return response


@router.post("/logout")
def logout(session: SessionDep, principal: CurrentPrincipal) -> Response:
    """End the session."""
    if principal.session_id:
        security_service.end_session(session, principal.session_id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/lang/{locale}")
def set_language(locale: str, next: str | None = None) -> Response:
    """Switch the UI language."""
    response = RedirectResponse(_safe_next(next), status_code=303)
    if locale in LOCALES:
        response.set_cookie(LANG_COOKIE, locale, max_age=365 * 86400, samesite="lax")
    return response


@router.get("/")
def home(principal: CurrentPrincipal) -> Response:
    """Start at the role's home page (credit managers: the portfolio); without the
    permission that page needs, at the customer list."""
    return RedirectResponse(home_pages.home_of(principal), status_code=303)


# ---------------------------------------------------------------- customers


def page_customer_filter(
    q: Annotated[str | None, Query(max_length=200)] = None,
    kind: Annotated[str | None, Query(max_length=16)] = None,
    segment: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    blocked: Annotated[str | None, Query(max_length=5)] = None,
    region: Annotated[str | None, Query(max_length=64)] = None,
    tier: Annotated[str | None, Query(max_length=16)] = None,
    industry: Annotated[str | None, Query(max_length=64)] = None,
    owner_id: Annotated[DbId | None, Blank, Query()] = None,
    group: Annotated[str | None, Query(max_length=64)] = None,
    utilisation: Annotated[
        str | None, Query(pattern="^(|no_limit|under_50|50_80|80_100|over_100)$")
    ] = None,
    ageing: Annotated[
        str | None, Query(pattern="^(|current|1_30|31_60|61_90|over_90|overdue)$")
    ] = None,
    rating: Annotated[str | None, Query(max_length=16)] = None,
    rating_from: Annotated[str | None, Query(max_length=16)] = None,
    quarter: Annotated[str | None, Query(pattern=r"^(|\d{4}Q[1-4])$")] = None,
    *,
    principal: CanCustomersRead,
) -> tuple[CustomerFilter, dict[str, str]]:
    """The customer page's filter (form fields, blank for "all") and its fields as given (the
    page's and its export's); the portfolio's figures link here with their filters (a
    utilisation band, an ageing bucket, a group, a cell of the rating migration)."""
    # The portfolio's bands and buckets are worked out by the portfolio over the same scope.
    within = None
    scope = PortfolioFilter(
        region=region or None,
        segment=segment or None,
        owner_id=owner_id,
        tier=tier or None,
        industry=industry or None,
    )
    if utilisation:
        within = portfolio_service.customers_in_band(principal, scope, utilisation)
    if ageing:
        by_age = portfolio_service.customers_in_bucket(principal, scope, ageing)
        within = by_age if within is None else by_age.where(by_age.selected_columns[0].in_(within))
    if rating:
        # A cell of the rating migration: the latest settled rating at the quarter's end (this
        # quarter: today), and at the end of the quarter before when ``rating_from`` is given.
        rated = migration_service.customers_in_cell(
            principal, scope, rating_to=rating, rating_from=rating_from or None, quarter=quarter
        )
        within = rated if within is None else rated.where(rated.selected_columns[0].in_(within))
    flt = CustomerFilter(
        q=q or None,
        kind=kind if kind in ("company", "individual") else None,
        segment=segment or None,
        region=region or None,
        risk_tier=tier or None,
        industry=industry or None,
        owner_id=owner_id,
        group_code=group or None,
        within=within,
        status=status or None,
        blocked={"true": True, "false": False}.get(blocked or ""),
        include_merged=status == "merged",
    )
    params = {
        "q": q or "",
        "kind": kind or "",
        "segment": segment or "",
        "status": status or "",
        "blocked": blocked or "",
        "region": region or "",
        "tier": tier or "",
        "industry": industry or "",
        "owner_id": str(owner_id or ""),
        "group": group or "",
        "utilisation": utilisation or "",
        "ageing": ageing or "",
        "rating": rating or "",
        "rating_from": (rating_from or "") if rating else "",
        "quarter": (quarter or "") if rating else "",
    }
    return flt, params


PageCustomerFilter = Annotated[tuple[CustomerFilter, dict[str, str]], Depends(page_customer_filter)]


@router.get("/customers", response_class=HTMLResponse)
def customers_page(
    request: Request,
    session: SessionDep,
    principal: CanCustomersRead,
    chosen: PageCustomerFilter,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    sort: Annotated[
        str, Query(pattern="^-?(|name|score|utilisation|exposure|alerts)$", max_length=16)
    ] = "",
) -> Response:
    """The customer list with search, filters, sorting and paging."""
    flt, filters = chosen
    sort = "" if sort == "-" else sort
    params = {**filters, "sort": sort}
    result = customer_service.list_customers(
        session, principal, flt=flt, page=PageParams(page, 25), sort=sort
    )
    template = (
        "partials/customer_table.html" if request.headers.get("HX-Request") else "customers.html"
    )
    return render(
        request,
        template,
        principal,
        result=result,
        params=params,
        options=portfolio_service.filter_options(session, principal),
        query="&".join(f"{k}={quote(v)}" for k, v in params.items() if v),
        # The file is streamed by id: the sort is the screen's alone.
        export_query="&".join(f"{k}={quote(v)}" for k, v in filters.items() if v),
        filter_query="&".join(f"{k}={quote(v)}" for k, v in filters.items() if v),
    )


def _monthly_orders(session: Any, customer_id: PathId) -> dict[str, Any]:
    totals: dict[tuple[int, int], float] = {}
    for when, amount in event_repo.order_history(session, customer_id):
        key = (when.year, when.month)
        totals[key] = totals.get(key, 0.0) + float(amount)
    if not totals:
        return {"months": [], "amounts": []}
    # The last 24 months up to the latest order, quiet months as zero. Walked back from the
    # last one, by numbers: stored dates may lie centuries apart (0001-01-01, 9999-12-31).
    first = min(totals)
    year, month = max(totals)
    months: list[tuple[int, int]] = []
    while len(months) < 24 and (year, month) >= first:
        months.append((year, month))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    months.reverse()
    return {
        "months": [f"{y:04d}-{m:02d}" for y, m in months],
        "amounts": [round(totals.get(m, 0.0), 2) for m in months],
    }


def _credit_file(
    request: Request,
    session: Any,
    principal: Any,
    customer_id: PathId,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    customer = customer_service.read_customer(session, principal, customer_id)
    exposure = credit_service.exposure_read(session, principal, customer_id)
    snapshot = indicator_service.snapshot_read(indicator_service.get_snapshot(session, customer_id))
    values = {i.name: i.value for i in snapshot.indicators}
    locale = pick_locale(request, request.app.state.settings.default_locale)
    t = Translator(locale)
    ageing = {
        "labels": [t("report.bucket.current"), "1-30", "31-60", "61-90", "91-120", ">120"],
        "values": [round(values.get(f"ar_{b}") or 0.0, 2) for b in AGEING_BUCKETS],
    }
    trend = (
        indicator_service.trend(session, customer_id, TREND_INDICATORS) if snapshot.as_of else None
    )
    can_docs = principal.can(Permission.DOCUMENTS_READ)
    can_events = principal.can(Permission.EVENTS_READ)
    scores = scoring_service.history(session, principal, customer_id, 24)
    score_chart = (
        json.dumps(
            {
                "dates": [format_day(s.scored_at) for s in reversed(scores)],
                "series": {t("field.score"): [s.score for s in reversed(scores)]},
            }
        )
        if len(scores) > 1
        else None
    )
    return render(
        request,
        "customer.html",
        principal,
        status_code=status_code,
        c=customer,
        contacts=customer_service.contacts(session, principal, customer_id),
        can_reveal=principal.can(Permission.PII_REVEAL),
        privacy=privacy_service.consent_status(session, principal, customer_id),
        can_privacy=principal.can(Permission.PRIVACY_MANAGE),
        holds=privacy_repo.holds_of(session, customer_id)
        if principal.can(Permission.PRIVACY_MANAGE)
        else [],
        revealed=extra.pop("revealed", None),
        statements=customer_repo.statements_of(session, customer_id),
        reports=customer_service.reports(session, principal, customer_id),
        documents=customer_repo.documents_of(session, customer_id) if can_docs else [],
        events=event_repo.recent_events(session, customer_id, 30) if can_events else [],
        history=customer_service.history(session, principal, customer_id),
        pending=customer_service.list_pending(session, principal, customer_id=customer_id),
        chart=json.dumps(_monthly_orders(session, customer_id)) if can_events else None,
        can_edit=principal.can(Permission.CUSTOMERS_WRITE),
        can_edit_profile=principal.can(Permission.CREDIT_PROFILE_WRITE),
        can_attach=principal.can(Permission.DOCUMENTS_WRITE),
        can_correct=principal.can(Permission.EVENTS_WRITE),
        correction_kinds=CORRECTION_FORMS,
        exposure=exposure,
        gauge=json.dumps({"value": round((exposure.utilisation or 0) * 100, 1)}),
        ageing=json.dumps(ageing),
        indicators=snapshot,
        trends=[
            (
                name,
                json.dumps(
                    {
                        "dates": trend["dates"],
                        # Named by the indicator's label: the chart's tooltip shows it.
                        "series": {
                            indicator_label(name, locale): [
                                round(v, 2) if v is not None else None for v in trend[name]
                            ]
                        },
                    }
                ),
            )
            for name in TREND_INDICATORS
        ]
        if trend
        else [],
        decisions=credit_service.list_decisions(session, principal, customer_id=customer_id)[:50],
        scores=scores,
        alerts=alert_service.list_alerts(session, principal, customer_id=customer_id)[:20],
        recommendation=RecommendationRead.model_validate(
            policy_service.recommendation_for(session, principal, customer_id)
        ),
        limit_requests=policy_service.list_requests(session, principal, customer_id=customer_id)[
            :20
        ],
        can_request_limit=principal.can(Permission.LIMIT_REQUESTS_CREATE),
        score_cards=scoring_service.version_labels(
            session, [s.scorecard_version_id for s in scores]
        ),
        score_chart=score_chart,
        can_score=principal.can(Permission.SCORING_MANAGE),
        # Interactions and contracts (a refused log form comes back as it was sent).
        relationship=relationship_panel.panel(
            session, principal, customer_id, **extra.pop("relationship_form", {})
        ),
        **_churn_and_satisfaction(session, principal, customer_id, values),
        **extra,
    )


def _churn_and_satisfaction(
    session: Any, principal: Any, customer_id: int, values: dict[str, float | None]
) -> dict[str, Any]:
    fit, churn = monitoring_service.churn_risk_of(session, principal, customer_id)
    can_events = principal.can(Permission.EVENTS_READ)
    return {
        "churn": {
            k: churn.get(k) for k in ("p_alive", "expected_purchases", "decline", "risk", "band")
        },
        "churn_fit": fit,
        "satisfaction": {
            "csat": values.get("csat_latest"),
            "nps": values.get("nps_latest"),
            "trend": values.get("satisfaction_trend"),
            "open_complaints": int(values.get("complaints_open") or 0),
            "answers": complaints_service.surveys_of(session, customer_id, 10)
            if can_events
            else [],
        },
        "complaints": complaints_service.desk(
            session, principal, status=None, customer_id=customer_id, limit=10
        )
        if can_events
        else [],
    }


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
def customer_page(
    request: Request,
    customer_id: PathId,
    session: SessionDep,
    principal: CanCustomersRead,
    ok: Annotated[str | None, Query(max_length=20)] = None,
    n: Annotated[int, Query(ge=0, le=1000)] = 0,
    fields: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """One credit file."""
    queued = [f for f in (fields or "").split(",") if f in EDIT_FIELDS]
    return _credit_file(
        request, session, principal, customer_id, ok=ok, applied_count=n, queued=queued
    )


@router.post("/customers/{customer_id}/score")
def score_customer_now(
    request: Request, customer_id: PathId, session: SessionDep, principal: CanScoringManage
) -> Response:
    """Score one customer now with the active scorecard that fits."""
    try:
        scoring_service.score_one_customer(session, principal, customer_id)
    except RiskdeskError as exc:
        status, errors = _form_failure(session, exc)
        return _credit_file(
            request, session, principal, customer_id, status_code=status, form_errors=errors
        )
    return RedirectResponse(f"/customers/{customer_id}#score-panel", status_code=303)


@router.post("/customers/{customer_id}/limit-requests", response_class=HTMLResponse)
def request_limit(
    request: Request,
    customer_id: PathId,
    session: SessionDep,
    principal: CanLimitRequestsCreate,
    form: FormDep,
) -> Response:
    """Ask for a new credit limit from the credit file."""
    data = filled(form, ("requested_limit", "currency", "reason"))
    try:
        body = LimitRequestIn.model_validate(data)
        policy_service.request_limit(session, principal, customer_id, body)
    except (ValidationError, RiskdeskError) as exc:
        status, errors = _form_failure(session, exc)
        return _credit_file(
            request,
            session,
            principal,
            customer_id,
            status_code=status,
            form_errors=errors,
        )
    return RedirectResponse(f"/customers/{customer_id}#limit-panel", status_code=303)


@router.post("/customers/{customer_id}/limit-recommendation/apply")
def apply_recommendation(
    request: Request, customer_id: PathId, session: SessionDep, principal: CanLimitRequestsCreate
) -> Response:
    """Act on the policy's recommendation."""
    try:
        policy_service.apply_recommendation(session, principal, customer_id)
    except RiskdeskError as exc:
        status, errors = _form_failure(session, exc)
        return _credit_file(
            request, session, principal, customer_id, status_code=status, form_errors=errors
        )
    return RedirectResponse(f"/customers/{customer_id}#limit-panel", status_code=303)


@router.get("/limit-requests", response_class=HTMLResponse)
def limit_requests_page(
    request: Request,
    session: SessionDep,
    principal: CanCustomersRead,
    scope: ScopeDep,
    done: Annotated[int | None, Query(ge=1)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    sort: Annotated[str, Query(pattern="^-?(requested|amount|expires)$")] = "-requested",
) -> Response:
    """Limit requests waiting for a decision (of a region, a tier, ... when asked), a page at a
    time, newest first or by amount or expiry."""
    pending, total = policy_service.page_requests(
        session, principal, status="pending", within=within_scope(scope),
        page=PageParams(page, LIST_PAGE_SIZE), sort=sort,
    )  # fmt: skip
    customers = customer_repo.customers_with_profiles(
        session, sorted({r.customer_id for r in pending})
    )
    people = {
        uid: users_repo.get_user(session, uid) for uid in {r.requested_by_id for r in pending}
    }
    shown = _scope_shown(session, scope)
    return render(
        request,
        "limit_requests.html",
        principal,
        pending=pending,
        names={cid: (c.code, c.name) for cid, (c, _) in customers.items()},
        people={uid: (u.display_name if u else str(uid)) for uid, u in people.items()},
        done=done,
        done_status=status if status in ("approved", "rejected", "withdrawn") else None,
        can_approve=principal.can(Permission.LIMIT_REQUESTS_APPROVE),
        scope=shown,
        pager=_pager("/limit-requests", shown, sort, page, total),
        sorts=("-requested", "requested", "-amount", "amount", "expires"),
        export_query=_scope_query(shown),
    )


LIST_PAGE_SIZE = 25


def _pager(
    path: str, scope: dict[str, tuple[str, str]], sort: str, page: int, total: int
) -> dict[str, Any]:
    """What partials/pager.html needs: the list's address with its scope and sort (each page
    link adds its page), the page, how many pages and rows."""
    params = {k: str(value) for k, (value, _) in scope.items()} | {"sort": sort}
    return {
        "path": path,
        "query": urlencode(params),
        "scope": {k: v for k, v in params.items() if k != "sort"},
        "sort": sort,
        "page": page,
        "pages": max(1, -(-total // LIST_PAGE_SIZE)),
        "total": total,
        "first": (page - 1) * LIST_PAGE_SIZE + 1,
    }


@router.post("/limit-requests/{request_id}/{action}")
def decide_limit_request(
    request_id: PathId,
    action: str,
    session: SessionDep,
    principal: CanLimitRequestsCreate,
    comment: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    """Approve (within one's authority) or reject a limit request; withdraw one's own."""
    if action == "approve":
        decided = policy_service.approve(session, principal, request_id, comment)
    elif action == "reject":
        decided = policy_service.reject(session, principal, request_id, comment)
    else:
        raise ValidationFailed(f"unknown action {action!r}", field="action")
    return RedirectResponse(
        f"/limit-requests?done={request_id}&status={decided.status}", status_code=303
    )


WARNING_TYPES = warning_types.CODES
ALERT_CATEGORIES = (
    "purchase",
    "payment",
    "receivables",
    "exposure",
    "score",
    "returns",
    "complaints",
    "satisfaction",
    "churn",
    "other",
)


ALERT_PAGE_SIZES = (25, 50, 100, 200)
_BULK_IDS = "^[0-9]{1,10}(,[0-9]{1,10}){0,199}$"
_BULK_REFUSED = "^[0-9]{1,10}:[a-z_]{1,32}(,[0-9]{1,10}:[a-z_]{1,32}){0,199}$"
# The query names the queue keeps in its address: filters, sort, page and page size.
QUEUE_KEYS = (
    "status", "severity", "category", "warning_type", "observed_from", "observed_to",
    "outcome", "sla", "code", "assigned", "region", "segment", "owner_id", "tier", "industry",
    "order", "size", "page",
)  # fmt: skip


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(
    request: Request,
    session: SessionDep,
    principal: CanCustomersRead,
    scope: ScopeDep,
    status: Annotated[
        str,
        Query(
            pattern="^(open|acknowledged|in_progress|resolved|dismissed|open_any|worked|closed|any)$"
        ),
    ] = "open_any",
    severity: Annotated[str | None, Query(pattern="^(|low|medium|high|critical)$")] = None,
    category: Annotated[str | None, Query(max_length=32)] = None,
    warning_type: Annotated[str | None, Query(max_length=32)] = None,
    observed_from: Annotated[BusinessDate | None, Blank, Query()] = None,
    observed_to: Annotated[BusinessDate | None, Blank, Query()] = None,
    done: Annotated[int | None, Query(ge=1)] = None,
    order: Annotated[
        Literal["priority", "recent", "raised", "severity", "due"], Query()
    ] = "priority",
    outcome: Annotated[str | None, Query(pattern="^(|confirmed|false_alarm)$")] = None,
    sla: Annotated[str | None, Query(pattern="^(|breached)$")] = None,
    code: Annotated[str | None, Query(max_length=64)] = None,
    assigned: Annotated[str | None, Query(pattern="^(|me|team)$")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    size: Annotated[int, Query(ge=1, le=200)] = 50,
    bulk: Annotated[str | None, Query(pattern="^(acknowledge|assign|resolve|dismiss)$")] = None,
    bulk_done: Annotated[str | None, Query(pattern=_BULK_IDS)] = None,
    bulk_same: Annotated[str | None, Query(pattern=_BULK_IDS)] = None,
    bulk_refused: Annotated[str | None, Query(pattern=_BULK_REFUSED)] = None,
) -> Response:
    """The alert queue, a page at a time with the total, in the chosen order (the most at
    stake, recently hit, recently raised, most severe, soonest due), with filters, the
    assignee, due time and SLA of each alert, bulk actions and a download of what the
    filters match. Filters, order and page are all in the address, to bookmark or share."""
    if observed_from and observed_to and observed_from > observed_to:
        raise ValidationFailed("observed_from lies after observed_to", field="observed_from")
    if size not in ALERT_PAGE_SIZES:
        raise ValidationFailed(f"the page size is one of {ALERT_PAGE_SIZES}", field="size")
    category = category if category in ALERT_CATEGORIES else None
    warning_type = warning_type if warning_type in WARNING_TYPES else None
    now = utcnow()
    flt = alert_service.AlertFilter(
        status=status,
        severity=severity or None,
        category=category,
        warning_types=(warning_type,) if warning_type else (),
        codes=(code,) if code else (),
        observed_from=observed_from,
        observed_to=observed_to,
        outcome=outcome or None,
        breached_at=now if sla else None,
        within=within_scope(scope),
        assigned_to=alert_service.assignees(principal, assigned),
    )
    alerts, total = alert_service.queue(
        session, principal, flt, sort=order, page=PageParams(page=page, size=size)
    )
    pages = max(1, -(-total // size))
    stakes = alert_service.case_priorities(
        session, sorted({a.case_id for a in alerts if a.case_id is not None})
    )
    sla_hours = alert_service.sla_hours(session)  # what "due soon" means, per severity
    shown = {
        "status": status,
        "severity": severity,
        "category": category,
        "warning_type": warning_type,
        "observed_from": observed_from.isoformat() if observed_from else None,
        "observed_to": observed_to.isoformat() if observed_to else None,
        "outcome": outcome or None,
        "sla": sla or None,
        "code": code or None,
        "assigned": assigned or None,
        **{k: v for k, (v, _) in _scope_shown(session, scope).items()},
    }
    customers = customer_repo.customers_with_profiles(
        session, sorted({a.customer_id for a in alerts if a.customer_id is not None})
    )
    people = users_repo.users_by_ids(
        session, sorted({a.assigned_to_id for a in alerts if a.assigned_to_id is not None})
    )
    shown_scope = _scope_shown(
        session, scope, outcome=outcome, sla=sla, code=code, assigned=assigned or None
    )
    if code and (rule := monitoring_service.get_rule(session, code)) is not None:
        # The rule by its name in the reader's language, not its code.
        zh = pick_locale(request, request.app.state.settings.default_locale) == "zh-CN"
        shown_scope["code"] = (code, rule.name_zh if zh else rule.name_en)
    # The view's address without its page: each pager link and sort adds its own.
    view = {k: v for k, v in shown.items() if v} | {"order": order, "size": str(size)}
    can_work = principal.can(Permission.ALERTS_WORK)
    return render(
        request,
        "alerts.html",
        principal,
        alerts=alerts,
        total=total,
        page=page,
        pages=pages,
        size=size,
        sizes=ALERT_PAGE_SIZES,
        first_row=(page - 1) * size + 1 if alerts else 0,
        view_query=urlencode(view),
        this_query=urlencode(view | {"page": str(page)}),
        names={cid: (c.code, c.name) for cid, (c, _) in customers.items()},
        assignee_names={u.id: u.display_name or u.username for u in people},
        sla={a.id: alert_service.sla_state(a, now, hours=sla_hours) for a in alerts},
        status=status,
        severity=severity,
        category=category,
        categories=ALERT_CATEGORIES,
        warning_type=warning_type,
        warning_types=WARNING_TYPES,
        observed_from=shown["observed_from"],
        observed_to=shown["observed_to"],
        export_query=urlencode({k: v for k, v in shown.items() if v}),
        done=done,
        can_work=can_work,
        assignable=alert_service.assignable_users(session, principal) if can_work else [],
        order=order,
        orders=alert_service.QUEUE_SORTS,
        stakes=stakes,
        scope=shown_scope,
        bulk=bulk,
        bulk_done=bulk_done.split(",") if bulk_done else [],
        bulk_same=bulk_same.split(",") if bulk_same else [],
        bulk_refused=[r.split(":") for r in bulk_refused.split(",")] if bulk_refused else [],
    )


@router.post("/alerts/{alert_id}/move")
def move_alert(
    alert_id: PathId,
    session: SessionDep,
    principal: CanAlertsWork,
    status: Annotated[str, Form(pattern="^(acknowledged|in_progress|resolved|dismissed)$")],
    outcome: Annotated[str | None, Blank, Form(pattern="^(confirmed|false_alarm)$")] = None,
) -> Response:
    """Move an alert on from the queue. Closing it needs an outcome chosen: none is
    preselected, and none chosen is refused naming the field."""
    alert_service.move(
        session,
        principal,
        alert_id,
        status,
        outcome if status in ("resolved", "dismissed") else None,
    )
    return RedirectResponse(f"/alerts?done={alert_id}", status_code=303)


@router.post("/alerts/bulk")
def bulk_alerts(
    session: SessionDep,
    principal: CanAlertsWork,
    action: Annotated[str, Form(pattern="^(acknowledge|assign|resolve|dismiss)$")],
    alert_ids: Annotated[list[DbId] | None, Form(max_length=alert_service.BULK_MAX)] = None,
    outcome: Annotated[str | None, Blank, Form(pattern="^(confirmed|false_alarm)$")] = None,
    assignee: Annotated[DbId | None, Blank, Form()] = None,
    back: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Acknowledge, assign, resolve or dismiss the selected alerts, each checked as one
    (``alert_service.bulk``); back to the same view of the queue, which says which were
    done, which already were, and which were refused and why."""
    result = alert_service.bulk(
        session, principal, alert_ids or [], action, outcome=outcome, assignee_id=assignee
    )
    # Back to the view the request came from: only the queue's own query names are kept.
    kept = [(k, v) for k, v in parse_qsl(back) if k in QUEUE_KEYS]
    said = {
        "bulk": action,
        "bulk_done": ",".join(map(str, result.done)),
        "bulk_same": ",".join(map(str, result.unchanged)),
        "bulk_refused": ",".join(f"{i}:{c}" for i, c in result.refused),
    }
    query = urlencode(kept + [(k, v) for k, v in said.items() if v])
    return RedirectResponse(f"/alerts?{query}", status_code=303)


def _rules_page(
    request: Request,
    session: Any,
    principal: Any,
    *,
    status_code: int = 200,
    form_errors: list[tuple[str | None, str]] | None = None,
    form: dict[str, Any] | None = None,
    done: int | None = None,
) -> Response:
    return render(
        request,
        "rules.html",
        principal,
        status_code=status_code,
        rules=monitoring_service.list_rules(session),
        effectiveness={e["rule_code"]: e for e in alert_service.live_effectiveness(session)},
        categories=ALERT_CATEGORIES,
        warning_types=WARNING_TYPES,
        can_manage=principal.can(Permission.RULES_MANAGE),
        can_approve=principal.can(Permission.CHANGES_APPROVE),
        form_errors=form_errors or [],
        form=form or {},
        done=done,
    )


@router.get("/rules", response_class=HTMLResponse)
def rules_page(
    request: Request,
    session: SessionDep,
    principal: CanCustomersRead,
    done: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """Rules with their versions and live effectiveness, and the rule editor."""
    return _rules_page(request, session, principal, done=done)


@router.get("/rules/check", response_class=HTMLResponse)
def rule_check(
    request: Request,
    principal: CanCustomersRead,
    expression: Annotated[str, Query(max_length=4000)] = "",
) -> Response:
    """The live syntax check under the editor."""
    if not expression.strip():
        return render(request, "partials/rule_check.html", principal, valid=False, error=None)
    try:
        rule = compile_rule(expression)
    except RuleError as exc:
        return render(
            request,
            "partials/rule_check.html",
            principal,
            valid=False,
            error=rule_error_text(
                Translator(pick_locale(request, request.app.state.settings.default_locale)), exc
            ),
            position=exc.position,
        )
    return render(
        request, "partials/rule_check.html", principal, valid=True, reads=sorted(rule.reads)
    )


# The rules page's backtest and replay run as jobs (a backtest or replay over 12 months takes
# seconds to minutes): the button queues one, its panel follows the job, then draws its result.
PANEL_MONTHS = 12


def _rule_job(session: Session, principal: Principal, job_id: int, kind: str) -> Job:
    """A job of the panel's kind that the caller may read; 404 alike for any other."""
    job = job_service.get_job_or_raise(session, principal, job_id)
    if job.kind != kind:
        raise NotFound(f"job {job_id} not found", code="job_not_found")
    return job


def _job_panel(job: Job) -> dict[str, Any]:
    """What a rules panel shows of its job while it runs (or why it stopped)."""
    phase, done, total = job_service.progress_of(job)
    return {
        "job": job,
        "phase": phase,
        "done": done,
        "total": total,
        "percent": int(100 * done / total) if total else None,
        "active": job.status in ("queued", "running"),
    }


def _backtest_panel(request: Request, principal: Principal, job: Job) -> Response:
    if job.status != "done" or job.result is None:
        return render(request, "partials/rule_backtest.html", principal, **_job_panel(job))
    result = job.result
    chart = json.dumps(
        {
            "labels": [m["month"] for m in result["monthly"]],
            "values": [m["hits"] for m in result["monthly"]],
        }
    )
    return render(request, "partials/rule_backtest.html", principal, job=job, r=result, chart=chart)


@router.post("/rules/backtest", response_class=HTMLResponse)
def rule_backtest(
    request: Request,
    session: SessionDep,
    principal: CanRulesManage,
    expression: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Queue a backtest of the editor's expression over the last 12 months (an error in the
    expression shows at once, and queues nothing)."""
    try:
        compile_rule(expression)
    except RuleError as exc:
        t = Translator(pick_locale(request, request.app.state.settings.default_locale))
        shown = f"{t('rules.invalid', column=exc.position)}: {rule_error_text(t, exc)}"
        return render(request, "partials/rule_backtest.html", principal, error=shown)
    job = job_service.enqueue(
        session,
        principal,
        kind="rule_backtest",
        permission=Permission.RULES_MANAGE,
        parameters=BacktestIn(expression=expression, months=PANEL_MONTHS).model_dump(mode="json"),
    )
    return _backtest_panel(request, principal, job)


@router.get("/rules/backtest/{job_id}", response_class=HTMLResponse)
def rule_backtest_job(
    request: Request, job_id: PathId, session: SessionDep, principal: CanRulesManage
) -> Response:
    """The backtest panel: its job's progress (refreshing itself), then the result."""
    return _backtest_panel(
        request, principal, _rule_job(session, principal, job_id, "rule_backtest")
    )


def _replay_panel(request: Request, principal: Principal, job: Job) -> Response:
    if job.status != "done" or job.result is None:
        return render(request, "partials/rule_replay.html", principal, **_job_panel(job))
    result = job.result
    current, candidate = result["current"], result["candidate"]
    rows = [
        (code, current["types"][code], candidate["types"][code])
        for code in WARNING_TYPES
        if code in current["types"]
        and (
            current["types"][code]["alerts"]
            or candidate["types"][code]["alerts"]
            or code == result["warning_type"]
        )
    ]
    return render(
        request,
        "partials/rule_replay.html",
        principal,
        job=job,
        r=result,
        rows=rows,
        span=(current["from"], current["to"]),
    )


@router.post("/rules/replay", response_class=HTMLResponse)
def rule_replay(
    request: Request,
    session: SessionDep,
    principal: CanRulesManage,
    version_id: Annotated[int, Form(ge=1, le=2_147_483_647)],
) -> Response:
    """Queue the pack's replay over the last 12 months, month end by month end, as it is and
    as it would be with this version: the figures to look at before approving it."""
    monitoring_service.get_version_or_raise(session, version_id)  # a typo fails at once
    end = today()
    start = (end.replace(day=1) - dt.timedelta(days=31 * (PANEL_MONTHS - 1))).replace(day=1)
    body = ReplayIn.model_validate({"from": start, "to": end, "version_id": version_id})
    job = job_service.enqueue(
        session,
        principal,
        kind="warning_replay",
        permission=Permission.RULES_MANAGE,
        parameters=body.model_dump(mode="json", by_alias=True),
    )
    return _replay_panel(request, principal, job)


@router.get("/rules/replay/{job_id}", response_class=HTMLResponse)
def rule_replay_job(
    request: Request, job_id: PathId, session: SessionDep, principal: CanRulesManage
) -> Response:
    """The replay panel: its job's progress (refreshing itself), then the comparison."""
    return _replay_panel(
        request, principal, _rule_job(session, principal, job_id, "warning_replay")
    )


@router.post("/rules", response_class=HTMLResponse)
def create_rule(
    request: Request, session: SessionDep, principal: CanRulesManage, form: FormDep
) -> Response:
    """Save the editor's rule as a draft (a new rule, or a new version of an existing one)."""
    data = filled(
        form,
        (
            "code",
            "name_en",
            "name_zh",
            "category",
            "warning_type",
            "severity",
            "expression",
            "clear_expression",
            "dedup_days",
        ),
    )
    try:
        body = RuleIn.model_validate(data)
        version = monitoring_service.save_draft(session, principal, body.model_dump(mode="json"))
    except (ValidationError, RiskdeskError) as exc:
        status, errors = _form_failure(session, exc)
        return _rules_page(
            request,
            session,
            principal,
            status_code=status,
            form_errors=errors,
            form=data,
        )
    return RedirectResponse(f"/rules?done={version.id}#rule-{body.code}", status_code=303)


@router.post("/rule-versions/{version_id}/{action}")
def decide_rule_version(
    version_id: PathId, action: str, session: SessionDep, principal: CanRulesManage
) -> Response:
    """Approve (a second person) or activate a rule version."""
    if action == "approve":
        monitoring_service.approve(session, principal, version_id)
    elif action == "activate":
        monitoring_service.activate(session, principal, version_id)
    else:
        raise ValidationFailed(f"unknown action {action!r}", field="action")
    return RedirectResponse(f"/rules?done={version_id}", status_code=303)


@router.get("/scorecards", response_class=HTMLResponse)
def scorecards_page(
    request: Request,
    session: SessionDep,
    principal: CanCustomersRead,
    done: Annotated[int | None, Query(ge=1)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    """Scorecards, their versions, and drafts with a preview of what they would do."""
    cards = scoring_service.list_scorecards(session)
    drafts = [v for _, versions in cards for v in versions if v.status == "draft"]
    authors = {v.created_by_id for _, versions in cards for v in versions}
    return render(
        request,
        "scorecards.html",
        principal,
        cards=cards,
        previews={v.id: scoring_service.preview(session, v.id) for v in drafts},
        people={
            uid: (u.display_name if (u := users_repo.get_user(session, uid)) else "")
            for uid in authors
        },
        can_approve=principal.can(Permission.CHANGES_APPROVE),
        can_run=principal.can(Permission.SCORING_MANAGE),
        runs=scoring_service.recent_runs(session, 1),
        done=done,
        done_status=status if status in ("active", "rejected", "submitted") else None,
    )


@router.post("/scorecard-versions/{version_id}/{action}")
def decide_scorecard_version(
    version_id: PathId,
    action: str,
    session: SessionDep,
    principal: CanScoringManage,
    comment: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    """Approve (not one's own) or reject a scorecard draft."""
    if action == "approve":
        version = scoring_service.approve(session, principal, version_id, comment)
    elif action == "reject":
        version = scoring_service.reject(session, principal, version_id, comment)
    else:
        raise ValidationFailed(f"unknown action {action!r}", field="action")
    return RedirectResponse(
        f"/scorecards?done={version_id}&status={version.status}", status_code=303
    )


@router.post("/scoring-runs")
def run_scoring(session: SessionDep, principal: CanScoringManage) -> Response:
    """Recompute indicators and rescore everyone, as a background job: its page shows the
    progress and then the result."""
    job = job_service.enqueue(
        session,
        principal,
        kind="scoring_run",
        permission=Permission.SCORING_MANAGE,
        parameters={"as_of": None},
    )
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@router.get("/models", response_class=HTMLResponse)
def models_page(request: Request, session: SessionDep, principal: CanCustomersRead) -> Response:
    """The model registry."""
    return render(request, "models.html", principal, models=registry.list_models(session))


@router.get("/models/{version_id}", response_class=HTMLResponse)
def model_page(
    request: Request,
    version_id: PathId,
    session: SessionDep,
    principal: CanCustomersRead,
    done: Annotated[str | None, Query(pattern="^(requested|promoted)$")] = None,
) -> Response:
    """One model: validation, stability (PSI) and matured performance, as charts."""
    model = registry.get_model(session, version_id)
    monitoring = registry.monitor(session, version_id)
    worst = sorted(monitoring["feature_psi"].items(), key=lambda kv: -kv[1])[:15]
    model_locale = pick_locale(request, request.app.state.settings.default_locale)
    performance = monitoring["performance"]
    me = principal.user_id
    return render(
        request,
        "model.html",
        principal,
        m=model,
        monitoring=monitoring,
        done=done,
        psi_chart=json.dumps(
            {
                "labels": [indicator_label(k, model_locale) for k, _ in worst],
                "values": [round(v, 4) for _, v in worst],
            },
            ensure_ascii=False,
        )
        if worst
        else None,
        performance_chart=json.dumps(
            {
                "dates": [p["month"] for p in performance],
                "series": {
                    "AUC": [p["auc"] for p in performance],
                    "KS": [p["ks"] for p in performance],
                },
                # One axis from 0 to 1: AUC and KS read against each other.
                "shared": True,
                "min": 0,
                "max": 1,
            }
        )
        if performance
        else None,
        can_promote=principal.can(Permission.SCORING_MANAGE)
        and model.status == "challenger"
        and model.promotion_requested_by_id is None,
        can_approve=principal.can(Permission.CHANGES_APPROVE)
        and model.status == "challenger"
        and model.promotion_requested_by_id not in (None, me)
        and model.created_by_id != me,
    )


@router.post("/models/{version_id}/promote")
def request_model_promotion(
    version_id: PathId, session: SessionDep, principal: CanScoringManage
) -> Response:
    """Ask for a challenger to become champion."""
    registry.request_promotion(session, principal, version_id)
    return RedirectResponse(f"/models/{version_id}?done=requested", status_code=303)


@router.post("/models/{version_id}/approve-promotion")
def approve_model_promotion(
    version_id: PathId, session: SessionDep, principal: CanChangesApprove
) -> Response:
    """Approve a promotion (not one's own request, not one's own model)."""
    registry.approve_promotion(session, principal, version_id)
    return RedirectResponse(f"/models/{version_id}?done=promoted", status_code=303)


# Long enough for the monthly reviews of critical customers (a month can be 31 days).
REVIEW_HORIZON_DAYS = 60
REVIEW_HORIZONS = (7, 30, 60, 90)
SCOPE_NAMES = ("region", "segment", "owner_id", "tier", "industry")


@router.get("/reviews", response_class=HTMLResponse)
def reviews_page(
    request: Request,
    session: SessionDep,
    principal: CanCustomersRead,
    scope: ScopeDep,
    horizon: Annotated[int, Query(ge=0, le=366)] = REVIEW_HORIZON_DAYS,
) -> Response:
    """The review queue: overdue and soon-due periodic reviews (of a region, a tier, ...)."""
    shown = _scope_shown(session, scope)
    return render(
        request,
        "reviews.html",
        principal,
        queue=policy_service.review_queue(
            session, principal, horizon_days=horizon, within=within_scope(scope)
        ),
        scope=shown,
        export_query=_scope_query(shown, horizon=str(horizon)),
        horizon=horizon,
        horizons=REVIEW_HORIZONS,
        # The scope's filters are kept when the horizon changes.
        kept={k: v for k, v in request.query_params.items() if k in SCOPE_NAMES and v},
        can_review=principal.can(Permission.REVIEWS_PERFORM),
    )


@router.post("/customers/{customer_id}/reviews")
def start_review(
    customer_id: PathId, session: SessionDep, principal: CanReviewsPerform
) -> Response:
    """Open (or continue) a customer's review."""
    review, _ = policy_service.open_review(session, principal, customer_id)
    return RedirectResponse(f"/reviews/{review.id}", status_code=303)


def _review_page(
    request: Request,
    session: Any,
    principal: Any,
    review_id: int,
    *,
    status_code: int = 200,
    form_errors: list[tuple[str | None, str]] | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    review = policy_service.get_review(session, principal, review_id)
    customer = customer_service.read_customer(session, principal, review.customer_id)
    zh = pick_locale(request, request.app.state.settings.default_locale) == "zh-CN"
    labels = {i.name: (i.zh if zh else i.en) for i in INDICATOR_CATALOGUE}
    return render(
        request,
        "review.html",
        principal,
        status_code=status_code,
        r=review,
        customer=customer,
        labels=labels,
        can_review=principal.can(Permission.REVIEWS_PERFORM),
        form_errors=form_errors or [],
        form=form or {},
    )


@router.get("/reviews/{review_id}", response_class=HTMLResponse)
def review_page(
    request: Request, review_id: PathId, session: SessionDep, principal: CanCustomersRead
) -> Response:
    """A review: the evidence captured when it was opened, and the decision form."""
    return _review_page(request, session, principal, review_id)


@router.post("/reviews/{review_id}/complete", response_class=HTMLResponse)
def complete_review(
    request: Request,
    review_id: PathId,
    session: SessionDep,
    principal: CanReviewsPerform,
    form: FormDep,
) -> Response:
    """Sign off a review."""
    data = filled(form, ("outcome", "comment", "new_limit"))
    try:
        review = policy_service.complete_review(
            session, principal, review_id, ReviewComplete.model_validate(data)
        )
    except (ValidationError, RiskdeskError) as exc:
        status, errors = _form_failure(session, exc)
        return _review_page(
            request,
            session,
            principal,
            review_id,
            status_code=status,
            form_errors=errors,
            form=data,
        )
    return RedirectResponse(f"/reviews/{review.id}", status_code=303)


@router.post("/customers/{customer_id}/reveal", response_class=HTMLResponse)
def reveal_value(
    request: Request,
    customer_id: PathId,
    session: SessionDep,
    principal: CanPersonalDataReveal,
    form: FormDep,
) -> Response:
    """Show one masked value in full on the credit file (logged with the reason)."""
    try:
        body = RevealRequest.model_validate(filled(form, ("field", "reason")))
        shown = customer_service.reveal(session, principal, customer_id, body)
    except (ValidationError, RiskdeskError) as exc:
        status, errors = _form_failure(session, exc)
        return _credit_file(
            request, session, principal, customer_id, status_code=status, form_errors=errors
        )
    return _credit_file(
        request, session, principal, customer_id, revealed={shown.field: shown.value}
    )


@router.post("/customers/{customer_id}/edit", response_class=HTMLResponse)
def edit_customer(
    request: Request,
    customer_id: PathId,
    session: SessionDep,
    principal: CanCustomersWrite,
    form: FormDep,
) -> Response:
    """Apply the edit form: plain fields at once, critical ones to the approval queue."""
    current = customer_service.read_customer(session, principal, customer_id)
    data: dict[str, Any] = {}
    for name in EDIT_FIELDS:
        if name in CHECKBOXES:
            if f"has_{name}" in form:
                data[name] = form.get(name) == "on"
            continue
        if name in form:
            value = form.get(name)
            data[name] = value.strip() if isinstance(value, str) and value.strip() else None
    # A masked value is shown empty in the form: left empty, it stays as it is.
    data = {k: v for k, v in data.items() if not (k in current.masked and v is None)}
    reason = form.get("reason")
    data["reason"] = reason.strip() if isinstance(reason, str) and reason.strip() else None
    version = form.get("expected_version")
    data["expected_version"] = (
        int(version) if isinstance(version, str) and version.isdigit() else current.version
    )
    # Fields the user may not edit are not in the form; keep them out of the comparison.
    if not principal.can(Permission.CREDIT_PROFILE_WRITE):
        data = {k: v for k, v in data.items() if k not in customer_service.PROFILE_FIELDS}
    try:
        body = CustomerUpdate.model_validate(data)
        outcome = customer_service.update_customer(
            session, principal, customer_id, body, channel="ui"
        )
    except (ValidationError, RiskdeskError) as exc:
        status, errors = _form_failure(session, exc)
        return _credit_file(
            request,
            session,
            principal,
            customer_id,
            status_code=status,
            form_errors=errors,
            form=data,
        )
    queued = ",".join(
        i
        for i in (
            (
                outcome.pending
                and [
                    i.field
                    for i in customer_repo.pending_items(session, [outcome.pending.id])[
                        outcome.pending.id
                    ]
                ]
            )
            or []
        )
    )
    state = "queued" if queued else "saved" if outcome.applied else "nothing"
    return RedirectResponse(
        f"/customers/{customer_id}?ok={state}&n={len(outcome.applied)}&fields={quote(queued)}",
        status_code=303,
    )


# The corrections the credit file records: kind -> (the field naming the corrected event,
# the field of its date, whether it takes an amount and currency).
CORRECTION_FORMS: dict[str, tuple[str, str, bool]] = {
    "order_cancellations": ("order_external_id", "cancelled_on", False),
    "credit_notes": ("invoice_external_id", "issued_on", True),
    "invoice_adjustments": ("invoice_external_id", "adjusted_on", True),
    "payment_reversals": ("payment_external_id", "reversed_on", False),
}


@router.post("/customers/{customer_id}/corrections", response_class=HTMLResponse)
def record_correction(
    request: Request,
    customer_id: PathId,
    session: SessionDep,
    principal: CanEventsWrite,
    form: FormDep,
) -> Response:
    """Record a correction of one of the customer's events (the intake's, as from an ERP)."""
    data = filled(
        form, ("kind", "source", "external_id", "target", "amount", "currency", "day", "reason")
    )
    kind = str(data.get("kind") or "")
    try:
        customer_service.get_customer_or_raise(session, principal, customer_id)
        if kind not in CORRECTION_FORMS:
            raise ValidationFailed("choose what to correct", field="kind", code="unknown_kind")
        target, dated, with_amount = CORRECTION_FORMS[kind]
        record: dict[str, Any] = {
            "source": data.get("source"),
            "external_id": data.get("external_id"),
            "customer_code": customer_repo.customer_code(customer_id),
            target: data.get("target"),
            dated: data.get("day"),
            "reason": data.get("reason"),
        }
        if with_amount:
            record.update(amount=data.get("amount"), currency=data.get("currency"))
        report = intake.ingest(
            session, principal, kind, [{k: v for k, v in record.items() if v is not None}],
            channel="ui",
        )  # fmt: skip
    except RiskdeskError as exc:
        details = getattr(exc, "details", None) or []
        session.rollback()
        errors: FormErrors = [(d.field, Reason.of_detail(d)) for d in details] or [
            (exc.field, Reason.of_error(exc))
        ]
        return _credit_file(
            request, session, principal, customer_id, status_code=exc.status_code,
            form_errors=[(CORRECTION_FIELDS.get(f or "", f), r) for f, r in errors],
        )  # fmt: skip
    done = report.results[0].status
    return RedirectResponse(
        f"/customers/{customer_id}?ok={'saved' if done == 'created' else 'nothing'}&n=1"
        "#recent-events",
        status_code=303,
    )


# A record's fields as the form names them.
CORRECTION_FIELDS = {
    **{target: "target" for target, _, _ in CORRECTION_FORMS.values()},
    **{dated: "day" for _, dated, _ in CORRECTION_FORMS.values()},
    "external_id": "correction_number",
}


@router.post("/customers/{customer_id}/contacts", response_class=HTMLResponse)
def add_contact(
    request: Request,
    customer_id: PathId,
    session: SessionDep,
    principal: CanCustomersWrite,
    form: FormDep,
) -> Response:
    """Add a contact person from the credit file page."""
    data: dict[str, Any] = {
        k: (v.strip() or None) if isinstance(v, str) else None
        for k, v in form.items()
        if k in ("name", "title", "phone", "email")
    }
    data["is_primary"] = form.get("is_primary") == "on"
    try:
        body = ContactCreate.model_validate(data)
        customer_service.add_contact(session, principal, customer_id, body, channel="ui")
    except ValidationError as exc:
        details = details_from_validation_error(exc)
        return _credit_file(
            request,
            session,
            principal,
            customer_id,
            status_code=422,
            form_errors=[(d.field, Reason.of_detail(d)) for d in details],
        )
    return RedirectResponse(f"/customers/{customer_id}?ok=saved&n=1", status_code=303)


@router.post("/customers/{customer_id}/documents", response_class=HTMLResponse)
def upload_document(
    request: Request,
    customer_id: PathId,
    session: SessionDep,
    principal: CanDocumentsWrite,
    file: Annotated[UploadFile, File()],
    category: Annotated[str | None, Form(max_length=64)] = None,
    description: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    """Attach a document from the credit file page."""
    content = file.file.read(customer_service.MAX_DOCUMENT_BYTES + 1)
    try:
        customer_service.store_document(
            session,
            principal,
            customer_id,
            filename=file.filename or "file",
            content=content,
            data_dir=request.app.state.settings.data_dir,
            category=category or None,
            description=description or None,
            channel="ui",
        )
    except ValidationFailed as exc:
        session.rollback()
        return _credit_file(
            request,
            session,
            principal,
            customer_id,
            status_code=422,
            form_errors=[(exc.field, Reason.of_error(exc))],
        )
    return RedirectResponse(f"/customers/{customer_id}?ok=saved&n=1", status_code=303)


# ---------------------------------------------------------------- approvals


@router.get("/approvals", response_class=HTMLResponse)
def approvals_page(
    request: Request,
    session: SessionDep,
    principal: CanCustomersRead,
    done: Annotated[int | None, Query(ge=1)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    """The queue of changes waiting for a second person."""
    pending = customer_service.list_pending(session, principal, status="pending")
    return render(
        request,
        "approvals.html",
        principal,
        pending=pending,
        done=done,
        done_status=status if status in ("approved", "rejected", "withdrawn") else None,
        can_approve=principal.can(Permission.CHANGES_APPROVE),
    )


@router.post("/approvals/{change_id}/approve")
def approve_change(
    change_id: PathId,
    session: SessionDep,
    principal: CanChangesApprove,
    comment: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    """Approve a change."""
    customer_service.approve_change(session, principal, change_id, comment)
    return RedirectResponse(f"/approvals?done={change_id}&status=approved", status_code=303)


@router.post("/approvals/{change_id}/reject")
def reject_change(
    change_id: PathId,
    session: SessionDep,
    principal: CanCustomersRead,
    comment: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    """Reject a change, or withdraw one's own."""
    change = customer_service.reject_change(session, principal, change_id, comment)
    return RedirectResponse(f"/approvals?done={change_id}&status={change.status}", status_code=303)


# ---------------------------------------------------------------- held orders


@router.get("/worklist", response_class=HTMLResponse)
def worklist_page(
    request: Request,
    session: SessionDep,
    principal: CanCustomersRead,
    scope: ScopeDep,
    done: Annotated[int | None, Query(ge=1)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    sort: Annotated[str, Query(pattern="^-?(created|amount)$")] = "-created",
) -> Response:
    """Orders held by the credit check, waiting for a person (of a region, a tier, ...), a
    page at a time, newest first or by amount."""
    held, total = credit_service.page_decisions(
        session, principal, status="held", within=within_scope(scope),
        page=PageParams(page, LIST_PAGE_SIZE), sort=sort,
    )  # fmt: skip
    customers = customer_repo.customers_with_profiles(
        session, sorted({d.customer_id for d in held})
    )
    shown = _scope_shown(session, scope)
    return render(
        request,
        "worklist.html",
        principal,
        held=held,
        names={cid: (c.code, c.name) for cid, (c, _) in customers.items()},
        done=done,
        done_status=status if status in DECISION_STATUSES else None,
        can_resolve=principal.can(Permission.CREDIT_DECISIONS_RESOLVE),
        scope=shown,
        pager=_pager("/worklist", shown, sort, page, total),
        sorts=("-created", "created", "-amount", "amount"),
        export_query=_scope_query(shown),
    )


@router.post("/worklist/{decision_id}/{action}")
def resolve_held(
    decision_id: PathId,
    action: str,
    session: SessionDep,
    principal: CanCreditDecisionsResolve,
    reason: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    """Release, reject or recheck a held order."""
    text = (reason or "").strip()
    if action == "recheck":
        decision = credit_service.recheck(session, principal, decision_id)
    elif action in ("release", "reject"):
        if len(text) < 3:
            raise ValidationFailed(
                "give a reason of at least 3 characters",
                field="reason",
                code="string_too_short" if text else "missing",
            )
        fn = credit_service.release if action == "release" else credit_service.reject
        decision = fn(session, principal, decision_id, text)
    else:
        raise ValidationFailed(f"unknown action {action!r}", field="action")
    return RedirectResponse(
        f"/worklist?done={decision_id}&status={decision.status}", status_code=303
    )


# ---------------------------------------------------------------- customer groups


def _groups(
    request: Request,
    session: Any,
    principal: Any,
    *,
    status_code: int = 200,
    form_errors: list[tuple[str | None, str]] | None = None,
    form: dict[str, Any] | None = None,
    done: int | None = None,
    done_status: str | None = None,
) -> Response:
    groups = credit_service.list_groups(session)
    pending = credit_service.pending_group_limits(session)
    codes = {g.id: (g.code, g.name) for g, _, _ in groups}
    people = {
        uid: users_repo.get_user(session, uid) for uid in {c.requested_by_id for c in pending}
    }
    return render(
        request,
        "groups.html",
        principal,
        status_code=status_code,
        groups=groups,
        pending=pending,
        codes=codes,
        people={uid: (u.display_name if u else str(uid)) for uid, u in people.items()},
        can_request=principal.can(Permission.CREDIT_POLICY_MANAGE),
        can_approve=principal.can(Permission.CHANGES_APPROVE),
        form_errors=form_errors or [],
        form=form or {},
        done=done,
        done_status=done_status,
    )


@router.get("/groups", response_class=HTMLResponse)
def groups_page(
    request: Request,
    session: SessionDep,
    principal: CanCustomersRead,
    done: Annotated[int | None, Query(ge=1)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    """Customer groups: limit, exposure, utilisation and limit changes waiting for approval."""
    return _groups(
        request,
        session,
        principal,
        done=done,
        done_status=status if status in ("pending", "approved", "rejected") else None,
    )


@router.post("/groups/{code}/limit", response_class=HTMLResponse)
def request_group_limit(
    request: Request,
    code: Annotated[str, Path(max_length=64)],
    session: SessionDep,
    principal: CanCreditPolicyManage,
    form: FormDep,
) -> Response:
    """Ask for a new group limit (empty removes it); a second person approves it."""
    data: dict[str, Any] = {"code": code}
    for name in ("credit_limit", "limit_currency", "reason"):
        value = form.get(name)
        if isinstance(value, str) and value.strip():
            data[name] = value.strip()
    try:
        body = GroupLimitIn.model_validate({k: v for k, v in data.items() if k != "code"})
        change = credit_service.request_group_limit(
            session, principal, code, body.credit_limit, body.limit_currency, body.reason
        )
    except (ValidationError, RiskdeskError) as exc:
        status, errors = _form_failure(session, exc)
        return _groups(
            request,
            session,
            principal,
            status_code=status,
            form_errors=errors,
            form=data,
        )
    return RedirectResponse(f"/groups?done={change.id}&status=pending", status_code=303)


@router.post("/group-limit-changes/{change_id}/{action}")
def decide_group_limit(
    change_id: PathId, action: str, session: SessionDep, principal: CanChangesApprove
) -> Response:
    """Approve or reject a group limit change (not one's own)."""
    if action not in ("approve", "reject"):
        raise ValidationFailed(f"unknown action {action!r}", field="action")
    change = credit_service.decide_group_limit(
        session, principal, change_id, approve=action == "approve"
    )
    return RedirectResponse(f"/groups?done={change_id}&status={change.status}", status_code=303)


# ---------------------------------------------------------------- imports


@router.get("/imports", response_class=HTMLResponse)
def imports_page(
    request: Request,
    session: SessionDep,
    principal: CanImportsRun,
    deleted: Annotated[str | None, Query(max_length=5)] = None,
) -> Response:
    """Upload a file to import; the templates and field guide of each kind; saved mappings."""
    return render(
        request,
        "imports.html",
        principal,
        kinds=intake.KINDS,
        guides={k: import_guide.fields_of(k) for k in intake.KINDS},
        type_label=import_guide.type_label,
        choices_text=import_guide.choices_text,
        encodings=IMPORT_ENCODINGS,
        limits=intake.file_limits(request.app.state.settings),
        jobs=import_repo.list_jobs(session, user_id=None, limit=20),
        saved_mappings=import_repo.list_mappings(session),
        deleted=deleted == "1",
    )


@router.get("/imports/templates/{filename}")
def import_template(
    request: Request,
    filename: Annotated[str, Path(max_length=64)],
    principal: CanImportsRun,
) -> Response:
    """A kind's template, its example values in the page's language."""
    return template_response(
        filename, pick_locale(request, request.app.state.settings.default_locale)
    )


@router.post("/imports/mappings/{mapping_id}/delete")
def delete_import_mapping(
    mapping_id: PathId, session: SessionDep, principal: CanImportsRun
) -> Response:
    """Forget a saved mapping (one already gone: nothing to do)."""
    mappings.delete(session, mapping_id)
    return RedirectResponse("/imports?deleted=1#saved-mappings", status_code=303)


@router.post("/imports")
def start_import(
    request: Request,
    session: SessionDep,
    principal: CanImportsRun,
    kind: Annotated[str, Form(max_length=32)],
    file: Annotated[UploadFile, File()],
    mapping: Annotated[str | None, Form(max_length=20000)] = None,
    saved_mapping: Annotated[str | None, Form(max_length=12)] = None,
    mapping_name: Annotated[str | None, Form(max_length=64)] = None,
    skip_invalid: Annotated[str | None, Form(max_length=5)] = None,
    encoding: Annotated[str | None, Form(max_length=40)] = None,
) -> Response:
    """Start an import in the background and show its progress. A mapping typed in wins over
    the saved one chosen; with a source's name it is saved for this kind first."""
    intake.handler_for(kind)
    if encoding:
        check_encoding_name(encoding)
    text = mapping.strip() if mapping and mapping.strip() else None
    if text is None and saved_mapping:
        if not saved_mapping.isdigit():
            raise ValidationFailed("choose a saved mapping from the list", field="saved_mapping")
        chosen = mappings.get_or_raise(session, int(saved_mapping))
        if chosen.kind != kind:
            raise ValidationFailed(
                f"the saved mapping {chosen.name!r} is for {chosen.kind}, not {kind}",
                field="saved_mapping",
                code="kind_mismatch",
            )
        text = chosen.mapping
    if mapping_name and mapping_name.strip():
        if text is None:
            raise ValidationFailed("type the mapping to save", field="mapping", code="missing")
        mappings.save(session, principal, name=mapping_name, kind=kind, text=text)
    content = read_upload(file, request.app.state.settings.max_upload_mb)
    column_mapping = ColumnMapping.from_yaml(text) if text else None
    job = intake.create_job(
        session,
        principal,
        kind=kind,
        filename=file.filename or "upload",
        content=content,
        skip_invalid=skip_invalid == "on",
    )
    session.commit()
    factory = request.app.state.sessionmaker
    user_id = principal.user_id

    audit_ctx = context_of(session)

    def load(s: Any) -> Any:
        s.info["audit_ctx"] = audit_ctx  # the import's own transactions are the user's doing
        user = users_repo.get_user(s, user_id)
        assert user is not None
        return security_service.principal_for(s, user, via="session")

    threading.Thread(
        target=_run_import,
        name=f"import-{job.id}",
        daemon=True,
        args=(factory, load, job.id, request.app.state.settings),
        kwargs={
            "kind": kind,
            "content": content,
            "filename": file.filename or "upload",
            "mapping": column_mapping,
            "skip_invalid": skip_invalid == "on",
            "encoding": encoding or None,
            "limits": intake.file_limits(request.app.state.settings),
            "shared": request.app.state.shared_redis,
        },
    ).start()
    return RedirectResponse(f"/imports/{job.id}", status_code=303)


IMPORT_ENCODINGS = ("", "utf-8", "gb18030", "utf-16")  # "": recognise


def _run_import(factory: Any, load: Any, job_id: int, settings: Any, **kwargs: Any) -> None:
    with contextlib.suppress(PayloadTooLarge):  # the job records it, and its page says so
        result = intake.run_job(factory, load, job_id, **kwargs)
        if result.queued and settings.event_wait_seconds > 0:
            processing.wait_for(factory, result.queued, settings.event_wait_seconds, settings)


@router.get("/imports/{job_id}", response_class=HTMLResponse)
def import_job_page(
    request: Request,
    job_id: PathId,
    session: SessionDep,
    principal: CanImportsRun,
    board: ProgressBoardDep,
) -> Response:
    """An import's progress, then its outcome."""
    job = import_repo.get_job(session, job_id)
    if job is None:
        raise NotFound(f"no import {job_id}", field="job_id")
    done, total = intake.progress_of(job, board)
    template = (
        "partials/import_progress.html" if request.headers.get("HX-Request") else "import_job.html"
    )
    return render(
        request,
        template,
        principal,
        job=job,
        done=done,
        total=total,
        percent=int(100 * done / total) if total else 0,
        outcome=import_view.outcome(
            job, Translator(pick_locale(request, request.app.state.settings.default_locale))
        ),
    )


# ---------------------------------------------------------------- duplicates


@router.get("/duplicates", response_class=HTMLResponse)
def duplicates_page(
    request: Request,
    session: SessionDep,
    principal: CanCustomersMerge,
    merged: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """Customers that look like the same one, with a merge."""
    return render(
        request,
        "duplicates.html",
        principal,
        candidates=duplicate_candidates(session, principal, 92.0),
        merged=merged,
    )


@router.post("/duplicates/merge")
def merge(
    session: SessionDep,
    principal: CanCustomersMerge,
    survivor_id: Annotated[int, Form(ge=1, le=DB_ID_MAX)],
    duplicate_id: Annotated[int, Form(ge=1, le=DB_ID_MAX)],
    reason: Annotated[str, Form(min_length=3, max_length=2000)],
) -> Response:
    """Merge the duplicate into the survivor."""
    survivor = merge_pipeline.merge_customers(
        session, principal, survivor_id=survivor_id, duplicate_id=duplicate_id, reason=reason
    )
    dup_code = customer_repo.customer_code(duplicate_id)
    return RedirectResponse(f"/duplicates?merged={dup_code}:{survivor.code}", status_code=303)
