"""A scoring run's computation on a batch engine: the config directory and the per-customer
step both engines call.

The config directory (``riskdesk batch config``) holds what a scoring run reads from the
database, read once where the database is reachable::

    DIR/config.json                   the as-of date, the active scorecard versions (in the
                                      order they are tried) and the live models with their
                                      artifacts (scoring.steps.ActiveCard / LiveModel)
    DIR/customers/part-00000.parquet  every live customer: customer_id, assessed (consent to
                                      credit assessment) and the stored inputs the cards read
                                      as of that date (attribute.*, ratio.*, model.*, bureau.*,
                                      written as attribute__* ...: Spark reads a dot in a
                                      column name as a struct's field)

``score_joined`` takes those customers joined with their computed indicators and runs the
product's own steps (``scoring.steps``): the models' predictions, the fresh champion scores
over the stored ones, each customer scored by the first card that fits. The polars engine
calls it once over everyone, Spark once per partition. A scoring run has no population-wide
step: score, rating and tier come from fixed bands of the definition.

The result: one row per live customer, sorted by customer_id, with (RESULT COLUMNS)
``scorecard_version_id`` (the card that scored the customer, as customer_scores stores it;
null: none fits, or not assessed), then per active scorecard version
``scorecard__<code>__v<n>__score|rating|tier|reasons`` (reasons: the reason codes, worst
first, comma-separated; null where another card or none scored the customer), then per live
model ``model__<name>__v<n>__score|bad_probability`` (null: not assessed).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from riskdesk.batch.frames import RESULT_FILE, FramesError
from riskdesk.indicators.catalogue import NAMES
from riskdesk.scoring.steps import (
    ActiveCard,
    LiveModel,
    champion_frame,
    complete,
    features_of,
    needs,
    predict_frame,
    scored_by_cards,
    with_computed,
)

CONFIG_FILE = "config.json"
# The sources of the stored inputs, whose columns are <source>.<name> in the product.
_STORED = ("attribute", "ratio", "model", "bureau")
CUSTOMERS = "customers"
FORMAT = 1


@dataclass(frozen=True)
class ScoringConfig:
    """config.json: the as-of date of the inputs, the active cards and the live models."""

    as_of: dt.date
    cards: list[ActiveCard]
    models: list[LiveModel]

    def as_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "as_of": self.as_of.isoformat(),
            "scorecards": [c.as_json() for c in self.cards],
            "models": [m.as_json() for m in self.models],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScoringConfig:
        if data.get("format") != FORMAT:
            raise FramesError("--config", f"config format {data.get('format')!r}, not {FORMAT}")
        return cls(
            dt.date.fromisoformat(data["as_of"]),
            [ActiveCard.from_json(c) for c in data["scorecards"]],
            [LiveModel.from_json(m) for m in data["models"]],
        )


def write_config(config: ScoringConfig, customers: pl.DataFrame, directory: Path) -> int:
    """Write a config directory (replacing one written before); how many customers."""
    if directory.exists() and not directory.is_dir():
        raise FramesError("--out", f"{directory} is a file")
    folder = directory / CUSTOMERS
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.parquet"):
        old.unlink()
    customers.sort("customer_id").rename(_in_file).write_parquet(folder / RESULT_FILE)
    (directory / CONFIG_FILE).write_text(
        json.dumps(config.as_json(), ensure_ascii=False), encoding="utf-8"
    )
    return customers.height


def _in_file(column: str) -> str:
    source, dot, name = column.partition(".")
    return f"{source}__{name}" if dot and source in _STORED else column


def _in_product(column: str) -> str:
    source, sep, name = column.partition("__")
    return f"{source}.{name}" if sep and source in _STORED else column


def read_config(directory: str | Path) -> ScoringConfig:
    """A config directory's config.json: a local path, or a URI read through fsspec (a
    driver on a cluster reads it where the executors read the customers)."""
    where = str(directory).rstrip("/")
    try:
        if "://" in where:
            import fsspec

            with fsspec.open(f"{where}/{CONFIG_FILE}", "rt", encoding="utf-8") as file:
                text = file.read()
        else:
            text = (Path(where) / CONFIG_FILE).read_text(encoding="utf-8")
    except (OSError, ImportError, ValueError) as exc:
        raise FramesError(
            "--config", f"cannot read {CONFIG_FILE} in {where} (riskdesk batch config): {exc}"
        ) from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise FramesError("--config", f"{where}/{CONFIG_FILE} is not JSON: {exc}") from exc
    return ScoringConfig.from_json(data)


def checked(config: ScoringConfig, as_of: dt.date) -> ScoringConfig:
    """The config, when its inputs are as of ``as_of`` (file ages, the latest statement and
    bureau report depend on the date)."""
    if config.as_of != as_of:
        raise FramesError(
            "--as-of",
            f"the config holds inputs as of {config.as_of}; write one as of {as_of} "
            "(riskdesk batch config --as-of) or score as of its date",
        )
    return config


def customers_path(directory: str | Path) -> str:
    """Where a config directory's customers are (a path or URI Spark reads)."""
    return f"{str(directory).rstrip('/')}/{CUSTOMERS}"


def read_customers(directory: Path) -> pl.DataFrame:
    """A config directory's customers (the polars engine)."""
    files = sorted((directory / CUSTOMERS).glob("*.parquet"))
    if not files:
        raise FramesError("--config", f"no Parquet files in {directory / CUSTOMERS}")
    return pl.read_parquet(files)


def _card_column(card: ActiveCard, what: str) -> str:
    return f"scorecard__{card.code}__v{card.version}__{what}"


def _model_column(model: LiveModel, what: str) -> str:
    return f"model__{model.name}__v{model.version}__{what}"


def result_schema(config: ScoringConfig) -> dict[str, pl.DataType]:
    """The result's columns, in order, with their types."""
    schema: dict[str, pl.DataType] = {
        "customer_id": pl.Int64(),
        "scorecard_version_id": pl.Int64(),
    }
    for card in config.cards:
        schema[_card_column(card, "score")] = pl.Int64()
        schema[_card_column(card, "rating")] = pl.String()
        schema[_card_column(card, "tier")] = pl.String()
        schema[_card_column(card, "reasons")] = pl.String()
    for model in config.models:
        schema[_model_column(model, "score")] = pl.Int64()
        schema[_model_column(model, "bad_probability")] = pl.Float64()
    return schema


def score_joined(config: ScoringConfig, joined: pl.DataFrame) -> pl.DataFrame:
    """Every customer of ``joined`` (the config's customers, left-joined with their computed
    indicators: customer_id and NAMES) scored as a scoring run scores them (RESULT COLUMNS)."""
    schema = result_schema(config)
    indicators = joined.select("customer_id", *NAMES)
    customers = joined.drop(*NAMES).rename(_in_product)
    assessed = customers.filter(pl.col("assessed")).drop("assessed")
    # The models first (a scorecard may read the champion's score), from the attributes and
    # indicators alone: as registry.predict_customers.
    attributes = assessed.select(
        "customer_id", *[c for c in assessed.columns if c.startswith("attribute.")]
    )
    predictions = predict_frame(
        config.models, features_of(with_computed(attributes, {"indicator"}, indicators))
    )
    # Then the cards: as service.compute_scores.
    definitions = [c.definition for c in config.cards]
    factors = with_computed(assessed, needs(definitions), indicators, champion_frame(predictions))
    factors = complete(factors, definitions)
    out = customers.select("customer_id")
    versions = [pl.DataFrame(schema={"customer_id": pl.Int64, "scorecard_version_id": pl.Int64})]
    for card, result in scored_by_cards(config.cards, factors):
        versions.append(
            result.select(
                "customer_id", pl.lit(card.version_id, pl.Int64).alias("scorecard_version_id")
            )
        )
        out = out.join(
            result.select(
                "customer_id",
                pl.col("score").alias(_card_column(card, "score")),
                pl.col("rating").alias(_card_column(card, "rating")),
                pl.col("tier").alias(_card_column(card, "tier")),
                pl.col("reasons").list.join(",").alias(_card_column(card, "reasons")),
            ),
            on="customer_id",
            how="left",
        )
    out = out.join(pl.concat(versions), on="customer_id", how="left")
    for found in predictions:
        model = next(m for m in config.models if m.version_id == found.version_id)
        part = pl.DataFrame(
            {
                "customer_id": found.customer_ids,
                _model_column(model, "score"): found.score,
                _model_column(model, "bad_probability"): found.bad_probability,
            },
            schema={
                "customer_id": pl.Int64,
                _model_column(model, "score"): pl.Int64,
                _model_column(model, "bad_probability"): pl.Float64,
            },
        )
        out = out.join(part, on="customer_id", how="left")
    # A card that scored nobody here, a model with no one to score: their columns, empty.
    return out.select(
        (pl.col(c) if c in out.columns else pl.lit(None)).cast(t).alias(c)
        for c, t in schema.items()
    )
