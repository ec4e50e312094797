"""API of the relationship view: a customer's interactions with their notes and next steps, a
search of the notes, and a customer's contracts. Interactions are recorded through the events
API (POST /interactions), like every event."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from riskdesk.db import SessionDep
from riskdesk.kit.pagination import MAX_PAGE_SIZE, Page, PageParams
from riskdesk.kit.validation import PathId
from riskdesk.relationship import service
from riskdesk.relationship.schemas import ContractRead, InteractionHit, InteractionRead
from riskdesk.security.deps import CanEventsRead

router = APIRouter(tags=["relationship"])

PageNumber = Annotated[int, Query(ge=1, le=1_000_000)]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]


@router.get("/customers/{customer_id}/interactions", response_model=Page[InteractionRead])
def customer_interactions(
    customer_id: PathId,
    session: SessionDep,
    principal: CanEventsRead,
    q: Annotated[
        str | None, Query(max_length=200, description="words the notes must all hold")
    ] = None,
    page: PageNumber = 1,
    size: PageSize = 25,
) -> Page[InteractionRead]:
    """The customer's interactions, newest first: channel, purpose, notes, next step and its
    date, who recorded it."""
    return service.timeline(session, principal, customer_id, q=q, page=PageParams(page, size))


@router.get("/interactions", response_model=Page[InteractionHit])
def search_interactions(
    session: SessionDep,
    principal: CanEventsRead,
    q: Annotated[
        str, Query(min_length=1, max_length=200, description="words the notes must all hold")
    ],
    page: PageNumber = 1,
    size: PageSize = 25,
) -> Page[InteractionHit]:
    """Interactions whose notes (or next step) hold every word of ``q``, of the customers I may
    see (sales and customer service: their own and their team's), newest first."""
    return service.search(session, principal, q=q, page=PageParams(page, size))


@router.get("/customers/{customer_id}/contracts", response_model=list[ContractRead])
def customer_contracts(
    customer_id: PathId, session: SessionDep, principal: CanEventsRead
) -> list[ContractRead]:
    """The customer's contracts, the latest signed first: dates, value, payment terms,
    fulfilment, and whether today is before, within or after the term."""
    return service.contracts(session, principal, customer_id)
