"""What the complaint desk's API accepts and returns."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from riskdesk.kit.validation import InputModel


class _Strict(InputModel):
    """Unknown fields refused, text stripped and free of control characters."""


class ResponseIn(_Strict):
    """An answer to the customer."""

    response: str = Field(min_length=1, max_length=4000)


class ResolveIn(_Strict):
    """How the complaint was resolved (optional)."""

    response: str | None = Field(default=None, min_length=1, max_length=4000)


class AssignIn(_Strict):
    """Who works on the complaint."""

    username: str = Field(min_length=1, max_length=64)


class ComplaintRead(BaseModel):
    """A complaint on the desk."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    source: str
    external_id: str
    category: str
    product: str | None
    classified: str
    severity: str
    status: str
    opened_at: dt.datetime
    respond_by: dt.datetime | None
    resolve_by: dt.datetime | None
    responded_at: dt.datetime | None
    resolved_at: dt.datetime | None
    assigned_to_id: int | None
    description: str | None
    response: str | None
    breach: str | None = None  # "response" or "resolution": an open complaint past its SLA
    # Kept after the fact, for SLA reports: answered or resolved after the deadline.
    answered_late: bool | None = None
    resolved_late: bool | None = None


class TrendRead(BaseModel):
    """Weekly complaints of the most complained-about products."""

    weeks: list[str]
    series: list[dict[str, Any]]


class SurgeRun(BaseModel):
    """What a surge check did."""

    raised: int
    refreshed: int
