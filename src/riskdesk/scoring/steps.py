"""The pure steps of a scoring run, callable without a session.

A scoring run reads (the active scorecards and models, each customer's attributes, ratios,
bureau figures and stored champion scores) and then computes. The computing is here, in plain
functions over frames: ``service.compute_scores`` and ``registry.predict_customers`` call them
after their reads, and the batch engines (``riskdesk.batch.scoring``) call the very same
functions per bucket of customers, with what a driver read once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from riskdesk.indicators.catalogue import NAMES
from riskdesk.scoring.definition import Definition
from riskdesk.scoring.engine import score_frame

# The attributes a model reads under their own names (text: categories).
PLAIN_ATTRIBUTES = ("kind", "segment", "region", "industry")
# The order of a factor frame's columns by source (what factor_frame always gave).
_SOURCE_ORDER = ("attribute", "indicator", "ratio", "model", "bureau")


# ---------------------------------------------------------------- the factor frame


def with_computed(
    frame: pl.DataFrame,
    sources: set[str],
    indicators: pl.DataFrame | None = None,
    champion: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """A factor frame read from the database (``factors.stored_inputs``) with what the run
    computed: ``indicators`` (customer_id and one column per indicator) as ``indicator.*``,
    and ``champion`` (``model.<name>`` columns, fresh champion scores), which win over the
    stored ones. Columns in the order attribute, indicator, ratio, model, bureau."""
    if "indicator" in sources and indicators is not None:
        values = indicators.select(
            "customer_id", *[pl.col(c).alias(f"indicator.{c}") for c in indicators.columns[1:]]
        )
        frame = frame.join(values, on="customer_id", how="left")
    if "model" in sources and champion is not None:
        names = [c for c in champion.columns if c != "customer_id"]
        frame = frame.with_columns(
            pl.lit(None, pl.Float64).alias(n) for n in names if n not in frame.columns
        )
        frame = (
            frame.join(champion, on="customer_id", how="left", suffix=".fresh")
            .with_columns(pl.coalesce(f"{n}.fresh", n).alias(n) for n in names)
            .drop(f"{n}.fresh" for n in names)
        )
    rank = {source: i for i, source in enumerate(_SOURCE_ORDER)}
    others = sorted(
        (c for c in frame.columns if c != "customer_id"),
        key=lambda c: rank.get(c.split(".", 1)[0], len(rank)),
    )
    return frame.select("customer_id", *others)


# ---------------------------------------------------------------- models


def features_of(frame: pl.DataFrame) -> pl.DataFrame:
    """A model's inputs from a factor frame: customer_id, every indicator and the plain
    attributes under their own names."""
    return frame.select(
        "customer_id",
        *[pl.col(f"indicator.{n}").alias(n) for n in NAMES],
        *[pl.col(f"attribute.{a}").alias(a) for a in PLAIN_ATTRIBUTES],
    )


def as_pandas(frame: pl.DataFrame) -> Any:
    """Features for the models: numbers as floats, text as categories."""
    import pandas as pd

    # Column by column through numpy: Polars' own to_pandas needs pyarrow.
    return pd.DataFrame(
        {
            name: (
                pd.Series(frame[name].to_numpy(), dtype="category")
                if name in PLAIN_ATTRIBUTES
                else frame[name].cast(pl.Float64).fill_null(np.nan).to_numpy()
            )
            for name in frame.columns
        }
    )


def model_score(bad_probability: np.ndarray) -> np.ndarray:
    """A model's score of customers: 1000 × (1 − PD), in whole points (half up)."""
    scores: np.ndarray = np.floor((1.0 - bad_probability) * 1000 + 0.5).astype(int)
    return scores


@dataclass(frozen=True)
class LiveModel:
    """A champion or challenger as scoring needs it (no session): what a batch driver reads
    once and sends to every bucket."""

    version_id: int
    name: str
    version: int
    champion: bool
    artifact: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "version_id": self.version_id,
            "name": self.name,
            "version": self.version,
            "champion": self.champion,
            "artifact": self.artifact,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LiveModel:
        return cls(
            int(data["version_id"]),
            str(data["name"]),
            int(data["version"]),
            bool(data["champion"]),
            dict(data["artifact"]),
        )


@dataclass(frozen=True)
class ModelScores:
    """One live model's scores of some customers: computed, not stored yet."""

    version_id: int
    name: str
    champion: bool
    customer_ids: list[int]
    bad_probability: np.ndarray
    score: np.ndarray


def predict_frame(models: Sequence[LiveModel], features: pl.DataFrame) -> list[ModelScores]:
    """Every model's scores of the customers in ``features`` (``features_of``; those who may
    be assessed)."""
    from riskdesk.scoring import modelling

    if not models or features.height == 0:
        return []
    X = as_pandas(features.drop("customer_id"))
    ids = features["customer_id"].to_list()
    found = []
    for live in models:  # a loop over models, not customers
        model = modelling.FittedModel.from_dict(live.artifact)
        p = model.predict_bad_probability(X[model.features])
        found.append(ModelScores(live.version_id, live.name, live.champion, ids, p, model_score(p)))
    return found


def champion_frame(predictions: Sequence[ModelScores]) -> pl.DataFrame:
    """The champions' fresh scores as ``model.<name>`` columns (what a scorecard reads)."""
    frame = pl.DataFrame(schema={"customer_id": pl.Int64})
    for found in predictions:
        if found.champion:
            part = pl.DataFrame(
                {"customer_id": found.customer_ids, f"model.{found.name}": found.score},
                schema={"customer_id": pl.Int64, f"model.{found.name}": pl.Float64},
            )
            frame = frame.join(part, on="customer_id", how="full", coalesce=True)
    return frame


# ---------------------------------------------------------------- scorecards


@dataclass(frozen=True)
class ActiveCard:
    """An active scorecard version as scoring needs it (no session), in the order cards are
    tried on a customer."""

    version_id: int
    code: str
    version: int
    customer_kind: str | None
    segments: list[str]
    definition: Definition

    def as_json(self) -> dict[str, Any]:
        return {
            "version_id": self.version_id,
            "code": self.code,
            "version": self.version,
            "customer_kind": self.customer_kind,
            "segments": list(self.segments),
            "definition": self.definition.model_dump(mode="json", exclude_none=True),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ActiveCard:
        return cls(
            int(data["version_id"]),
            str(data["code"]),
            int(data["version"]),
            data.get("customer_kind"),
            list(data.get("segments") or []),
            Definition.model_validate(data["definition"]),
        )


def fitting(customer_kind: str | None, segments: Sequence[str]) -> pl.Expr:
    """The customers a scorecard of that kind and segments fits."""
    fits = pl.lit(True)
    if customer_kind:
        fits = fits & (pl.col("attribute.kind") == customer_kind)
    if segments:
        fits = fits & pl.col("attribute.segment").is_in(list(segments))
    return fits


def needs(definitions: Sequence[Definition]) -> set[str]:
    """The sources the factors of some definitions read."""
    return {f.source for d in definitions for f in d.factors}


def complete(frame: pl.DataFrame, definitions: Sequence[Definition]) -> pl.DataFrame:
    """Add the columns nothing fed (a model without a champion yet): missing values."""
    wanted = {f"{f.source}.{f.name}" for d in definitions for f in d.factors}
    absent = sorted(wanted - set(frame.columns))
    return frame.with_columns([pl.lit(None, dtype=pl.Float64).alias(c) for c in absent])


def scored_by_cards(
    cards: Sequence[ActiveCard], frame: pl.DataFrame
) -> list[tuple[ActiveCard, pl.DataFrame]]:
    """Each customer of a factor frame (``complete``, those who may be assessed) scored by the
    first card that fits: per card that scored anyone, ``score_frame``'s result with each
    factor's value as ``value_<code>``."""
    left = frame.with_columns(_done=pl.lit(False))
    found: list[tuple[ActiveCard, pl.DataFrame]] = []
    for card in cards:  # a loop over scorecards, not customers
        definition = card.definition
        mine = left.filter(~pl.col("_done") & fitting(card.customer_kind, card.segments))
        if mine.height == 0:
            continue
        left = left.with_columns(
            _done=pl.col("_done") | pl.col("customer_id").is_in(mine["customer_id"].implode())
        )
        values = mine.select(
            "customer_id",
            *[pl.col(f"{f.source}.{f.name}").alias(f.code) for f in definition.factors],
        )
        result = score_frame(definition, values).join(
            values.select(
                "customer_id",
                *[pl.col(f.code).alias(f"value_{f.code}") for f in definition.factors],
            ),
            on="customer_id",
        )
        found.append((card, result))
    return found
