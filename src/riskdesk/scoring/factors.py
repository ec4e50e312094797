"""Everything a scorecard factor, a model feature or an early-warning rule may read, gathered
into one frame per customer.

It sits below both ``service`` (scorecards) and ``registry`` (models): the registry feeds its
models from this frame and the service calls the registry, so the frame lives apart from both
and the two import in one direction only (service -> registry -> factors)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl
from sqlalchemy.orm import Session

from riskdesk.scoring import repository as repo


def factor_frame(
    session: Session,
    customer_ids: Sequence[int] | None,
    as_of: dt.date,
    sources: set[str],
    indicators: pl.DataFrame | None = None,
    champion: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Everything factors may read, one row per live customer, as ``<source>.<name>`` columns.

    ``indicators`` (customer_id and one column per indicator) saves reading the stored values
    when the caller has just computed them; ``champion`` (``model.<name>`` columns) are
    champion scores just computed and not stored yet, which win over the stored ones.
    """
    frame = repo.customer_attributes(session, customer_ids, as_of)
    if "indicator" in sources:
        if indicators is not None:
            values = indicators.select(
                "customer_id",
                *[pl.col(c).alias(f"indicator.{c}") for c in indicators.columns[1:]],
            )
        else:
            values = repo.indicator_values(session, customer_ids)
        frame = frame.join(values, on="customer_id", how="left")
    if "ratio" in sources:
        from riskdesk.scoring.ratios import RATIO_FACTORS, company_ratios

        statements = repo.latest_statements(session, customer_ids, as_of)
        ratios = company_ratios(statements).select(
            "customer_id", *[pl.col(r.name).alias(f"ratio.{r.name}") for r in RATIO_FACTORS]
        )
        frame = frame.join(ratios, on="customer_id", how="left")
    if "model" in sources:
        stored = repo.champion_scores(session, customer_ids)
        if champion is not None:
            stored = _with_fresh(stored, champion)
        frame = frame.join(stored, on="customer_id", how="left")
    if "bureau" in sources:
        frame = frame.join(
            repo.bureau_values(session, customer_ids, as_of), on="customer_id", how="left"
        )
    return frame


def _with_fresh(stored: pl.DataFrame, fresh: pl.DataFrame) -> pl.DataFrame:
    """Stored champion scores, replaced by the fresh ones where there are."""
    names = [c for c in fresh.columns if c != "customer_id"]
    stored = stored.with_columns(
        pl.lit(None, pl.Float64).alias(n) for n in names if n not in stored.columns
    )
    merged = stored.join(fresh, on="customer_id", how="full", coalesce=True, suffix=".fresh")
    return merged.with_columns(pl.coalesce(f"{n}.fresh", n).alias(n) for n in names).drop(
        f"{n}.fresh" for n in names
    )
