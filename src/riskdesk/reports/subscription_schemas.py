"""Subscriptions to reports by e-mail: what the caller sends and reads back."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from riskdesk.kit.validation import InputModel
from riskdesk.reports.schemas import ExportLocale

ReportKind = Literal["committee_pack", "weekly_summary"]
KINDS: tuple[ReportKind, ...] = ("committee_pack", "weekly_summary")


class SubscriptionFilters(InputModel):
    """The portfolio filters the report covers (within the customers the user may see)."""

    region: str | None = Field(default=None, max_length=64)
    segment: str | None = Field(default=None, max_length=64)
    industry: str | None = Field(default=None, max_length=64)
    tier: str | None = Field(default=None, max_length=16)
    owner_id: int | None = Field(default=None, ge=1, le=2_147_483_647)


class SubscriptionIn(InputModel):
    """A subscription as the caller wants it (PUT: sending it again changes nothing)."""

    language: ExportLocale = "zh-CN"
    filters: SubscriptionFilters = Field(default_factory=SubscriptionFilters)
    active: bool = True


class SubscriptionRead(BaseModel):
    """One of the caller's subscriptions."""

    model_config = ConfigDict(from_attributes=True)

    kind: ReportKind
    language: ExportLocale
    filters: dict[str, Any]
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    last_period: str | None = Field(description="the last period e-mailed, e.g. 2026-11")
    last_sent_at: dt.datetime | None


class DueResult(BaseModel):
    """What one pass of the report schedule did."""

    queued: int = 0
    already_sent: int = 0
    not_permitted: int = 0
    periods: dict[str, str] = Field(default_factory=dict)  # kind -> period due
