"""The customer list and the credit file, with the forms the credit file posts: scoring,
limit requests, revealing a masked value, edits, event corrections, contacts and documents."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from riskdesk.alerts import service as alert_service
from riskdesk.alerts.endpoints import Blank
from riskdesk.complaints import service as complaints_service
from riskdesk.credit import service as credit_service
from riskdesk.customers import repository as customer_repo
from riskdesk.customers import service as customer_service
from riskdesk.customers.repository import CustomerFilter
from riskdesk.customers.schemas import ContactCreate, CustomerUpdate, RevealRequest
from riskdesk.db import SessionDep
from riskdesk.events import repository as event_repo
from riskdesk.indicators import service as indicator_service
from riskdesk.indicators.catalogue import AGEING_BUCKETS
from riskdesk.kit.errors import RiskdeskError, ValidationFailed
from riskdesk.kit.pagination import PageParams
from riskdesk.kit.timeutil import zone
from riskdesk.kit.validation import DbId, PathId, details_from_validation_error
from riskdesk.monitoring import service as monitoring_service
from riskdesk.pipeline import intake
from riskdesk.policy import service as policy_service
from riskdesk.policy.schemas import LimitRequestIn, RecommendationRead
from riskdesk.portfolio import migration as migration_service
from riskdesk.portfolio import service as portfolio_service
from riskdesk.portfolio.schemas import PortfolioFilter
from riskdesk.privacy import repository as privacy_repo
from riskdesk.privacy import service as privacy_service
from riskdesk.scoring import service as scoring_service
from riskdesk.security.deps import (
    CanCustomersRead,
    CanCustomersWrite,
    CanDocumentsWrite,
    CanEventsWrite,
    CanLimitRequestsCreate,
    CanPersonalDataReveal,
    CanScoringManage,
)
from riskdesk.security.permissions import Permission
from riskdesk.ui import relationship_panel
from riskdesk.ui.forms import FormDep, FormErrors, filled, form_failure
from riskdesk.ui.i18n import Translator, pick_locale
from riskdesk.ui.render import Reason, display_zone, indicator_label, render

router = APIRouter(include_in_schema=False)


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


def credit_file(
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
    tz = zone(display_zone(request))  # the reader's calendar, for the relationship panel
    # One point per date the score is as of (a rescore of a past quarter end, run today, is
    # that quarter's point, not a second point today); the newest score of a date stands.
    by_day = {s.as_of: s.score for s in reversed(scores)}
    score_chart = (
        json.dumps(
            {
                "dates": [d.isoformat() for d in sorted(by_day)],
                "series": {t("field.score"): [by_day[d] for d in sorted(by_day)]},
            }
        )
        if len(by_day) > 1
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
        statements=(statements := customer_repo.statements_of(session, customer_id)),
        # The history shows a statement's figures with the statement's currency.
        statement_currencies={
            f"statement.{s.period_type}.{s.period_end.isoformat()}": s.currency for s in statements
        },
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
            session, principal, customer_id, tz=tz, **extra.pop("relationship_form", {})
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
    return credit_file(
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
        status, errors = form_failure(session, exc)
        return credit_file(
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
        status, errors = form_failure(session, exc)
        return credit_file(
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
        status, errors = form_failure(session, exc)
        return credit_file(
            request, session, principal, customer_id, status_code=status, form_errors=errors
        )
    return RedirectResponse(f"/customers/{customer_id}#limit-panel", status_code=303)


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
        status, errors = form_failure(session, exc)
        return credit_file(
            request, session, principal, customer_id, status_code=status, form_errors=errors
        )
    return credit_file(
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
        status, errors = form_failure(session, exc)
        return credit_file(
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
        return credit_file(
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
        return credit_file(
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
        return credit_file(
            request,
            session,
            principal,
            customer_id,
            status_code=422,
            form_errors=[(exc.field, Reason.of_error(exc))],
        )
    return RedirectResponse(f"/customers/{customer_id}?ok=saved&n=1", status_code=303)
