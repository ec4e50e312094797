"""SQL of the rating migration: each customer's latest settled rating as of two dates, counted
by (rating then, rating now) in one GROUP BY."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from riskdesk.models import Customer, CustomerScore
from riskdesk.portfolio.repository import Scope, scoped_ids
from riskdesk.scoring.repository import settled

NOT_RATED = "not_rated"


def _latest_as_of(scope: Scope, day: dt.date, name: str) -> Any:
    """The newest settled score per customer in scope with a business date on or before
    ``day``: (customer_id, rating)."""
    ranked = (
        select(
            CustomerScore.customer_id.label("customer_id"),
            CustomerScore.rating.label("rating"),
            func.row_number()
            .over(
                partition_by=CustomerScore.customer_id,
                order_by=(
                    CustomerScore.as_of.desc(),
                    CustomerScore.scored_at.desc(),
                    CustomerScore.id.desc(),
                ),
            )
            .label("rank"),
        )
        .where(
            CustomerScore.as_of <= day,
            settled(CustomerScore.run_id),
            CustomerScore.customer_id.in_(scoped_ids(scope)),
        )
        .subquery(f"{name}_ranked")
    )
    return select(ranked.c.customer_id, ranked.c.rating).where(ranked.c.rank == 1).subquery(name)


def transitions(
    session: Session, scope: Scope, start: dt.date, end: dt.date
) -> list[tuple[str, str, int]]:
    """(rating at ``start``, rating at ``end``, customers) over every customer in scope;
    ``not_rated`` where a customer had no score yet."""
    before = _latest_as_of(scope, start, "rated_before")
    after = _latest_as_of(scope, end, "rated_after")
    rating_from = func.coalesce(before.c.rating, NOT_RATED).label("rating_from")
    rating_to = func.coalesce(after.c.rating, NOT_RATED).label("rating_to")
    stmt = (
        select(rating_from, rating_to, func.count())
        .select_from(Customer)
        .outerjoin(before, before.c.customer_id == Customer.id)
        .outerjoin(after, after.c.customer_id == Customer.id)
        .where(Customer.id.in_(scoped_ids(scope)))
        .group_by(rating_from, rating_to)
    )
    return [(str(f), str(t), int(n)) for f, t, n in session.execute(stmt)]


def ids_rated(scope: Scope, rating: str, day: dt.date) -> Select[Any]:
    """The ids of the customers in scope whose latest settled rating on ``day`` is ``rating``
    (``not_rated``: no settled score by then), as the matrix counts them."""
    latest = _latest_as_of(scope, day, f"rated_{day:%Y%m%d}")
    if rating == NOT_RATED:
        return select(Customer.id).where(
            Customer.id.in_(scoped_ids(scope)),
            Customer.id.not_in(select(latest.c.customer_id)),
        )
    return select(latest.c.customer_id).where(latest.c.rating == rating)
