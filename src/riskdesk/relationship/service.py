"""The relationship view: a customer's interaction timeline, notes searched within what the
caller may see, and contracts with where today falls in their term.

Notes and next steps are free text about a customer, stored as other free text is (complaint
descriptions, survey comments): in plain columns, never logged, and cleared when the
customer's personal data is erased (privacy/repository.py, FREE_TEXT). Searching them is a
case-insensitive match of every word typed, in SQL, narrowed to the customers the caller may
see (sales and customer service: their own and their team's) before any row is read.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from riskdesk.customers import service as customer_service
from riskdesk.kit.errors import PermissionDenied, ValidationFailed
from riskdesk.kit.pagination import Page, PageParams
from riskdesk.kit.timeutil import today as business_today
from riskdesk.models import Contract, Customer, Interaction
from riskdesk.relationship import repository as repo
from riskdesk.relationship.schemas import (
    ContractRead,
    ContractTerm,
    InteractionHit,
    InteractionRead,
)
from riskdesk.security.permissions import Permission
from riskdesk.security.service import Principal

SEARCH_MAX_WORDS = 8
SEARCH_MAX_CHARS = 200


def _require_events_read(principal: Principal) -> None:
    if not principal.can(Permission.EVENTS_READ):
        raise PermissionDenied("reading interactions needs 'events:read'")


def search_words(q: str | None) -> list[str]:
    """The words of a search, each once, in the order typed (at most SEARCH_MAX_WORDS)."""
    if q is None:
        return []
    if len(q) > SEARCH_MAX_CHARS:
        raise ValidationFailed(
            f"search for at most {SEARCH_MAX_CHARS} characters", field="q", code="string_too_long"
        )
    words: list[str] = []
    for word in q.split():
        if word not in words:
            words.append(word)
    return words[:SEARCH_MAX_WORDS]


def _read(interaction: Interaction, recorded_by: str | None) -> InteractionRead:
    return InteractionRead.model_validate(interaction).model_copy(
        update={"recorded_by": recorded_by}
    )


def timeline(
    session: Session,
    principal: Principal,
    customer_id: int,
    *,
    q: str | None = None,
    page: PageParams = PageParams(),
) -> Page[InteractionRead]:
    """A customer's interactions, newest first (those whose notes hold every word of ``q``)."""
    _require_events_read(principal)
    customer = customer_service.get_customer_or_raise(session, principal, customer_id)
    rows, total = repo.interactions_of(
        session, customer.id, words=search_words(q), offset=page.offset, limit=page.size
    )
    return Page(
        items=[_read(i, name) for i, name in rows], total=total, page=page.page, size=page.size
    )


def search(
    session: Session,
    principal: Principal,
    *,
    q: str,
    page: PageParams = PageParams(),
) -> Page[InteractionHit]:
    """Interactions whose notes or next step hold every word of ``q``, of the customers the
    caller may see, newest first."""
    _require_events_read(principal)
    words = search_words(q)
    if not words:
        raise ValidationFailed("type a word to look for in the notes", field="q", code="missing")
    rows, total = repo.search_interactions(
        session,
        words=words,
        owner_ids=customer_service.visible_owner_ids(principal),
        offset=page.offset,
        limit=page.size,
    )
    return Page(
        items=[_hit(i, name, c) for i, name, c in rows],
        total=total,
        page=page.page,
        size=page.size,
    )


def _hit(interaction: Interaction, recorded_by: str | None, customer: Customer) -> InteractionHit:
    base = _read(interaction, recorded_by).model_dump()
    return InteractionHit(**base, customer_code=customer.code, customer_name=customer.name)


def contract_term(contract: Contract, day: dt.date) -> ContractTerm:
    """Where ``day`` falls in the contract's term: before its start, within it, after its end
    (a contract without a start runs from its signing; one without an end runs on)."""
    start = contract.start_date or contract.signed_on
    if day < start:
        return "upcoming"
    if contract.end_date is not None and day > contract.end_date:
        return "expired"
    return "active"


def contracts(
    session: Session, principal: Principal, customer_id: int, *, day: dt.date | None = None
) -> list[ContractRead]:
    """A customer's contracts, the latest signed first, each with its term as of ``day``."""
    _require_events_read(principal)
    customer = customer_service.get_customer_or_raise(session, principal, customer_id)
    day = day or business_today()
    fields = [name for name in ContractRead.model_fields if name != "term"]
    return [
        ContractRead(**{name: getattr(c, name) for name in fields}, term=contract_term(c, day))
        for c in repo.contracts_of(session, customer.id)
    ]
