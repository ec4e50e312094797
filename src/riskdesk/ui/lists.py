"""What the work lists share: the portfolio's customer scope they are narrowed to (kept in
their forms, shown above them, and in their exports) and their pager."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Query

from riskdesk.alerts.endpoints import Blank
from riskdesk.customers import repository as customer_repo
from riskdesk.customers.repository import CustomerFilter
from riskdesk.kit.validation import DbId
from riskdesk.security import repository as users_repo

# The portfolio's customer filters, as the work lists' queries name them.
SCOPE_NAMES = ("region", "segment", "owner_id", "tier", "industry")


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


def scope_query(shown: dict[str, tuple[str, str]], **extra: str) -> str:
    """A work list's filters (as ``scope_shown`` gives them) as a query, for its export: the
    file holds what the list shows."""
    return urlencode({k: v for k, (v, _) in shown.items()} | extra)


def scope_shown(
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


LIST_PAGE_SIZE = 25


def list_pager(
    path: str, scope: dict[str, tuple[str, str]], sort: str, page: int, total: int
) -> dict[str, Any]:
    """What the pager macros of partials/lists.html need: the list's address with its scope
    and sort (each page link adds its page), the page, how many pages and rows."""
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
