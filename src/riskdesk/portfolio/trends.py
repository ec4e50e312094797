"""Collection trends from per-period sums: the cut-off dates, DSO (the period method, not
the countback), best possible DSO, average days delinquent and the collection effectiveness
index. Pure: no database, no web; the sums come from the repository.

    DSO           = AR at period end / credit sales of the period x days in the period
    best DSO      = current AR at period end / credit sales x days
    ADD           = DSO - best DSO
    CEI           = (beginning AR + sales - ending AR)
                    / (beginning AR + sales - ending current AR) x 100
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

DIGITS = 2  # days and percent points: two places are plenty and keep the API readable


@dataclass(frozen=True)
class PeriodSums:
    """What the database summed for one period ending on ``end`` (a month end, or today)."""

    end: dt.date
    days: int  # days in the period: from the day after the previous cut-off to ``end``
    sales: Decimal  # invoices issued in the period
    ar: Decimal  # open receivables at ``end``
    current_ar: Decimal  # of which not yet due at ``end``


@dataclass(frozen=True)
class PeriodRatios:
    """DSO, best possible DSO, ADD (days) and CEI (percent) of one period; None where a
    ratio has no meaning (no sales; a CEI denominator of zero or less)."""

    dso: float | None
    best_dso: float | None
    add: float | None
    cei: float | None


def month_end(day: dt.date) -> dt.date:
    """The last day of a day's month."""
    first_next = (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    return first_next - dt.timedelta(days=1)


def cutoffs(as_of: dt.date, months: int) -> list[dt.date]:
    """The ``months + 1`` month ends before ``as_of`` (the first only opens the first
    period: its AR is the first month's beginning AR), then ``as_of`` itself."""
    ends: list[dt.date] = []
    day = as_of.replace(day=1) - dt.timedelta(days=1)  # the last month end before as_of
    for _ in range(months + 1):
        ends.append(day)
        day = day.replace(day=1) - dt.timedelta(days=1)
    return [*reversed(ends), as_of]


def dso(ar: Decimal, sales: Decimal, days: int) -> float | None:
    """Days sales outstanding: AR / sales x days; None without sales."""
    if sales <= 0:
        return None
    return round(float(ar / sales) * days, DIGITS)


def cei(
    beginning_ar: Decimal, sales: Decimal, ending_ar: Decimal, current_ar: Decimal
) -> float | None:
    """Collection effectiveness index in percent; None when what could be collected (the
    denominator) is zero or less."""
    collectable = beginning_ar + sales - current_ar
    if collectable <= 0:
        return None
    return round(float((beginning_ar + sales - ending_ar) / collectable) * 100, DIGITS)


def ratios(opening_ar: Decimal, periods: Sequence[PeriodSums]) -> list[PeriodRatios]:
    """The ratios of consecutive periods; ``opening_ar`` is the AR before the first."""
    found: list[PeriodRatios] = []
    beginning = opening_ar
    for p in periods:
        total = dso(p.ar, p.sales, p.days)
        best = dso(p.current_ar, p.sales, p.days)
        found.append(
            PeriodRatios(
                dso=total,
                best_dso=best,
                add=round(total - best, DIGITS) if total is not None and best is not None else None,
                cei=cei(beginning, p.sales, p.ar, p.current_ar),
            )
        )
        beginning = p.ar
    return found
