"""Scorecards with approved versions, every score given to a customer, and scoring runs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from riskdesk.db import Base
from riskdesk.kit.timeutil import utcnow
from riskdesk.models.types import JSONType, UTCDateTime


class Scorecard(Base):
    """A named scorecard and the customers it applies to (kind and segments; none = all)."""

    __tablename__ = "scorecards"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    customer_kind: Mapped[str | None] = mapped_column(String(16))
    segments: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # When several scorecards fit a customer, the lowest priority number wins.
    priority: Mapped[int] = mapped_column(Integer, default=100)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ScorecardVersion(Base):
    """One version of a scorecard: draft, then active once a second person approves it."""

    __tablename__ = "scorecard_versions"
    __table_args__ = (UniqueConstraint("scorecard_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scorecard_id: Mapped[int] = mapped_column(ForeignKey("scorecards.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    # draft -> active -> retired; or draft -> rejected
    status: Mapped[str] = mapped_column(String(16), index=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType)
    note: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The last person to edit the draft: neither they nor the author may approve it.
    updated_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decision_comment: Mapped[str | None] = mapped_column(Text)
    activated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ScoringRun(Base):
    """One scoring of many customers: what triggered it, with what, how many, how long."""

    __tablename__ = "scoring_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    trigger: Mapped[str] = mapped_column(String(32))
    as_of: Mapped[dt.date] = mapped_column(Date)
    customers: Mapped[int] = mapped_column(Integer, default=0)
    unscored: Mapped[int] = mapped_column(Integer, default=0)
    versions: Mapped[list[int]] = mapped_column(JSONType, default=list)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # storing -> done. A job stores a run in many short transactions; until the last one
    # marks it done, its scores are read by nobody (repository.settled), and a job that
    # stopped leaves it storing for its cleanup (service.discard_staged).
    status: Mapped[str] = mapped_column(String(16), default="done", server_default="done")
    job_id: Mapped[int | None] = mapped_column(Integer, index=True)  # the job storing it
    # Set by the transaction that copies the run's last scores onto the profiles: the job
    # reaper looks for profiles left behind only in a done run without it (O(1) otherwise).
    profiles_copied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class CustomerScore(Base):
    """A score given to a customer, with its rating, tier, factor values and reason codes."""

    __tablename__ = "customer_scores"
    __table_args__ = (Index("ix_customer_scores_customer_scored", "customer_id", "scored_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    scorecard_version_id: Mapped[int] = mapped_column(
        ForeignKey("scorecard_versions.id"), index=True
    )
    run_id: Mapped[int | None] = mapped_column(ForeignKey("scoring_runs.id"), index=True)
    as_of: Mapped[dt.date] = mapped_column(Date)
    scored_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    score: Mapped[int] = mapped_column(Integer)
    rating: Mapped[str] = mapped_column(String(8))
    risk_tier: Mapped[str] = mapped_column(String(16))
    # factor code -> {"value": ..., "points": ...}
    factors: Mapped[dict[str, Any]] = mapped_column(JSONType)
    # the factors that pulled the score down most: [{"factor", "value", "points", "max_points",
    # "en", "zh"}], worst first
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)


class ModelVersion(Base):
    """A trained statistical model: its data, metrics, features and the fitted model itself.

    challenger (scored, decides nothing) -> champion (after a second person approves the
    promotion) -> retired (when another is promoted).
    """

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    family: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    data_source: Mapped[str] = mapped_column(String(255))
    target: Mapped[str] = mapped_column(String(255))
    # history: the observation date and outcome window, when trained on the company's own data
    observation_date: Mapped[dt.date | None] = mapped_column(Date)
    horizon_days: Mapped[int | None] = mapped_column(Integer)
    rows: Mapped[int] = mapped_column(Integer)
    bad_rate: Mapped[float] = mapped_column(Float)
    features: Mapped[list[str]] = mapped_column(JSONType)
    monotone: Mapped[dict[str, int]] = mapped_column(JSONType, default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType)
    artifact: Mapped[dict[str, Any]] = mapped_column(JSONType)
    points_table: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    # Training distributions for PSI: decile edges and shares of the score and of each feature.
    reference: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    promotion_requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    promotion_requested_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    promoted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    promoted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # AUC and KS month by month on matured outcomes (registry.monitor's "performance"), kept by
    # the scoring run of each new month so the analyst's home can show them without computing.
    matured_performance: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    matured_as_of: Mapped[dt.date | None] = mapped_column(Date)


class ModelScore(Base):
    """A model's probability of default and score for a customer on a day."""

    __tablename__ = "model_scores"
    __table_args__ = (Index("ix_model_scores_version_as_of", "model_version_id", "as_of"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    as_of: Mapped[dt.date] = mapped_column(Date)
    scored_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    bad_probability: Mapped[float] = mapped_column(Float)
    score: Mapped[int] = mapped_column(Integer)
    # The scoring run that stored it (none for a model's own scoring): unread until it is done.
    run_id: Mapped[int | None] = mapped_column(ForeignKey("scoring_runs.id"), index=True)
