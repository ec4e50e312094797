"""API of tier policies, recommended limits, limit requests, the approval matrix, delegations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from riskdesk.customers.deps import CustomerScopeDep
from riskdesk.db import SessionDep
from riskdesk.kit.pagination import MAX_PAGE_SIZE, PageParams
from riskdesk.kit.validation import PathId
from riskdesk.policy import service
from riskdesk.policy.schemas import (
    AuthorityIn,
    AuthorityRead,
    DecisionIn,
    DelegationIn,
    DelegationRead,
    LimitRequestIn,
    LimitRequestRead,
    QueueEntry,
    RecommendationRead,
    ReviewComplete,
    ReviewRead,
    TierPolicyIn,
    TierPolicyRead,
)
from riskdesk.security.deps import (
    CanCreditPolicyManage,
    CanCustomersRead,
    CanLimitRequestsApprove,
    CanLimitRequestsCreate,
    CanReviewsPerform,
)

router = APIRouter(tags=["policy"])

Tier = Annotated[str, Path(pattern="^(low|medium|high|critical)$")]


@router.get("/tier-policies", response_model=list[TierPolicyRead])
def list_policies(session: SessionDep, _: CanCustomersRead) -> list[TierPolicyRead]:
    """The credit policy of each risk tier."""
    return [TierPolicyRead.model_validate(p) for p in service.list_policies(session)]


@router.put("/tier-policies/{tier}", response_model=TierPolicyRead)
def update_policy(
    tier: Tier, body: TierPolicyIn, session: SessionDep, principal: CanCreditPolicyManage
) -> TierPolicyRead:
    """Change a tier's limit formula, terms, prepayment or review frequency."""
    return TierPolicyRead.model_validate(service.update_policy(session, principal, tier, body))


@router.get("/customers/{customer_id}/limit-recommendation", response_model=RecommendationRead)
def recommendation(
    customer_id: PathId, session: SessionDep, principal: CanCustomersRead
) -> RecommendationRead:
    """What the policy recommends for the customer, with the parts of the formula."""
    return RecommendationRead.model_validate(
        service.recommendation_for(session, principal, customer_id)
    )


@router.post("/customers/{customer_id}/limit-recommendation/apply")
def apply_recommendation(
    customer_id: PathId, session: SessionDep, principal: CanLimitRequestsCreate
) -> dict[str, int | None]:
    """A higher limit becomes a limit request; lower limit, terms, prepayment await approval."""
    return service.apply_recommendation(session, principal, customer_id)


@router.post(
    "/customers/{customer_id}/limit-requests",
    response_model=LimitRequestRead,
    status_code=201,
    responses={200: {"description": "the same request is already pending"}},
)
def request_limit(
    customer_id: PathId,
    body: LimitRequestIn,
    session: SessionDep,
    principal: CanLimitRequestsCreate,
    response: Response,
) -> LimitRequestRead:
    """Ask for a new credit limit; someone with enough authority approves it."""
    request, created = service.request_limit(session, principal, customer_id, body)
    if not created:
        response.status_code = 200
    return LimitRequestRead.model_validate(request)


@dataclass(frozen=True)
class RequestFilter:
    """What the limit request list is narrowed to."""

    status: str | None = None
    customer_id: int | None = None


def request_filter(
    status: Annotated[
        str | None, Query(pattern="^(pending|approved|rejected|withdrawn|expired)$")
    ] = None,
    customer_id: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
) -> RequestFilter:
    """The limit request filter from query parameters (the list's and its export's)."""
    return RequestFilter(status=status, customer_id=customer_id)


RequestFilterDep = Annotated[RequestFilter, Depends(request_filter)]
HorizonQuery = Annotated[int, Query(ge=0, le=366, description="days ahead to include")]


@router.get(
    "/limit-requests",
    response_model=list[LimitRequestRead],
    responses={200: {"headers": {"X-Total-Count": {"schema": {"type": "integer"}}}}},
)
def list_requests(
    session: SessionDep,
    principal: CanCustomersRead,
    flt: RequestFilterDep,
    within: CustomerScopeDep,
    response: Response,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = MAX_PAGE_SIZE,
    sort: Annotated[
        str,
        Query(
            pattern="^-?(requested|amount|expires)$",
            description="requested, amount (the requested limit) or expires; - descending",
        ),
    ] = "-requested",
) -> list[LimitRequestRead]:
    """Limit requests, a page at a time, newest first unless ``sort`` says otherwise (of the
    customers the portfolio's filters keep). The total is in X-Total-Count."""
    rows, total = service.page_requests(session, principal, status=flt.status, within=within,
                                        page=PageParams(page, size), sort=sort,
                                        customer_id=flt.customer_id)  # fmt: skip
    response.headers["X-Total-Count"] = str(total)
    return [LimitRequestRead.model_validate(r) for r in rows]


@router.post("/limit-requests/{request_id}/approve", response_model=LimitRequestRead)
def approve_request(
    request_id: PathId, body: DecisionIn, session: SessionDep, principal: CanLimitRequestsApprove
) -> LimitRequestRead:
    """Approve within one's authority (not one's own request); the credit file is updated."""
    return LimitRequestRead.model_validate(
        service.approve(session, principal, request_id, body.comment)
    )


@router.post("/limit-requests/{request_id}/reject", response_model=LimitRequestRead)
def reject_request(
    request_id: PathId, body: DecisionIn, session: SessionDep, principal: CanLimitRequestsCreate
) -> LimitRequestRead:
    """Reject a request, or withdraw one's own."""
    return LimitRequestRead.model_validate(
        service.reject(session, principal, request_id, body.comment)
    )


@router.get("/approval-authorities", response_model=list[AuthorityRead])
def list_authorities(session: SessionDep, _: CanCustomersRead) -> list[AuthorityRead]:
    """The approval matrix: who may approve limits up to what, by tier."""
    return [AuthorityRead.model_validate(a) for a in service.list_authorities(session)]


@router.post("/approval-authorities", response_model=AuthorityRead, status_code=201)
def add_authority(
    body: AuthorityIn, session: SessionDep, _: CanCreditPolicyManage, response: Response
) -> AuthorityRead:
    """Add or change a row of the approval matrix."""
    row, created = service.add_authority(session, body)
    if not created:
        response.status_code = 200
    return AuthorityRead.model_validate(row)


@router.delete("/approval-authorities/{authority_id}", status_code=204)
def remove_authority(
    authority_id: PathId, session: SessionDep, _: CanCreditPolicyManage
) -> Response:
    """Remove a row of the approval matrix."""
    service.remove_authority(session, authority_id)
    return Response(status_code=204)


@router.get("/approval-delegations", response_model=list[DelegationRead])
def list_delegations(
    session: SessionDep, principal: CanLimitRequestsApprove
) -> list[DelegationRead]:
    """Delegations you gave or hold."""
    return [DelegationRead.model_validate(d) for d in service.list_delegations(session, principal)]


@router.post("/approval-delegations", response_model=DelegationRead, status_code=201)
def delegate(
    body: DelegationIn, session: SessionDep, principal: CanLimitRequestsApprove, response: Response
) -> DelegationRead:
    """Lend your approval authority to a colleague for a period (holidays, absence)."""
    delegation, created = service.delegate(session, principal, body)
    if not created:
        response.status_code = 200
    return DelegationRead.model_validate(delegation)


@router.post("/approval-delegations/{delegation_id}/revoke", response_model=DelegationRead)
def revoke_delegation(
    delegation_id: PathId, session: SessionDep, principal: CanLimitRequestsApprove
) -> DelegationRead:
    """End a delegation you gave."""
    return DelegationRead.model_validate(
        service.revoke_delegation(session, principal, delegation_id)
    )


# The queue answered up to 500 customers before it paged; a client that asks for no page
# still gets as many.
QUEUE_PAGE_SIZE = 500


@router.get(
    "/reviews/queue",
    response_model=list[QueueEntry],
    responses={200: {"headers": {"X-Total-Count": {"schema": {"type": "integer"}}}}},
)
def review_queue(
    session: SessionDep,
    principal: CanCustomersRead,
    within: CustomerScopeDep,
    response: Response,
    horizon_days: HorizonQuery = 30,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    size: Annotated[int, Query(ge=1, le=QUEUE_PAGE_SIZE)] = QUEUE_PAGE_SIZE,
    sort: Annotated[
        str,
        Query(
            pattern="^-?(due|customer)$",
            description="due (the next review date) or customer (its number); - descending",
        ),
    ] = "due",
) -> list[QueueEntry]:
    """Customers whose periodic review is overdue or due within the horizon, a page at a
    time, earliest first unless ``sort`` says otherwise (of the customers the portfolio's
    filters keep). The total is in X-Total-Count."""
    rows, total = service.page_queue(
        session, principal, horizon_days=horizon_days, within=within,
        page=PageParams(page, size), sort=sort,
    )  # fmt: skip
    response.headers["X-Total-Count"] = str(total)
    return [QueueEntry.model_validate(e) for e in rows]


@router.post("/reviews/schedule")
def schedule_reviews(session: SessionDep, _: CanCreditPolicyManage) -> dict[str, int]:
    """Set next review dates from the tiers now (scoring runs do it by themselves)."""
    return {"updated": service.schedule_reviews(session)}


@router.post(
    "/customers/{customer_id}/reviews",
    response_model=ReviewRead,
    status_code=201,
    responses={200: {"description": "a review is already open"}},
)
def open_review(
    customer_id: PathId, session: SessionDep, principal: CanReviewsPerform, response: Response
) -> ReviewRead:
    """Start a review; the evidence the reviewer sees is captured with it."""
    review, created = service.open_review(session, principal, customer_id)
    if not created:
        response.status_code = 200
    return ReviewRead.model_validate(review)


@router.get("/customers/{customer_id}/reviews", response_model=list[ReviewRead])
def customer_reviews(
    customer_id: PathId, session: SessionDep, principal: CanCustomersRead
) -> list[ReviewRead]:
    """A customer's reviews, newest first."""
    return [
        ReviewRead.model_validate(r) for r in service.reviews_of(session, principal, customer_id)
    ]


@router.get("/reviews/{review_id}", response_model=ReviewRead)
def get_review(review_id: PathId, session: SessionDep, principal: CanCustomersRead) -> ReviewRead:
    """One review with its evidence."""
    return ReviewRead.model_validate(service.get_review(session, principal, review_id))


@router.post("/reviews/{review_id}/complete", response_model=ReviewRead)
def complete_review(
    review_id: PathId, body: ReviewComplete, session: SessionDep, principal: CanReviewsPerform
) -> ReviewRead:
    """Record the decision and sign off; sets the next due date and starts any follow-up."""
    return ReviewRead.model_validate(service.complete_review(session, principal, review_id, body))
