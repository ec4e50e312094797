"""What the relationship view returns: interactions with their notes, contracts with terms."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

ContractTerm = Literal["upcoming", "active", "expired"]


class InteractionRead(BaseModel):
    """One contact with the customer, as the timeline shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    source: str
    external_id: str
    occurred_at: dt.datetime
    channel: str
    kind: str
    note: str | None
    next_step: str | None
    next_step_on: dt.date | None
    recorded_by_id: int | None
    recorded_by: str | None = None  # the recording user's display name
    received_at: dt.datetime


class InteractionHit(InteractionRead):
    """An interaction found by a search of notes, with whose it is."""

    customer_code: str
    customer_name: str


class ContractRead(BaseModel):
    """A contract with its terms and dates, and where today falls in its term."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    source: str
    external_id: str
    signed_on: dt.date
    start_date: dt.date | None
    end_date: dt.date | None
    value: Decimal | None
    currency: str | None
    payment_terms_days: int | None
    fulfilment_status: str
    term: ContractTerm  # upcoming (not started), active, expired (ended) as of today
