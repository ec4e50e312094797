"""The portfolio's customer filters (region, segment, owner, tier, industry) on the API's lists
of other records (held orders, limit requests, reviews): the ids of the customers they keep,
as a SELECT to narrow by, or None when none is given. Visibility is left to the list."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query

from riskdesk.customers import service
from riskdesk.customers.repository import CustomerFilter


def customer_scope(
    region: Annotated[str | None, Query(max_length=64, description="the customer's region")] = None,
    segment: Annotated[
        str | None, Query(max_length=64, description="the customer's segment")
    ] = None,
    owner_id: Annotated[
        int | None,
        Query(ge=1, le=2_147_483_647, description="the user who owns the customer"),
    ] = None,
    tier: Annotated[
        str | None, Query(max_length=16, description="the customer's risk tier; unrated: none yet")
    ] = None,
    industry: Annotated[
        str | None, Query(max_length=64, description="the customer's industry")
    ] = None,
) -> Any:
    """The customers the filters keep (a SELECT of ids), or None: no filter given."""
    flt = CustomerFilter(
        region=region or None,
        segment=segment or None,
        owner_id=owner_id,
        risk_tier=tier or None,
        industry=industry or None,
    )
    return service.ids_matching(flt) if flt != CustomerFilter() else None


CustomerScopeDep = Annotated[Any, Depends(customer_scope)]
