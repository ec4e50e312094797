"""What the scoring API accepts and returns."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from riskdesk.kit.validation import InputModel, PastDate, bounded_json
from riskdesk.scoring.definition import Definition


class _Strict(InputModel):
    """Unknown fields refused, text stripped and free of control characters."""


class ScorecardCreate(_Strict):
    """A new scorecard with its first version, as a draft."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_\-]{0,63}$")
    name: str = Field(min_length=1, max_length=255)
    customer_kind: Literal["company", "individual"] | None = None
    segments: list[str] = Field(default_factory=list, max_length=50)
    priority: int = Field(default=100, ge=0, le=10_000)
    definition: Definition
    note: str | None = Field(default=None, max_length=2000)


class VersionCreate(_Strict):
    """A new draft version of a scorecard."""

    definition: Definition
    note: str | None = Field(default=None, max_length=2000)


class DecisionIn(_Strict):
    """A comment on approving or rejecting."""

    comment: str | None = Field(default=None, max_length=2000)


class VersionRead(BaseModel):
    """A scorecard version and where it stands."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    version: int
    status: str
    definition: dict[str, Any]
    note: str | None
    created_by_id: int
    created_at: dt.datetime
    updated_by_id: int
    updated_at: dt.datetime
    decided_by_id: int | None
    decided_at: dt.datetime | None
    decision_comment: str | None
    activated_at: dt.datetime | None
    retired_at: dt.datetime | None


class ScorecardRead(BaseModel):
    """A scorecard, who it applies to, and its versions (newest first)."""

    code: str
    name: str
    customer_kind: str | None
    segments: list[str]
    priority: int
    versions: list[VersionRead]


class ReasonRead(BaseModel):
    """A factor that pulled the score down."""

    factor: str
    value: float | str | None
    points: float
    max_points: float
    en: str
    zh: str


class ScoreRead(BaseModel):
    """A score with its rating, tier and reasons."""

    customer_id: int
    score: int
    rating: str
    risk_tier: str
    as_of: dt.date
    scored_at: dt.datetime
    scorecard: str
    version: int
    reasons: list[ReasonRead]
    factors: dict[str, Any]


class RunIn(_Strict):
    """Rescore every customer (each with the active scorecard that fits)."""

    as_of: PastDate | None = None


class RunRead(BaseModel):
    """A scoring run."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    trigger: str
    as_of: dt.date
    customers: int
    unscored: int
    versions: list[int]
    requested_by_id: int | None
    started_at: dt.datetime
    finished_at: dt.datetime | None


class TrainFromHistory(_Strict):
    """Train a model on the company's own history."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_\-]{0,63}$")
    family: Literal["scorecard", "lightgbm"]
    observation_date: PastDate | None = None
    horizon_days: int = Field(default=365, ge=30, le=730)
    folds: int = Field(default=5, ge=2, le=10)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    monotone: Annotated[dict[str, Literal[-1, 1]], bounded_json(max_depth=1, max_nodes=400)] = (
        Field(default_factory=dict)
    )


class ModelRead(BaseModel):
    """A model version: where it stands, what it was trained on, how well it did."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    version: int
    family: str
    status: str
    data_source: str
    target: str
    observation_date: dt.date | None
    horizon_days: int | None
    rows: int
    bad_rate: float
    features: list[str]
    monotone: dict[str, int]
    metrics: dict[str, Any]
    created_by_id: int | None
    created_at: dt.datetime
    promotion_requested_by_id: int | None
    promoted_by_id: int | None
    promoted_at: dt.datetime | None
    retired_at: dt.datetime | None
    # AUC and KS by month on matured outcomes as kept by a month's first scoring run (the
    # monitoring endpoint computes them afresh); None before one.
    matured_performance: list[dict[str, Any]] | None = None
    matured_as_of: dt.date | None = None


class ModelDetail(ModelRead):
    """A model version with its points table (scorecard family)."""

    points_table: list[dict[str, Any]] | None


class ModelScoreRead(BaseModel):
    """A model's score for a customer."""

    model: str
    version: int
    status: str
    as_of: dt.date
    bad_probability: float
    score: int
