"""The signal indicators: each compares a customer with their own history or their peers, and
is missing without the history it needs."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from riskdesk.indicators.compute import compute
from tests.indicators.test_compute import AS_OF, day, frames, one, ts


def _orders(cid: int, ages: list[int], *, start: int = 0, method: str = "credit") -> list[dict]:  # type: ignore[type-arg]
    return [
        {
            "order_id": start + i,
            "customer_id": cid,
            "day": day(a),
            "amount": 100.0,
            "payment_method": method,
        }
        for i, a in enumerate(ages)
    ]


def test_order_trend_needs_tenure_and_compares_with_the_customers_own_rate() -> None:
    steady = list(range(0, 400, 10))  # every 10 days for 400 days
    new = list(range(0, 120, 10))  # the same pace, for 120 days only
    surge = list(range(90, 400, 30)) + list(range(0, 90, 5))  # monthly, then every 5 days
    out = compute(
        frames(
            customers=[{"customer_id": c, "segment": "s"} for c in (1, 2, 3)],
            orders=_orders(1, steady) + _orders(2, new, start=100) + _orders(3, surge, start=200),
        ),
        AS_OF,
    )
    a, b, c = one(out, 1), one(out, 2), one(out, 3)
    # Steady: the last 90 days at the rate of the year before.
    assert a["order_frequency_trend"] == pytest.approx(1.0, abs=0.05)
    assert a["order_rate_surprise_90d"] < 1
    # A new customer is not "buying four times their year's rate": there is no year yet.
    assert b["order_frequency_trend"] is None and b["order_rate_surprise_90d"] is None
    # Six times the earlier rate: the Poisson tail of 18 orders where about 3 were due.
    assert c["order_frequency_trend"] == pytest.approx(6.0, rel=0.1)
    before = 11  # orders 90-390 days old; the first 390 days ago: 300 days of the year before
    lam = (before + 0.5) * 90 / 300
    expected = -math.log10(stats.poisson.sf(18 - 1, lam))
    assert c["order_rate_surprise_90d"] == pytest.approx(expected, rel=1e-6)
    assert c["order_rate_surprise_90d"] > 5


def test_fewer_orders_than_usual_and_a_seasonal_buyer_is_judged_by_last_year() -> None:
    stopped = list(range(120, 470, 7))  # weekly for a year, then nothing for four months
    # Buys in the same two months every year: quiet now, and quiet a year ago.
    seasonal = list(range(150, 210, 3)) + list(range(515, 575, 3))
    out = compute(
        frames(
            customers=[{"customer_id": c, "segment": "s"} for c in (1, 2)],
            orders=_orders(1, stopped) + _orders(2, seasonal, start=500),
        ),
        AS_OF,
    )
    # About 12 orders were due in 90 days at the weekly rate, none came: e^-12.
    assert one(out, 1)["order_rate_drop_surprise_90d"] == pytest.approx(
        -math.log10(stats.poisson.cdf(0, 48.5 * 90 / 365)), rel=1e-6
    )
    assert one(out, 1)["order_rate_drop_surprise_90d"] > 4
    assert one(out, 2)["order_rate_drop_surprise_90d"] < 1
    # The silence test: the seasonal buyer's long gaps are part of their normal.
    assert one(out, 1)["silence_surprise"] > 3
    assert one(out, 2)["longest_order_gap_730d"] >= 300


def _invoice(n: int, cid: int, due_ago: int, late: int | None) -> tuple[dict, list[dict]]:  # type: ignore[type-arg]
    invoice = {
        "invoice_id": n,
        "customer_id": cid,
        "order_id": n,
        "issue_date": day(due_ago + 30),
        "due_date": day(due_ago),
        "amount": 100.0,
    }
    paid = (
        []
        if late is None
        else [{"invoice_id": n, "customer_id": cid, "day": day(due_ago - late), "amount": 100.0}]
    )
    return invoice, paid


def test_lateness_is_judged_against_the_customers_usual() -> None:
    invoices, payments = [], []
    # 1 always pays 25-35 days late; 2 paid on time and now pays 30 days late.
    for k, due in enumerate(range(100, 440, 20)):
        for cid, late in ((1, 25 + (k % 3) * 5), (2, 0)):
            inv, pay = _invoice(cid * 1000 + k, cid, due, late)
            invoices.append(inv)
            payments += pay
    for k, due in enumerate((80, 60, 40)):
        for cid, late in ((1, 30), (2, 30)):
            inv, pay = _invoice(cid * 1000 + 500 + k, cid, due, late)
            invoices.append(inv)
            payments += pay
    out = compute(
        frames(
            customers=[{"customer_id": c, "segment": "s"} for c in (1, 2)],
            invoices=invoices,
            payments=payments,
        ),
        AS_OF,
    )
    slow, worse = one(out, 1), one(out, 2)
    assert slow["late_days_usual"] == pytest.approx(30.0, abs=1)
    assert slow["late_days_usual_p90"] >= 34
    assert abs(slow["late_days_z_90d"]) < 1
    assert worse["late_days_usual"] == 0 and worse["late_days_90d"] == 30
    # (30 - 0) / sqrt(25 * (1/3 + 1/17)): the variance floor of 5 days keeps it finite.
    assert worse["late_days_z_90d"] == pytest.approx(30 / math.sqrt(25 * (1 / 3 + 1 / 17)))


def test_unverifiable_returns_are_judged_against_the_segments_rate() -> None:
    orders = []
    returns = []
    for cid in range(1, 21):  # twenty peers, one order a fortnight, one soft return each
        orders += _orders(cid, list(range(0, 360, 14)), start=cid * 100)
        returns.append({"customer_id": cid, "day": day(50), "amount": 100.0, "reason": "no_reason"})
    # 21 returns half its orders, all "empty package" or "changed mind"; 22 as many, defective.
    orders += _orders(21, list(range(0, 360, 14)), start=2100)
    orders += _orders(22, list(range(0, 360, 14)), start=2200)
    for k in range(13):
        reason = "empty_package" if k % 2 else "changed_mind"
        returns.append({"customer_id": 21, "day": day(k * 28), "amount": 100.0, "reason": reason})
        returns.append(
            {"customer_id": 22, "day": day(k * 28), "amount": 100.0, "reason": "defective"}
        )
    out = compute(
        frames(
            customers=[{"customer_id": c, "segment": "consumer"} for c in range(1, 23)],
            orders=orders,
            returns=returns,
        ),
        AS_OF,
    )
    abuser, faulty, peer = one(out, 21), one(out, 22), one(out, 3)
    assert abuser["returns_soft_count_365d"] == 13 and faulty["returns_soft_count_365d"] == 0
    assert abuser["return_abuse_surprise_365d"] > 10
    assert faulty["return_abuse_surprise_365d"] == 0  # defects are the seller's side
    assert peer["return_abuse_surprise_365d"] < 1
    assert abuser["returns_soft_amount_share_365d"] == pytest.approx(0.5)


def test_quantity_per_line_against_peers_and_own_history() -> None:
    lines = []
    orders = []
    for cid in range(1, 11):
        ages = list(range(0, 400, 15))
        orders += _orders(cid, ages, start=cid * 100)
        bulk = cid == 10
        for i, a in enumerate(ages):
            units = 80.0 if bulk and a < 90 else 8.0
            lines.append(
                {
                    "order_id": cid * 100 + i,
                    "customer_id": cid,
                    "day": day(a),
                    "category": "x",
                    "quantity": units,
                    "amount": 100.0,
                }
            )
    out = compute(
        frames(
            customers=[{"customer_id": c, "segment": "b2b"} for c in range(1, 11)],
            orders=orders,
            order_lines=lines,
        ),
        AS_OF,
    )
    assert one(out, 10)["line_units_peer_ratio_90d"] == pytest.approx(10.0)
    assert one(out, 10)["line_units_ratio_90d"] == pytest.approx(10.0)
    assert one(out, 1)["line_units_peer_ratio_90d"] == pytest.approx(1.0)


def test_a_satisfaction_drop_needs_several_answers() -> None:
    surveys = [
        {"customer_id": 1, "responded_at": ts(a), "survey_type": "csat", "score": s}
        for a, s in ((700, 5.0), (500, 5.0), (300, 5.0), (100, 2.0), (20, 1.0))
    ] + [
        {"customer_id": 2, "responded_at": ts(a), "survey_type": "csat", "score": s}
        for a, s in ((300, 5.0), (20, 4.0))
    ]
    out = compute(
        frames(customers=[{"customer_id": c, "segment": "s"} for c in (1, 2)], surveys=surveys),
        AS_OF,
    )
    # 100 before, 12.5 lately (0-100 scale), with the variance of the recent answers.
    assert one(out, 1)["satisfaction_drop"] == pytest.approx(87.5)
    assert one(out, 1)["satisfaction_drop_z"] > 3
    # One answer moving from 5 to 4 is no trend to judge.
    assert one(out, 2)["satisfaction_drop"] is None and one(out, 2)["satisfaction_drop_z"] is None
