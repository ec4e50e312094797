"""What the privacy API takes and returns."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from riskdesk.kit.validation import PAST_TIMESTAMP, InputModel

Purpose = Literal["credit_assessment", "behaviour_monitoring", "marketing"]


class _Strict(InputModel):
    """Unknown fields refused, text stripped and free of control characters."""


class ConsentIn(_Strict):
    """A consent given (granted) or withdrawn, as the person expressed it."""

    purpose: Purpose
    granted: bool
    notice_version: str = Field(min_length=1, max_length=32, description="the privacy notice shown")
    given_at: Annotated[AwareDatetime, PAST_TIMESTAMP] | None = Field(
        default=None,
        description="when the person said so, with its time zone (default: now); never in the "
        "future",
    )
    evidence: str | None = Field(default=None, max_length=255, description="form number, URL…")

    @field_validator("given_at")
    @classmethod
    def _not_in_the_future(cls, value: dt.datetime | None) -> dt.datetime | None:
        # A few minutes of clock difference between the sender and us is not the future.
        if value is not None and value > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5):
            raise ValueError("cannot be in the future")
        return value


class ConsentRead(BaseModel):
    """One consent record."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    purpose: str
    granted: bool
    notice_version: str
    given_at: dt.datetime
    recorded_at: dt.datetime
    channel: str
    evidence: str | None


class ConsentStatus(BaseModel):
    """The consent in force per purpose, whether processing may go on, and the history."""

    customer_id: int
    applies: bool = Field(description="false for companies: consent concerns individuals")
    current: dict[str, ConsentRead | None]
    allowed: dict[str, bool]
    history: list[ConsentRead]


class HoldIn(_Strict):
    """Why the data must be kept."""

    reason: str = Field(min_length=3, max_length=2000)


class HoldRead(BaseModel):
    """A legal hold."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    reason: str
    placed_at: dt.datetime
    released_at: dt.datetime | None


class ErasureIn(_Strict):
    """The request being honoured."""

    reason: str = Field(min_length=3, max_length=2000)


class ErasureRead(BaseModel):
    """An erasure done."""

    model_config = ConfigDict(from_attributes=True)

    customer_id: int
    erased_at: dt.datetime
    reason: str
    origin: str


class RetentionReport(BaseModel):
    """What a retention run did (or, dry, would do)."""

    dry_run: bool
    erased_customers: list[int]
    held_back: int = Field(description="inactive individuals kept because of a legal hold")
    purged: dict[str, int]


class SubjectExport(BaseModel):
    """Everything Riskdesk holds about one person."""

    generated_at: dt.datetime
    customer_code: str
    tables: dict[str, list[dict[str, Any]]]
