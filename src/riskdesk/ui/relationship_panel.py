"""The credit file's relationship panels: the latest interactions, the log form, contracts.

Kept apart from the routes (relationship_pages.py) so that the credit file (pages.py) can draw
the panels without importing the routes that draw the credit file again on a refused form.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from typing import Any, get_args

from sqlalchemy.orm import Session

from riskdesk.events.schemas import InteractionChannel, InteractionKind
from riskdesk.kit.pagination import Page, PageParams
from riskdesk.kit.timeutil import utcnow
from riskdesk.relationship import service as relationship_service
from riskdesk.relationship.schemas import ContractRead, InteractionRead
from riskdesk.security.permissions import Permission
from riskdesk.security.service import Principal

TIMELINE_SHOWN = 10  # on the credit file; "more" leads to the customer's whole timeline
# The ways of contact a person logs, the usual first (calls, visits, e-mails).
CHANNELS: tuple[str, ...] = ("phone", "visit", "email", "wechat", "meeting", "chat", "other")
KINDS: tuple[str, ...] = get_args(InteractionKind)
assert set(CHANNELS) == set(get_args(InteractionChannel))


def new_form_key() -> str:
    """A fresh idempotency key for a log form about to be shown."""
    return secrets.token_hex(8)


def now_minute(tz: dt.tzinfo = dt.UTC) -> str:
    """Now on the display zone's clock (as the page shows times), as a datetime-local field
    takes it; the time sent back is read on the same clock (relationship_pages)."""
    return utcnow().astimezone(tz).strftime("%Y-%m-%dT%H:%M")


@dataclass(frozen=True)
class RelationshipPanel:
    """What the credit file shows of the relationship, and what the caller may do there."""

    customer_id: int
    interactions: Page[InteractionRead]
    contracts: list[ContractRead]
    can_log: bool
    form_key: str
    now: str
    channels: tuple[str, ...] = CHANNELS
    kinds: tuple[str, ...] = KINDS
    form: dict[str, Any] = field(default_factory=dict)
    refused: bool = False  # the log form was sent and refused: shown open, as it was sent


def panel(
    session: Session,
    principal: Principal,
    customer_id: int,
    *,
    form: dict[str, Any] | None = None,
    form_key: str | None = None,
    tz: dt.tzinfo = dt.UTC,
) -> RelationshipPanel | None:
    """The panels of one credit file (None when the caller may not read events); ``form`` and
    ``form_key`` refill a refused log form as it was sent."""
    if not principal.can(Permission.EVENTS_READ):
        return None
    return RelationshipPanel(
        customer_id=customer_id,
        interactions=relationship_service.timeline(
            session, principal, customer_id, page=PageParams(1, TIMELINE_SHOWN)
        ),
        contracts=relationship_service.contracts(session, principal, customer_id),
        can_log=principal.can(Permission.INTERACTIONS_WRITE),
        form_key=form_key or new_form_key(),
        now=now_minute(tz),
        form=form or {},
        refused=form is not None,
    )
