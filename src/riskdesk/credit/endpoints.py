"""API of credit exposure, order credit checks and the held-order worklist."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from riskdesk.credit import repository as repo
from riskdesk.credit import service
from riskdesk.credit.schemas import (
    CategoryUpdate,
    CheckRuleRead,
    CheckRuleUpdate,
    CreditCheckIn,
    CreditCheckResult,
    CreditDecisionRead,
    ExposureDifference,
    ExposureLine,
    ExposureRead,
    GroupDecisionIn,
    GroupLimitChangeRead,
    GroupLimitIn,
    GroupRead,
    Resolution,
    SpecialExposureIn,
    SpecialExposureRead,
)
from riskdesk.customers import service as customer_service
from riskdesk.customers.deps import CustomerScopeDep
from riskdesk.db import SessionDep, reads_first
from riskdesk.kit.pagination import MAX_PAGE_SIZE, PageParams
from riskdesk.kit.validation import PathId
from riskdesk.security.deps import (
    CanChangesApprove,
    CanCreditCheck,
    CanCreditDecisionsResolve,
    CanCreditPolicyManage,
    CanCustomersRead,
    CanExposureManage,
)

router = APIRouter(tags=["credit"])


@router.post(
    "/credit-checks",
    response_model=CreditCheckResult,
    status_code=201,
    responses={200: {"description": "the order was already checked"}},
)
# The check reads the credit file before it takes the write lock (SQLite), for the short write
# of its decision only: see service.check_order.
@reads_first
def credit_check(
    body: CreditCheckIn, session: SessionDep, principal: CanCreditCheck, response: Response
) -> dict[str, Any]:
    """Approve, hold or reject an order at once; the decision and its reasons are recorded.

    Idempotent on (source, order_external_id): asking again returns the recorded decision.
    An approved order reserves its amount until the order itself arrives.
    """
    decision, available, duplicate = service.check_order(session, principal, body)
    if duplicate:
        response.status_code = 200
    en, zh = service.reasons(decision)
    # Plain values: FastAPI validates them into the response model once, after the session's
    # commit (SessionDep ends with the endpoint), so SQLite's write lock is not held meanwhile;
    # a model returned here would be built here, then dumped and validated again.
    return {
        "decision": decision,
        "outcome": decision.outcome,
        "reasons_en": en,
        "reasons_zh": zh,
        "available_before": available,
        "duplicate": duplicate,
    }


@dataclass(frozen=True)
class DecisionFilter:
    """What the decision list is narrowed to."""

    status: str | None = None


def decision_filter(
    status: Annotated[
        str | None, Query(pattern="^(approved|held|rejected|released|consumed)$")
    ] = None,
) -> DecisionFilter:
    """The decision filter from query parameters (the list's and its export's)."""
    return DecisionFilter(status=status)


DecisionFilterDep = Annotated[DecisionFilter, Depends(decision_filter)]


@router.get(
    "/credit-decisions",
    response_model=list[CreditDecisionRead],
    responses={200: {"headers": {"X-Total-Count": {"schema": {"type": "integer"}}}}},
)
def list_decisions(
    session: SessionDep,
    principal: CanCustomersRead,
    flt: DecisionFilterDep,
    within: CustomerScopeDep,
    response: Response,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = MAX_PAGE_SIZE,
    sort: Annotated[
        str, Query(pattern="^-?(created|amount)$", description="created or amount; - descending")
    ] = "-created",
) -> list[CreditDecisionRead]:
    """Credit decisions, a page at a time, newest first unless ``sort`` says otherwise;
    status=held is the blocked-order worklist; the portfolio's customer filters (region,
    segment, owner, tier, industry) narrow it. The total is in X-Total-Count."""
    rows, total = service.page_decisions(
        session, principal, status=flt.status, within=within, page=PageParams(page, size),
        sort=sort,
    )  # fmt: skip
    response.headers["X-Total-Count"] = str(total)
    return [CreditDecisionRead.model_validate(d) for d in rows]


@router.get("/credit-decisions/{decision_id}", response_model=CreditDecisionRead)
def get_decision(
    decision_id: PathId, session: SessionDep, principal: CanCustomersRead
) -> CreditDecisionRead:
    """One decision with its inputs and every step."""
    return CreditDecisionRead.model_validate(
        service.get_decision_or_raise(session, principal, decision_id)
    )


@router.post("/credit-decisions/{decision_id}/release", response_model=CreditDecisionRead)
def release(
    decision_id: PathId, body: Resolution, session: SessionDep, principal: CanCreditDecisionsResolve
) -> CreditDecisionRead:
    """Release a held order (not one you placed)."""
    return CreditDecisionRead.model_validate(
        service.release(session, principal, decision_id, body.reason)
    )


@router.post("/credit-decisions/{decision_id}/reject", response_model=CreditDecisionRead)
def reject(
    decision_id: PathId, body: Resolution, session: SessionDep, principal: CanCreditDecisionsResolve
) -> CreditDecisionRead:
    """Reject a held order."""
    return CreditDecisionRead.model_validate(
        service.reject(session, principal, decision_id, body.reason)
    )


@router.post("/credit-decisions/{decision_id}/recheck", response_model=CreditDecisionRead)
def recheck(
    decision_id: PathId, session: SessionDep, principal: CanCreditDecisionsResolve
) -> CreditDecisionRead:
    """Run the checks again on a held order."""
    return CreditDecisionRead.model_validate(service.recheck(session, principal, decision_id))


@router.get("/customers/{customer_id}/exposure", response_model=ExposureRead)
def exposure(customer_id: PathId, session: SessionDep, principal: CanCustomersRead) -> ExposureRead:
    """Exposure by category, available credit and limit utilisation."""
    return service.exposure_read(session, principal, customer_id)


@router.get("/customers/{customer_id}/credit-decisions", response_model=list[CreditDecisionRead])
def customer_decisions(
    customer_id: PathId, session: SessionDep, principal: CanCustomersRead
) -> list[CreditDecisionRead]:
    """A customer's decision history."""
    customer_service.get_customer_or_raise(session, principal, customer_id)
    return [
        CreditDecisionRead.model_validate(d)
        for d in service.list_decisions(session, principal, customer_id=customer_id)
    ]


@router.get("/customers/{customer_id}/special-exposures", response_model=list[SpecialExposureRead])
def list_special(
    customer_id: PathId, session: SessionDep, principal: CanCustomersRead
) -> list[SpecialExposureRead]:
    """Manual exposure entries."""
    customer_service.get_customer_or_raise(session, principal, customer_id)
    return [
        SpecialExposureRead.model_validate(e) for e in repo.special_exposures(session, customer_id)
    ]


@router.post(
    "/customers/{customer_id}/special-exposures",
    response_model=SpecialExposureRead,
    status_code=201,
)
def add_special(
    customer_id: PathId, body: SpecialExposureIn, session: SessionDep, principal: CanExposureManage
) -> SpecialExposureRead:
    """Record exposure no event shows (a guarantee, a disputed delivery, consignment stock)."""
    return SpecialExposureRead.model_validate(
        service.add_special(session, principal, customer_id, body)
    )


@router.delete(
    "/customers/{customer_id}/special-exposures/{entry_id}", response_model=SpecialExposureRead
)
def release_special(
    customer_id: PathId, entry_id: PathId, session: SessionDep, principal: CanExposureManage
) -> SpecialExposureRead:
    """End a manual exposure entry."""
    return SpecialExposureRead.model_validate(
        service.release_special(session, principal, customer_id, entry_id)
    )


@router.get("/credit-check-rules", response_model=list[CheckRuleRead])
def list_rules(session: SessionDep, _: CanCustomersRead) -> list[CheckRuleRead]:
    """The steps of the order credit check."""
    return [CheckRuleRead.model_validate(r) for r in repo.rules(session)]


@router.patch("/credit-check-rules/{code}", response_model=CheckRuleRead)
def update_rule(
    code: str, body: CheckRuleUpdate, session: SessionDep, principal: CanCreditPolicyManage
) -> CheckRuleRead:
    """Change a step's reaction (warn, hold, reject), parameters, or switch it off."""
    return CheckRuleRead.model_validate(service.update_rule(session, principal, code, body))


@router.get("/exposure-categories", response_model=list[ExposureLine])
def list_categories(session: SessionDep, _: CanCustomersRead) -> list[ExposureLine]:
    """The exposure categories (amount is zero here)."""
    return [
        ExposureLine(
            category=c.code,
            name_en=c.name_en,
            name_zh=c.name_zh,
            counts_in_limit=c.counts_in_limit,
            amount=0,
        )
        for c in repo.categories(session)
    ]


@router.patch("/exposure-categories/{code}", response_model=ExposureLine)
def update_category(
    code: str, body: CategoryUpdate, session: SessionDep, _: CanCreditPolicyManage
) -> ExposureLine:
    """Count a category in the limit check, or show it for information only."""
    c = service.set_category(session, code, body.counts_in_limit)
    return ExposureLine(
        category=c.code,
        name_en=c.name_en,
        name_zh=c.name_zh,
        counts_in_limit=c.counts_in_limit,
        amount=0,
    )


@router.get("/exposure/verify", response_model=list[ExposureDifference])
def verify(session: SessionDep, _: CanCreditPolicyManage) -> list[ExposureDifference]:
    """Recompute exposure from the events and list every difference (there should be none)."""
    return service.verify(session)


@router.get("/customer-groups", response_model=list[GroupRead])
def list_groups(session: SessionDep, _: CanCustomersRead) -> list[GroupRead]:
    """Customer groups with their limit and counted exposure."""
    return [
        GroupRead(
            code=g.code,
            name=g.name,
            credit_limit=g.credit_limit,
            limit_currency=g.limit_currency,
            members=n,
            exposure=e,
        )
        for g, n, e in service.list_groups(session)
    ]


@router.post(
    "/customer-groups/{code}/limit-changes", response_model=GroupLimitChangeRead, status_code=201
)
def request_group_limit(
    code: str, body: GroupLimitIn, session: SessionDep, principal: CanCreditPolicyManage
) -> GroupLimitChangeRead:
    """Ask for a new group credit limit; it applies when a second person approves."""
    return GroupLimitChangeRead.model_validate(
        service.request_group_limit(
            session, principal, code, body.credit_limit, body.limit_currency, body.reason
        )
    )


@router.post("/group-limit-changes/{change_id}/approve", response_model=GroupLimitChangeRead)
def approve_group_limit(
    change_id: PathId,
    session: SessionDep,
    principal: CanChangesApprove,
    body: GroupDecisionIn | None = None,
) -> GroupLimitChangeRead:
    """Approve a group limit change (not your own)."""
    return GroupLimitChangeRead.model_validate(
        service.decide_group_limit(
            session, principal, change_id, approve=True, comment=body.comment if body else None
        )
    )


@router.post("/group-limit-changes/{change_id}/reject", response_model=GroupLimitChangeRead)
def reject_group_limit(
    change_id: PathId,
    session: SessionDep,
    principal: CanChangesApprove,
    body: GroupDecisionIn | None = None,
) -> GroupLimitChangeRead:
    """Reject a group limit change."""
    return GroupLimitChangeRead.model_validate(
        service.decide_group_limit(
            session, principal, change_id, approve=False, comment=body.comment if body else None
        )
    )
