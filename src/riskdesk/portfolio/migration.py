"""Rating migration (评级迁移): where the customers rated at the end of last quarter stand
now. The counting is SQL (migration_repository); putting the cells into the scorecard's order
and the shares is plain code, tested without a database."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy.orm import Session

from riskdesk.kit.errors import ValidationFailed
from riskdesk.kit.timeutil import today
from riskdesk.portfolio import migration_repository as repo
from riskdesk.portfolio.migration_schemas import MigrationRow, RatingMigration
from riskdesk.portfolio.schemas import PortfolioFilter
from riskdesk.portfolio.service import scope_of
from riskdesk.scoring import service as scoring_service
from riskdesk.security.service import Principal

NOT_RATED = repo.NOT_RATED
QUARTER = re.compile(r"^(\d{4})Q([1-4])$")


def quarter_of(day: dt.date) -> str:
    """The quarter a day falls in: 2026Q4."""
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def quarter_end(year: int, q: int) -> dt.date:
    """The last day of a quarter."""
    if q == 4:
        return dt.date(year, 12, 31)
    return dt.date(year, 3 * q + 1, 1) - dt.timedelta(days=1)


def period(quarter: str | None, now: dt.date) -> tuple[str, dt.date, dt.date]:
    """(quarter, end of the quarter before it, end of it or ``now`` while it runs)."""
    name = quarter or quarter_of(now)
    found = QUARTER.match(name)
    if found is None:
        raise ValidationFailed(f"quarter {name!r} is not like 2026Q3", field="quarter")
    year, q = int(found[1]), int(found[2])
    if not 1900 <= year <= 9998:
        raise ValidationFailed(f"quarter {name!r} is out of range", field="quarter")
    start = quarter_end(year - 1, 4) if q == 1 else quarter_end(year, q - 1)
    if start >= now:
        raise ValidationFailed(f"quarter {name!r} has not begun", field="quarter")
    return name, start, min(quarter_end(year, q), now)


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def matrix(
    quarter: str,
    start: dt.date,
    end: dt.date,
    order: list[str],
    cells: list[tuple[str, str, int]],
) -> RatingMigration:
    """The counted transitions as a matrix in the scorecard's order (ratings found in scores
    but in no active scorecard follow, by name), with not_rated last."""
    seen = {r for f, t, _ in cells for r in (f, t)} - {NOT_RATED}
    ratings = [*order, *sorted(seen - set(order)), NOT_RATED]
    rank = {r: i for i, r in enumerate(ratings)}
    size = len(ratings)
    counts = [[0] * size for _ in range(size)]
    for f, t, n in cells:
        counts[rank[f]][rank[t]] += n
    up = same = down = new = gone = 0
    for i in range(size):
        for j in range(size):
            n = counts[i][j]
            if ratings[i] == NOT_RATED and ratings[j] == NOT_RATED:
                continue
            if ratings[i] == NOT_RATED:
                new += n
            elif ratings[j] == NOT_RATED:
                gone += n
            elif j < i:  # a better rating comes first
                up += n
            elif j == i:
                same += n
            else:
                down += n
    both = up + same + down
    return RatingMigration(
        quarter=quarter,
        start=start,
        end=end,
        ratings=ratings,
        rows=[
            MigrationRow(rating=ratings[i], counts=counts[i], total=sum(counts[i]))
            for i in range(size)
        ],
        customers=sum(map(sum, counts)),
        rated_both=both,
        upgraded=up,
        unchanged=same,
        downgraded=down,
        newly_rated=new,
        no_longer_rated=gone,
        upgraded_share=_share(up, both),
        unchanged_share=_share(same, both),
        downgraded_share=_share(down, both),
    )


def migration(
    session: Session,
    principal: Principal,
    *,
    flt: PortfolioFilter,
    quarter: str | None = None,
    now: dt.date | None = None,
) -> RatingMigration:
    """The rating migration of the customers in scope over a quarter (default: this one)."""
    name, start, end = period(quarter, now or today())
    cells = repo.transitions(session, scope_of(principal, flt), start, end)
    return matrix(name, start, end, scoring_service.rating_order(session), cells)


def customers_in_cell(
    principal: Principal,
    flt: PortfolioFilter,
    *,
    rating_to: str,
    rating_from: str | None = None,
    quarter: str | None = None,
    now: dt.date | None = None,
) -> Any:
    """The ids (a SELECT) of the customers in scope rated ``rating_to`` at the quarter's end
    (this quarter: today) and, when given, ``rating_from`` at the end of the quarter before:
    the customers a cell of the matrix counts."""
    _, start, end = period(quarter, now or today())
    scope = scope_of(principal, flt)
    found = repo.ids_rated(scope, rating_to, end)
    if rating_from:
        found = found.where(
            found.selected_columns[0].in_(repo.ids_rated(scope, rating_from, start))
        )
    return found
