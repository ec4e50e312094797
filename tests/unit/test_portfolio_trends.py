"""The collection trend formulas (riskdesk.portfolio.trends) against numbers worked by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskdesk.portfolio.trends import PeriodSums, cei, cutoffs, dso, month_end, ratios

D = Decimal


def test_cutoffs_are_month_ends_then_today() -> None:
    days = cutoffs(dt.date(2026, 3, 15), 12)
    assert len(days) == 14
    assert days[0] == dt.date(2025, 2, 28)  # opens the first month (March 2025)
    assert days[1] == dt.date(2025, 3, 31)
    assert days[-3:] == [dt.date(2026, 1, 31), dt.date(2026, 2, 28), dt.date(2026, 3, 15)]
    # On a month end, today closes a whole month; a leap February ends on the 29th.
    assert cutoffs(dt.date(2024, 3, 31), 2) == [
        dt.date(2023, 12, 31), dt.date(2024, 1, 31), dt.date(2024, 2, 29), dt.date(2024, 3, 31),
    ]  # fmt: skip
    assert cutoffs(dt.date(2026, 1, 1), 1) == [
        dt.date(2025, 11, 30), dt.date(2025, 12, 31), dt.date(2026, 1, 1),
    ]  # fmt: skip
    assert month_end(dt.date(2026, 12, 6)) == dt.date(2026, 12, 31)


def test_dso_and_cei_by_hand() -> None:
    # AR 5,600 of which 3,000 current, sales 3,000 in a 31-day month, beginning AR 3,000:
    # DSO = 5,600 / 3,000 x 31 = 57.87; best = 3,000 / 3,000 x 31 = 31; ADD = 26.87;
    # CEI = (3,000 + 3,000 - 5,600) / (3,000 + 3,000 - 3,000) = 400 / 3,000 = 13.33 %.
    assert dso(D(5600), D(3000), 31) == 57.87
    assert dso(D(3000), D(3000), 31) == 31.0
    assert cei(D(3000), D(3000), D(5600), D(3000)) == 13.33
    assert dso(D(100), D(0), 30) is None  # no sales: no DSO, not a division error
    assert cei(D(0), D(2000), D(2000), D(2000)) is None  # nothing collectable
    assert cei(D(0), D(0), D(0), D(0)) is None
    # Everything collected: 100 %.
    assert cei(D(1000), D(500), D(200), D(200)) == 100.0


def test_ratios_chain_the_beginning_ar() -> None:
    periods = [
        PeriodSums(dt.date(2025, 11, 30), 30, D(2000), D(2000), D(2000)),
        PeriodSums(dt.date(2025, 12, 31), 31, D(1000), D(3000), D(1000)),
        PeriodSums(dt.date(2026, 1, 31), 31, D(0), D(3000), D(0)),
    ]
    found = ratios(D(0), periods)
    assert [(r.dso, r.best_dso, r.add, r.cei) for r in found] == [
        (30.0, 30.0, 0.0, None),  # CEI: (0 + 2,000 - 2,000) / (0 + 2,000 - 2,000): none
        (93.0, 31.0, 62.0, 0.0),  # (2,000 + 1,000 - 3,000) / (2,000 + 1,000 - 1,000) = 0
        (None, None, None, 0.0),  # no sales; (3,000 + 0 - 3,000) / (3,000 - 0) = 0
    ]


amounts = st.decimals(min_value=0, max_value=10**9, places=2)


@given(amounts, amounts, amounts, st.integers(min_value=1, max_value=31))
def test_add_is_never_negative_and_cei_at_most_100(
    ar: Decimal, sales: Decimal, beginning: Decimal, days: int
) -> None:
    current = ar / 2
    (r,) = ratios(beginning, [PeriodSums(dt.date(2026, 1, 31), days, sales, ar, current)])
    if sales > 0:
        assert r.add is not None and r.add >= 0
    # Ending AR is at least ending current AR, so the CEI never exceeds 100 %.
    assert r.cei is None or r.cei <= 100.0 + 1e-9
    assert r.cei is None or r.cei == pytest.approx(
        float((beginning + sales - ar) / (beginning + sales - current)) * 100, abs=0.01
    )
