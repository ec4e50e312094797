"""Tier policies, recommended limits, limit requests decided by authority, and delegations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from riskdesk.customers import repository as customer_repo
from riskdesk.customers import service as customer_service
from riskdesk.customers.schemas import CustomerUpdate
from riskdesk.kit import signals
from riskdesk.kit.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from riskdesk.kit.pagination import PageParams
from riskdesk.kit.timeutil import today, utcnow
from riskdesk.models import (
    ApprovalAuthority,
    ApprovalDelegation,
    CreditReview,
    LimitRequest,
    TierPolicy,
)
from riskdesk.policy import repository as repo
from riskdesk.policy.formula import INPUT_COLUMNS, recommend
from riskdesk.policy.schemas import (
    AuthorityIn,
    DelegationIn,
    LimitRequestIn,
    ReviewComplete,
    TierPolicyIn,
)
from riskdesk.privacy import consent
from riskdesk.scoring import repository as scoring_repo
from riskdesk.scoring import service as scoring_service
from riskdesk.security import repository as users_repo
from riskdesk.security.permissions import Permission, Role, permissions_for
from riskdesk.security.service import Principal, ensure_second_person

# ---------------------------------------------------------------- policies


def list_policies(session: Session) -> list[TierPolicy]:
    """Every tier's policy."""
    return repo.policies(session)


def update_policy(
    session: Session, principal: Principal, tier: str, body: TierPolicyIn
) -> TierPolicy:
    """Change a tier's policy; the same values again change nothing (not even who and when)."""
    policy = repo.get_policy(session, tier)
    if policy is None:
        raise NotFound(f"no policy for tier {tier!r}", field="tier")
    changed = {k: v for k, v in body.model_dump().items() if getattr(policy, k) != v}
    if not changed:
        return policy
    for name, value in changed.items():
        setattr(policy, name, value)
    policy.updated_by_id = principal.user_id
    policy.updated_at = utcnow()
    session.flush()
    return policy


# ---------------------------------------------------------------- recommendations


def recommendations(
    session: Session, customer_ids: Sequence[int] | None, as_of: dt.date | None = None
) -> pl.DataFrame:
    """The policy's recommendation for customers (None: all), vectorised, with current limits."""
    as_of = as_of or today()
    values = scoring_service.factor_frame(session, customer_ids, as_of, {"indicator", "bureau"})
    statements = scoring_repo.latest_statements(session, customer_ids, as_of).select(
        "customer_id", "equity", "revenue"
    )
    current = repo.current_limits(session, customer_ids)
    inputs = (
        values.select(
            "customer_id",
            pl.col("attribute.kind").alias("kind"),
            pl.col("indicator.orders_amount_365d").alias("orders_amount_365d"),
            pl.col("bureau.bureau_recommended_limit").alias("bureau_recommended_limit"),
        )
        .join(current, on="customer_id", how="left")
        .join(statements, on="customer_id", how="left")
        .select([pl.col(c).cast(t) for c, t in INPUT_COLUMNS.items()])
    )
    return recommend(inputs, repo.policy_frame(session)).join(
        current.drop("risk_tier"), on="customer_id", how="left"
    )


def recommendation_for(session: Session, principal: Principal, customer_id: int) -> dict[str, Any]:
    """One customer's recommendation (the row of ``recommendations``)."""
    customer = customer_service.get_customer_or_raise(session, principal, customer_id)
    unassessed = consent.without_consent(session, "credit_assessment", [customer.id])
    rows = [] if unassessed else recommendations(session, [customer_id]).to_dicts()
    if not rows:  # merged, or no consent to assess: no recommendation
        profile = customer_repo.get_profile(session, customer_id)
        assert profile is not None
        rows = [
            {
                "customer_id": customer_id,
                "risk_tier": profile.risk_tier,
                "current_limit": float(profile.credit_limit),
                "limit_currency": profile.limit_currency,
                "recommended_limit": None,
            }
        ]
    row = rows[0]
    if row["recommended_limit"] is not None:
        row["recommended_limit"] = Decimal(str(row["recommended_limit"])).quantize(Decimal("0.01"))
    row["current_limit"] = Decimal(str(row["current_limit"])).quantize(Decimal("0.01"))
    return row


def apply_recommendation(
    session: Session, principal: Principal, customer_id: int
) -> dict[str, int | None]:
    """Act on the recommendation: a higher limit becomes a limit request; a lower limit, other
    terms or prepayment go to the approval queue. Returns what was created."""
    customer = customer_service.get_customer_or_raise(session, principal, customer_id)
    consent.require_consent(session, customer, "credit_assessment")
    rec = recommendation_for(session, principal, customer_id)
    if rec["recommended_limit"] is None:
        raise Conflict(
            "no recommendation: the customer has no risk tier yet", code="no_recommendation"
        )
    why = f"policy recommendation for tier {rec['risk_tier']}"
    created: dict[str, int | None] = {"limit_request_id": None, "pending_change_id": None}
    if rec["recommended_limit"] > rec["current_limit"]:
        request, _ = request_limit(
            session,
            principal,
            customer_id,
            LimitRequestIn(
                requested_limit=rec["recommended_limit"],
                currency=rec["limit_currency"],
                reason=why,
            ),
            origin="policy",
        )
        created["limit_request_id"] = request.id
    change: dict[str, Any] = {
        "payment_terms_days": rec["payment_terms_days"],
        "prepayment_required": rec["prepayment_required"],
    }
    if rec["recommended_limit"] < rec["current_limit"]:
        change["credit_limit"] = rec["recommended_limit"]
    outcome = customer_service.update_customer(
        session,
        principal,
        customer_id,
        CustomerUpdate.model_validate({**change, "reason": why}),
        channel="policy",
    )
    created["pending_change_id"] = outcome.pending.id if outcome.pending else None
    return created


# ---------------------------------------------------------------- limit requests


def _origin(principal: Principal) -> str:
    return {
        Role.SALES.value: "sales",
        Role.RISK_ANALYST.value: "analyst",
        Role.CREDIT_MANAGER.value: "manager",
    }.get(principal.user.role, "manager")


def request_limit(
    session: Session,
    principal: Principal,
    customer_id: int,
    body: LimitRequestIn,
    *,
    origin: str | None = None,
) -> tuple[LimitRequest, bool]:
    """Ask for a new limit; (request, created). The same request again changes nothing."""
    customer = customer_service.get_customer_or_raise(session, principal, customer_id)
    if customer.status in ("closed", "merged"):
        raise ValidationFailed(f"{customer.code} is {customer.status}", field="customer_id")
    profile = customer_repo.get_profile(session, customer_id)
    assert profile is not None
    for waiting in repo.pending_for(session, customer_id):
        if waiting.expires_at < utcnow():
            continue  # expires on the next sweep; it does not block a new one
        if waiting.requested_limit == body.requested_limit and waiting.currency == body.currency:
            return waiting, False
        raise Conflict(
            f"request {waiting.id} for this customer is still pending; decide or withdraw it",
            field="requested_limit",
            code="request_pending",
        )
    if body.requested_limit == profile.credit_limit and body.currency == profile.limit_currency:
        raise ValidationFailed(
            "that is already the customer's limit", field="requested_limit", code="no_change"
        )
    now = utcnow()
    request = LimitRequest(
        customer_id=customer_id,
        current_limit=profile.credit_limit,
        requested_limit=body.requested_limit,
        currency=body.currency,
        risk_tier=profile.risk_tier,
        reason=body.reason,
        origin=origin or _origin(principal),
        status="pending",
        requested_by_id=principal.user_id,
        requested_at=now,
        expires_at=now + dt.timedelta(days=body.expires_in_days),
    )
    session.add(request)
    session.flush()
    return request, True


def authority_of(
    session: Session, principal: Principal, tier: str | None, day: dt.date
) -> tuple[Decimal | None, int | None]:
    """The largest limit the caller may approve for a tier, and on whose behalf (a delegator)."""

    def best(rows: list[ApprovalAuthority], users: set[int], roles: set[str]) -> Decimal | None:
        amounts = [
            r.max_limit
            for r in rows
            if (r.user_id in users or r.role in roles) and (r.tier is None or r.tier == tier)
        ]
        return max(amounts) if amounts else None

    me = (principal.user_id, principal.user.role)
    delegations = repo.active_delegations_to(session, principal.user_id, day)
    found = [users_repo.get_user(session, d.from_user_id) for d in delegations]
    # A delegator lends only what they hold today: nothing once disabled, or once their role
    # can no longer approve.
    delegators = [u for u in found if u is not None and u.is_active and _may_approve(u.role)]
    pairs = [me] + [(u.id, u.role) for u in delegators]
    rows = repo.authorities_for(session, pairs)
    own = best(rows, {me[0]}, {me[1]})
    chosen, on_behalf = own, None
    for user in delegators:
        lent = best(rows, {user.id}, {user.role})
        if lent is not None and (chosen is None or lent > chosen):
            chosen, on_behalf = lent, user.id
    return chosen, on_behalf


def _creation_authority(session: Session, principal: Principal) -> Decimal | None:
    """How large a limit the creator of a new customer may give it alone: what they could
    approve for an unrated customer, and nothing when they may not approve limits at all (an
    intake token without 'limit_requests:approve' carries no authority)."""
    if not principal.can(Permission.LIMIT_REQUESTS_APPROVE):
        return None
    return authority_of(session, principal, None, today())[0]


customer_service.register_creation_authority(_creation_authority)


def get_request_or_raise(session: Session, principal: Principal, request_id: int) -> LimitRequest:
    """A limit request of a customer the caller may see, or NotFound (also when the customer
    is not theirs: the answer never tells a hidden request from a missing one)."""
    request = repo.get_request(session, request_id)
    missing = NotFound(f"no limit request {request_id}", field="request_id")
    if request is None:
        raise missing
    customer_service.ensure_visible(session, principal, request.customer_id, missing)
    return request


def _pending_or_raise(session: Session, principal: Principal, request_id: int) -> LimitRequest:
    request = repo.get_request(session, request_id, lock=True)
    missing = NotFound(f"no limit request {request_id}", field="request_id")
    if request is None:
        raise missing
    # Before anything is said about its state: another team's request is as good as missing.
    customer_service.ensure_visible(session, principal, request.customer_id, missing)
    if request.status == "pending" and request.expires_at < utcnow():
        request.status = "expired"
        request.decided_at = utcnow()
        session.flush()
    if request.status != "pending":
        raise Conflict(f"request {request_id} is {request.status}", code="already_decided")
    return request


def approve(
    session: Session, principal: Principal, request_id: int, comment: str | None
) -> LimitRequest:
    """Approve a request within one's authority (four eyes); the credit file gets the limit."""
    if not principal.can(Permission.LIMIT_REQUESTS_APPROVE):
        raise PermissionDenied("approving limit requests needs 'limit_requests:approve'")
    request = _pending_or_raise(session, principal, request_id)
    customer = customer_service.get_customer_or_raise(session, principal, request.customer_id)
    ensure_second_person(principal, request.requested_by_id, "nobody approves their own request")
    profile = customer_repo.get_profile(session, customer.id)
    assert profile is not None
    limit, on_behalf = authority_of(session, principal, profile.risk_tier, today())
    if limit is None or request.requested_limit > limit:
        allowed = f"up to {limit:,.2f}" if limit is not None else "no limit at all"
        raise PermissionDenied(
            f"your authority for tier {profile.risk_tier or 'unrated'} is {allowed}; "
            "a colleague with more authority must approve",
            field="requested_limit",
            code="beyond_authority",
        )
    if profile.credit_limit != request.current_limit:
        raise Conflict(
            "the limit changed since this was requested; reject it and request again",
            field="requested_limit",
            code="stale_change",
        )
    changes = [
        (
            "credit_limit",
            customer_service.to_text(profile.credit_limit),
            customer_service.to_text(request.requested_limit),
        )
    ]
    if profile.limit_currency != request.currency:
        changes.append(("limit_currency", profile.limit_currency, request.currency))
    customer_service.apply_approved(
        session,
        customer,
        profile,
        changes,
        requested_by_id=request.requested_by_id,
        approved_by_id=principal.user_id,
        channel="limit_request",
        reason=request.reason,
        action="limit_request",
    )
    request.status = "approved"
    request.decided_by_id = principal.user_id
    request.on_behalf_of_id = on_behalf
    request.decided_at = utcnow()
    request.decision_comment = comment
    session.flush()
    return request


def reject(
    session: Session, principal: Principal, request_id: int, comment: str | None
) -> LimitRequest:
    """Reject a request (an approver), or withdraw one's own."""
    request = _pending_or_raise(session, principal, request_id)
    own = request.requested_by_id == principal.user_id
    if not own and not principal.can(Permission.LIMIT_REQUESTS_APPROVE):
        raise PermissionDenied("rejecting limit requests needs 'limit_requests:approve'")
    request.status = "withdrawn" if own else "rejected"
    request.decided_by_id = principal.user_id
    request.decided_at = utcnow()
    request.decision_comment = comment
    session.flush()
    return request


def expire_due(session: Session) -> int:
    """Expire pending requests past their date; how many."""
    return repo.expire(session, utcnow())


def list_requests(
    session: Session,
    principal: Principal,
    *,
    status: str | None = None,
    customer_id: int | None = None,
    limit: int = 200,
) -> list[LimitRequest]:
    """Limit requests the caller may see, newest first, by their status as of now (see
    ``LimitRequest.current_status``): listing writes nothing, the expiry sweep does."""
    return repo.list_requests(
        session,
        status=status,
        customer_id=customer_id,
        owner_ids=customer_service.visible_owner_ids(principal),
        limit=limit,
        now=utcnow(),
    )


def page_requests(
    session: Session,
    principal: Principal,
    *,
    status: str | None,
    within: Any,
    page: PageParams,
    sort: str,
    customer_id: int | None = None,
) -> tuple[list[LimitRequest], int]:
    """One page of the limit requests the caller may see, sorted by one of
    ``repo.REQUEST_SORTS`` (``-`` in front: descending), with how many match in all."""
    if sort.removeprefix("-") not in repo.REQUEST_SORTS:
        raise ValidationFailed(f"unknown sort {sort!r}", field="sort")
    owners = customer_service.visible_owner_ids(principal)
    now = utcnow()
    total = repo.count_requests(
        session, status=status, customer_id=customer_id, owner_ids=owners, now=now, within=within
    )
    rows = repo.list_requests(session, status=status, customer_id=customer_id, owner_ids=owners,
                              limit=page.size, now=now, within=within, offset=page.offset,
                              sort=sort)  # fmt: skip
    return rows, total


def count_requests(
    session: Session,
    principal: Principal,
    *,
    status: str | None,
    customer_id: int | None,
    within: Any = None,
) -> int:
    """How many limit requests the caller may see match (the list without its limit)."""
    return repo.count_requests(
        session,
        status=status,
        customer_id=customer_id,
        owner_ids=customer_service.visible_owner_ids(principal),
        now=utcnow(),
        within=within,
    )


def export_requests(
    session: Session,
    principal: Principal,
    *,
    status: str | None,
    customer_id: int | None,
    chunk: int,
    within: Any = None,
) -> Iterator[dict[str, Any]]:
    """The limit request list's rows for a file (newest first, status as of now; ``within``: a
    SELECT of the customer ids to keep to), streamed."""
    rows = repo.requests_for_export(
        session,
        status=status,
        customer_id=customer_id,
        owner_ids=customer_service.visible_owner_ids(principal),
        now=utcnow(),
        chunk=chunk,
        within=within,
    )
    for r, kind, company_name, person_name, requested_by, decided_by in rows:
        yield {
            "id": r.id,
            "customer_code": customer_repo.customer_code(r.customer_id),
            "customer_name": customer_service.shown_name(kind, company_name, person_name),
            "risk_tier": r.risk_tier,
            "current_limit": r.current_limit,
            "requested_limit": r.requested_limit,
            "currency": r.currency,
            "origin": r.origin,
            "status": r.current_status,
            "reason": r.reason,
            "requested_by": requested_by,
            "requested_at": r.requested_at,
            "expires_at": r.expires_at,
            "decided_by": decided_by,
            "decided_at": r.decided_at,
        }


# ---------------------------------------------------------------- matrix and delegations


def list_authorities(session: Session) -> list[ApprovalAuthority]:
    """The approval matrix."""
    return repo.authorities(session)


def add_authority(session: Session, body: AuthorityIn) -> tuple[ApprovalAuthority, bool]:
    """Add a row to the approval matrix; the same row again changes nothing."""
    user_id = None
    if body.username is not None:
        user = users_repo.get_user_by_username(session, body.username)
        if user is None:
            raise NotFound(f"no user {body.username!r}", field="username")
        user_id = user.id
    for row in repo.authorities(session):
        if (row.role, row.user_id, row.tier) == (body.role, user_id, body.tier):
            if row.max_limit == body.max_limit:
                return row, False
            row.max_limit = body.max_limit
            session.flush()
            return row, False
    row = ApprovalAuthority(
        role=body.role, user_id=user_id, tier=body.tier, max_limit=body.max_limit
    )
    session.add(row)
    session.flush()
    return row, True


def remove_authority(session: Session, authority_id: int) -> None:
    """Remove a row of the approval matrix."""
    row = repo.get_authority(session, authority_id)
    if row is None:
        raise NotFound(f"no authority {authority_id}", field="authority_id")
    session.delete(row)
    session.flush()


def _may_approve(role: str) -> bool:
    return Permission.LIMIT_REQUESTS_APPROVE in permissions_for(role)


def delegate(
    session: Session, principal: Principal, body: DelegationIn
) -> tuple[ApprovalDelegation, bool]:
    """Lend one's approval authority to a colleague for a period."""
    to = users_repo.get_user_by_username(session, body.to_username)
    if to is None or not to.is_active:
        raise NotFound(f"no active user {body.to_username!r}", field="to_username")
    if to.id == principal.user_id:
        raise ValidationFailed("you cannot delegate to yourself", field="to_username")
    if not _may_approve(to.role):
        raise ValidationFailed(
            f"{to.username} cannot approve limit requests (role {to.role}); delegate to "
            "someone whose role approves them",
            field="to_username",
            code="delegate_cannot_approve",
        )
    if not repo.authorities_for(session, [(principal.user_id, principal.user.role)]):
        raise PermissionDenied(
            "you hold no approval authority in the approval matrix, so there is none to lend",
            code="no_authority_to_delegate",
        )
    for d in repo.delegations(session, principal.user_id):
        same = (d.from_user_id, d.to_user_id, d.valid_from, d.valid_to) == (
            principal.user_id,
            to.id,
            body.valid_from,
            body.valid_to,
        )
        if same and d.revoked_at is None:
            return d, False
    delegation = ApprovalDelegation(
        from_user_id=principal.user_id,
        to_user_id=to.id,
        valid_from=body.valid_from,
        valid_to=body.valid_to,
        reason=body.reason,
    )
    session.add(delegation)
    session.flush()
    return delegation, True


def revoke_delegation(
    session: Session, principal: Principal, delegation_id: int
) -> ApprovalDelegation:
    """End a delegation one gave."""
    d = repo.get_delegation(session, delegation_id)
    if d is None or d.from_user_id != principal.user_id:
        raise NotFound(f"no delegation {delegation_id} of yours", field="delegation_id")
    if d.revoked_at is None:
        d.revoked_at = utcnow()
        session.flush()
    return d


def list_delegations(session: Session, principal: Principal) -> list[ApprovalDelegation]:
    """Delegations the caller gave or holds."""
    return repo.delegations(session, principal.user_id)


# ---------------------------------------------------------------- periodic reviews

EVIDENCE_INDICATORS = (
    "dpd_max",
    "dpd_weighted",
    "overdue_ratio",
    "oldest_overdue_age_days",
    "paydex",
    "dso_90d",
    "orders_amount_365d",
    "purchase_activity_ratio_30d",
    "return_rate_365d",
    "complaints_count_90d",
    "days_since_last_order",
)


def _add_months(day: dt.date, months: int) -> dt.date:
    return pl.Series([day]).dt.offset_by(f"{months}mo").item()  # type: ignore[no-any-return]


def schedule_reviews(
    session: Session, customer_ids: Sequence[int] | None = None, *, as_of: dt.date | None = None
) -> int:
    """Set each tiered customer's next review from their tier, vectorised; how many changed.

    The next review is the last review (or today, if never reviewed) plus the tier's review
    months. A riskier tier pulls a later date in; a date is never pushed later here - only
    completing a review moves it on.
    """
    day = as_of or today()
    months = pl.DataFrame(
        [(p.tier, p.review_months) for p in repo.policies(session)],
        schema={"tier": pl.String, "months": pl.Int64},
        orient="row",
    )
    schedule = repo.review_schedule(session, customer_ids).join(months, on="tier", how="inner")
    if schedule.height == 0:
        return 0
    due = schedule.with_columns(
        due=pl.col("last_review_date")
        .fill_null(day)
        .dt.offset_by(pl.format("{}mo", pl.col("months")))
    ).filter(pl.col("next_review_date").is_null() | (pl.col("due") < pl.col("next_review_date")))
    repo.set_next_review_dates(
        session, [{"cid": cid, "next": d} for cid, d in due.select("customer_id", "due").rows()]
    )
    return due.height


def page_queue(
    session: Session,
    principal: Principal,
    *,
    horizon_days: int,
    within: Any,
    page: PageParams,
    sort: str = "due",
) -> tuple[list[dict[str, Any]], int]:
    """One page of the review queue the caller may see, sorted by one of ``repo.QUEUE_SORTS``
    (``-`` in front: descending), with how many customers it holds in all."""
    if sort.removeprefix("-") not in repo.QUEUE_SORTS:
        raise ValidationFailed(f"unknown sort {sort!r}", field="sort")
    day = today()
    until = day + dt.timedelta(days=horizon_days)
    owners = customer_service.visible_owner_ids(principal)
    total = repo.count_queue(session, until, owners, within)
    rows = repo.page_queue(
        session, until, owners, within, offset=page.offset, limit=page.size, sort=sort
    )
    return [_queue_entry(row, day) for row in rows], total


def _queue_entry(row: Any, day: dt.date) -> dict[str, Any]:
    customer, profile, review_id = row
    return {
        "customer_id": customer.id,
        "code": customer.code,
        "name": customer.company_name or customer.person_name or "",
        "risk_tier": profile.risk_tier,
        "score": profile.score,
        "last_review_date": profile.last_review_date,
        "next_review_date": profile.next_review_date,
        "overdue": profile.next_review_date < day,
        "open_review_id": review_id,
    }


def review_queue(
    session: Session,
    principal: Principal,
    *,
    horizon_days: int = 30,
    limit: int = 500,
    within: Any = None,
) -> list[dict[str, Any]]:
    """Customers due for review within the horizon (overdue first), that the caller may see
    (``within``: a SELECT of the customer ids to keep to)."""
    day = today()
    rows = repo.review_queue(
        session,
        day + dt.timedelta(days=horizon_days),
        customer_service.visible_owner_ids(principal),
        limit,
        within,
    )
    return [_queue_entry(row, day) for row in rows]


def count_queue(
    session: Session, principal: Principal, *, horizon_days: int, within: Any = None
) -> int:
    """How many customers the review queue holds (without its limit)."""
    until = today() + dt.timedelta(days=horizon_days)
    return repo.count_queue(session, until, customer_service.visible_owner_ids(principal), within)


def export_queue(
    session: Session, principal: Principal, *, horizon_days: int, chunk: int, within: Any = None
) -> Iterator[dict[str, Any]]:
    """The review queue's rows for a file (earliest due first; ``within``: a SELECT of the
    customer ids to keep to), streamed."""
    day = today()
    rows = repo.queue_for_export(
        session,
        day + dt.timedelta(days=horizon_days),
        customer_service.visible_owner_ids(principal),
        chunk,
        within,
    )
    for customer, profile, review_id in rows:
        yield {
            "next_review_date": profile.next_review_date,
            "overdue": profile.next_review_date < day,
            "customer_code": customer.code,
            "customer_name": customer.name,
            "risk_tier": profile.risk_tier,
            "score": profile.score,
            "last_review_date": profile.last_review_date,
            "open_review_id": review_id,
        }


def _evidence(session: Session, principal: Principal, customer_id: int) -> dict[str, Any]:
    from riskdesk.credit import service as credit_service
    from riskdesk.indicators import service as indicator_service

    snapshot = indicator_service.get_snapshot(session, customer_id)
    latest = scoring_repo.latest_scores(session, [customer_id]).get(customer_id)
    rec = recommendation_for(session, principal, customer_id)
    exposure = credit_service.exposure_read(session, principal, customer_id)
    return {
        "indicators_as_of": snapshot.as_of.isoformat() if snapshot else None,
        "indicators": {
            name: (snapshot.values.get(name) if snapshot else None) for name in EVIDENCE_INDICATORS
        },
        "score": (
            {
                "score": latest.score,
                "rating": latest.rating,
                "risk_tier": latest.risk_tier,
                "scored_at": latest.scored_at.isoformat(),
                "reasons": latest.reasons,
            }
            if latest
            else None
        ),
        "exposure": exposure.model_dump(mode="json"),
        "recommendation": {
            k: (str(v) if isinstance(v, Decimal) else v)
            for k, v in rec.items()
            if k
            in (
                "recommended_limit",
                "current_limit",
                "payment_terms_days",
                "prepayment_required",
                "review_months",
                "risk_tier",
            )
        },
    }


def open_review(
    session: Session, principal: Principal, customer_id: int
) -> tuple[CreditReview, bool]:
    """Start a review: capture what the reviewer sees. An open review is returned as it is."""
    customer = customer_service.get_customer_or_raise(session, principal, customer_id)
    existing = repo.open_review_of(session, customer.id)
    if existing is not None:
        return existing, False
    if customer.status in ("closed", "merged"):
        raise ValidationFailed(f"{customer.code} is {customer.status}", field="customer_id")
    profile = customer_repo.get_profile(session, customer.id)
    assert profile is not None
    review = CreditReview(
        customer_id=customer.id,
        status="open",
        due_date=profile.next_review_date,
        risk_tier=profile.risk_tier,
        evidence=_evidence(session, principal, customer.id),
        opened_by_id=principal.user_id,
        opened_at=utcnow(),
    )
    session.add(review)
    session.flush()
    return review, True


def complete_review(
    session: Session, principal: Principal, review_id: int, body: ReviewComplete
) -> CreditReview:
    """Sign off a review: record the decision, start its follow-up, set the next due date."""
    review = repo.get_review(session, review_id, lock=True)
    missing = NotFound(f"no review {review_id}", field="review_id")
    if review is None:
        raise missing
    customer = customer_service.ensure_visible(session, principal, review.customer_id, missing)
    if review.status != "open":
        raise Conflict(f"review {review_id} is {review.status}", code="already_decided")
    profile = customer_repo.get_profile(session, customer.id)
    assert profile is not None
    why = f"periodic review {review.id}: {body.comment}"
    if body.outcome == "limit_change":
        assert body.new_limit is not None
        if body.new_limit > profile.credit_limit:
            request, _ = request_limit(
                session,
                principal,
                customer.id,
                LimitRequestIn(
                    requested_limit=body.new_limit, currency=profile.limit_currency, reason=why
                ),
            )
            review.limit_request_id = request.id
        elif body.new_limit < profile.credit_limit:
            review.pending_change_id = _queue_change(
                session, principal, customer.id, {"credit_limit": body.new_limit}, why
            )
    elif body.outcome == "block":
        review.pending_change_id = _queue_change(
            session,
            principal,
            customer.id,
            {"blocked": True, "blocked_reason": body.comment},
            why,
        )
    policy = repo.get_policy(session, profile.risk_tier) if profile.risk_tier else None
    day = today()
    old_last, old_next = profile.last_review_date, profile.next_review_date
    profile.last_review_date = day
    profile.next_review_date = _add_months(day, policy.review_months if policy else 12)
    customer_service.record_version(
        session,
        customer=customer,
        actor_id=principal.user_id,
        action="review",
        channel="review",
        reason=why,
        changes=[
            ("last_review_date", customer_service.to_text(old_last), day.isoformat()),
            (
                "next_review_date",
                customer_service.to_text(old_next),
                profile.next_review_date.isoformat(),
            ),
        ],
    )
    review.status = "completed"
    review.outcome = body.outcome
    review.comment = body.comment
    review.signed_off_by_id = principal.user_id
    review.signed_off_at = utcnow()
    review.next_review_date = profile.next_review_date
    session.flush()
    return review


def _queue_change(
    session: Session, principal: Principal, customer_id: int, fields: dict[str, Any], why: str
) -> int | None:
    outcome = customer_service.update_customer(
        session,
        principal,
        customer_id,
        CustomerUpdate.model_validate({**fields, "reason": why}),
        channel="review",
    )
    return outcome.pending.id if outcome.pending else None


def get_review(session: Session, principal: Principal, review_id: int) -> CreditReview:
    """One review, if the caller may see its customer."""
    review = repo.get_review(session, review_id)
    missing = NotFound(f"no review {review_id}", field="review_id")
    if review is None:
        raise missing
    customer_service.ensure_visible(session, principal, review.customer_id, missing)
    return review


def reviews_of(session: Session, principal: Principal, customer_id: int) -> list[CreditReview]:
    """A customer's reviews, newest first."""
    customer_service.get_customer_or_raise(session, principal, customer_id)
    return repo.reviews_of(session, customer_id)


def _on_scores_stored(session: Session, customer_ids: Sequence[int] | None, **_: Any) -> None:
    schedule_reviews(session, customer_ids)


signals.subscribe(signals.SCORES_STORED, _on_scores_stored)


def _on_customers_merged(
    session: Session, survivor_id: int, duplicate_id: int, actor_id: int, **_: Any
) -> None:
    """What waited on the duplicate's own limit ends with it: a pending limit request (it asked
    to move the duplicate's limit, which no longer governs anything) is withdrawn, an open review
    cancelled; decided ones stay in the duplicate's history. The survivor asks afresh."""
    now = utcnow()
    note = customer_service.MERGED_NOTE
    for request in repo.pending_for(session, duplicate_id):
        request.status = "withdrawn"
        request.decided_by_id = actor_id
        request.decided_at = now
        request.decision_comment = note
    review = repo.open_review_of(session, duplicate_id)
    if review is not None:
        review.status = "cancelled"  # nobody signed it off: the merge's version entry says who
        review.comment = note
    session.flush()


signals.subscribe(signals.CUSTOMERS_MERGED, _on_customers_merged)
