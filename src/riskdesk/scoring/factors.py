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
from riskdesk.scoring.steps import with_computed


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
    stored = stored_inputs(session, customer_ids, as_of, sources, indicators=indicators is None)
    return with_computed(stored, sources, indicators, champion)


def stored_inputs(
    session: Session,
    customer_ids: Sequence[int] | None,
    as_of: dt.date,
    sources: set[str],
    *,
    indicators: bool = True,
) -> pl.DataFrame:
    """What factors of ``sources`` read from the database, one row per live customer: the
    attributes, the stored indicators (unless ``indicators`` is False: the caller computes
    them), the ratios of the latest statements, the stored champion scores and the bureau
    figures (``steps.with_computed`` adds what a run computes)."""
    frame = repo.customer_attributes(session, customer_ids, as_of)
    if "indicator" in sources and indicators:
        frame = frame.join(
            repo.indicator_values(session, customer_ids), on="customer_id", how="left"
        )
    if "ratio" in sources:
        from riskdesk.scoring.ratios import RATIO_FACTORS, company_ratios

        statements = repo.latest_statements(session, customer_ids, as_of)
        ratios = company_ratios(statements).select(
            "customer_id", *[pl.col(r.name).alias(f"ratio.{r.name}") for r in RATIO_FACTORS]
        )
        frame = frame.join(ratios, on="customer_id", how="left")
    if "model" in sources:
        frame = frame.join(
            repo.champion_scores(session, customer_ids), on="customer_id", how="left"
        )
    if "bureau" in sources:
        frame = frame.join(
            repo.bureau_values(session, customer_ids, as_of), on="customer_id", how="left"
        )
    return frame
