"""Indicator formulas: hand-computed cases, and the property that computing all customers at
once gives each customer exactly what computing that customer alone gives."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from riskdesk.indicators.catalogue import CATALOGUE, NAMES
from riskdesk.indicators.compute import REFERENCE_COLUMNS, SCHEMAS, EventFrames, compute

AS_OF = dt.date(2026, 6, 30)


def day(days_ago: int) -> dt.date:
    return AS_OF - dt.timedelta(days=days_ago)


def ts(days_ago: int, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day(days_ago), dt.time(hour), tzinfo=dt.UTC)


def frames(**rows: list[dict]) -> EventFrames:  # type: ignore[type-arg]
    data = {}
    for name, schema in SCHEMAS.items():
        data[name] = pl.DataFrame(rows.get(name, []), schema=schema)
    return EventFrames(**data)


def one(result: pl.DataFrame, customer_id: int = 1) -> dict[str, float | None]:
    return result.filter(pl.col("customer_id") == customer_id).to_dicts()[0]


def test_catalogue_and_output_agree() -> None:
    assert len(NAMES) == len(set(NAMES)) >= 60
    assert all(i.en and i.zh and i.unit for i in CATALOGUE)
    out = compute(frames(customers=[{"customer_id": 1, "segment": "b2b_sme"}]), AS_OF)
    assert out.columns == ["customer_id", *NAMES]


def test_windows_count_the_last_n_days_inclusive_of_today() -> None:
    orders = [
        {
            "order_id": i,
            "customer_id": 1,
            "day": day(ago),
            "amount": 100.0,
            "payment_method": "credit",
        }
        for i, ago in enumerate([0, 6, 7, 29, 30, 400])
    ]
    orders.append(
        {
            "order_id": 99,
            "customer_id": 1,
            "day": AS_OF + dt.timedelta(days=1),
            "amount": 1e6,
            "payment_method": "credit",
        }
    )  # the future does not count
    v = one(compute(frames(customers=[{"customer_id": 1, "segment": "x"}], orders=orders), AS_OF))
    assert v["orders_count_7d"] == 2
    assert v["orders_count_30d"] == 4
    assert v["orders_count_365d"] == 5
    assert v["orders_amount_30d"] == 400
    assert v["days_since_last_order"] == 0
    assert v["tenure_days"] == 400


def test_receivables_ageing_dpd_dso_and_paydex() -> None:
    invoices = [
        # 1000 due 10 days ago, 400 paid: 600 open, 10 days past due
        {
            "invoice_id": 1,
            "customer_id": 1,
            "order_id": None,
            "issue_date": day(40),
            "due_date": day(10),
            "amount": 1000.0,
        },
        # 500 due in 20 days: current
        {
            "invoice_id": 2,
            "customer_id": 1,
            "order_id": None,
            "issue_date": day(10),
            "due_date": day(-20),
            "amount": 500.0,
        },
        # 300 due 100 days ago, unpaid: 91-120 bucket
        {
            "invoice_id": 3,
            "customer_id": 1,
            "order_id": None,
            "issue_date": day(130),
            "due_date": day(100),
            "amount": 300.0,
        },
        # 200 paid exactly on the due date
        {
            "invoice_id": 4,
            "customer_id": 1,
            "order_id": None,
            "issue_date": day(60),
            "due_date": day(30),
            "amount": 200.0,
        },
    ]
    payments = [
        {"invoice_id": 1, "customer_id": 1, "day": day(5), "amount": 400.0},
        {"invoice_id": 4, "customer_id": 1, "day": day(30), "amount": 200.0},
    ]
    v = one(
        compute(
            frames(
                customers=[{"customer_id": 1, "segment": "x"}], invoices=invoices, payments=payments
            ),
            AS_OF,
        )
    )
    assert v["ar_open_total"] == pytest.approx(1400)
    assert v["ar_current"] == pytest.approx(500)
    assert v["ar_1_30"] == pytest.approx(600)
    assert v["ar_91_120"] == pytest.approx(300)
    assert v["ar_over_120"] == 0
    assert v["dpd_max"] == 100
    assert v["dpd_weighted"] == pytest.approx((600 * 10 + 300 * 100) / 1400)
    assert v["overdue_ratio"] == pytest.approx(900 / 1400)
    assert v["oldest_overdue_age_days"] == 130
    # invoiced in the last 90 days: 1000 + 500 + 200
    assert v["dso_90d"] == pytest.approx(1400 / 1700 * 90)
    assert v["best_possible_dso_90d"] == pytest.approx(500 / 1700 * 90)
    assert v["dbt_weighted_90d"] == 0  # the one settled invoice was paid on time
    # experiences: invoice 4 on time (80), invoice 1 10 days late, invoice 3 100 days late
    p1 = 80 + 10 * (70 - 80) / 15
    p3 = 30 + 10 * (20 - 30) / 30
    assert v["paydex"] == pytest.approx((200 * 80 + 1000 * p1 + 300 * p3) / 1500)
    # due in the last year: 1, 3, 4; late: 1 and 3
    assert v["late_invoice_share_365d"] == pytest.approx(2 / 3)


def test_claims_without_goods_are_counted_and_summed_over_90_days() -> None:
    cust = [{"customer_id": 1, "segment": "consumer"}, {"customer_id": 2, "segment": "consumer"}]
    returns = [
        {"customer_id": 1, "day": day(0), "amount": 120.0, "reason": "item_not_received"},
        {"customer_id": 1, "day": day(89), "amount": 80.0, "reason": "empty_package"},
        {"customer_id": 1, "day": day(90), "amount": 999.0, "reason": "empty_package"},  # too old
        {"customer_id": 1, "day": day(5), "amount": 50.0, "reason": "defective"},
        {"customer_id": 1, "day": day(-1), "amount": 70.0, "reason": "empty_package"},  # future
    ]
    out = compute(frames(customers=cust, returns=returns), AS_OF)
    v = one(out)
    assert v["returns_unreceived_claims_count_90d"] == 2
    assert v["returns_unreceived_claims_amount_90d"] == pytest.approx(200.0)
    assert v["return_reason_share_empty_package_365d"] == pytest.approx(0.5)
    assert v["return_reason_share_item_not_received_365d"] == pytest.approx(0.25)
    # A customer with no returns at all has no claims, not an unknown number of them.
    none = one(out, 2)
    assert none["returns_unreceived_claims_count_90d"] == 0
    assert none["returns_unreceived_claims_amount_90d"] == 0


def test_return_reasons_are_the_ones_intake_accepts_with_labels_in_both_languages() -> None:
    import json
    import typing
    from pathlib import Path

    from riskdesk.events.schemas import ReturnReason
    from riskdesk.indicators.catalogue import RETURN_REASON_LABELS, RETURN_REASONS

    assert typing.get_args(ReturnReason) == RETURN_REASONS
    assert {"item_not_received", "empty_package"} <= set(RETURN_REASONS)
    assert set(RETURN_REASON_LABELS) == set(RETURN_REASONS)
    folder = Path(__file__).parents[2] / "src/riskdesk/ui/translations"
    for locale in ("en", "zh-CN"):
        messages = json.loads((folder / f"{locale}.json").read_text(encoding="utf-8"))
        assert all(f"return_reason.{r}" in messages for r in RETURN_REASONS), locale


def test_returns_complaints_satisfaction_and_interactions() -> None:
    cust = [{"customer_id": 1, "segment": "x"}]
    orders = [
        {
            "order_id": 1,
            "customer_id": 1,
            "day": day(20),
            "amount": 1000.0,
            "payment_method": "cash_on_delivery",
        }
    ]
    returns = [
        {"customer_id": 1, "day": day(10), "amount": 250.0, "reason": "no_reason"},
        {"customer_id": 1, "day": day(100), "amount": 50.0, "reason": "defective"},
    ]
    complaints = [
        {"customer_id": 1, "opened_at": ts(10), "resolved_at": None, "severity": "critical"},
        {"customer_id": 1, "opened_at": ts(50), "resolved_at": ts(48), "severity": "low"},
    ]
    surveys = [
        {
            "customer_id": 1,
            "responded_at": ts(90 - 30 * i),
            "survey_type": "csat",
            "score": float(5 - i),
        }
        for i in range(4)
    ]
    interactions = [{"customer_id": 1, "day": day(3)}]
    v = one(
        compute(
            frames(
                customers=cust,
                orders=orders,
                returns=returns,
                complaints=complaints,
                surveys=surveys,
                interactions=interactions,
            ),
            AS_OF,
        )
    )
    assert v["return_rate_30d"] == pytest.approx(0.25)
    assert v["returns_count_365d"] == 2
    assert v["return_reason_share_no_reason_365d"] == pytest.approx(0.5)
    assert v["cod_share_90d"] == 1.0
    assert v["complaints_weighted_90d"] == 6
    assert v["complaints_open"] == 1
    assert v["complaint_resolution_days_365d"] == pytest.approx(2)
    assert v["csat_latest"] == 2
    assert v["satisfaction_trend"] == pytest.approx(-25.0, rel=0.02)  # 25 points a month down
    assert v["days_since_last_interaction"] == 3


def test_no_events_gives_zero_counts_and_missing_ratios() -> None:
    v = one(compute(frames(customers=[{"customer_id": 1, "segment": "x"}]), AS_OF))
    assert v["orders_count_365d"] == 0 and v["ar_open_total"] == 0
    assert v["return_rate_90d"] is None and v["dso_90d"] is None and v["paydex"] is None
    assert v["rfm_recency_score"] == 1


# ---------------------------------------------------------------- property: batch == one by one

ids = st.integers(min_value=1, max_value=4)
ago = st.integers(min_value=-5, max_value=500)
money = st.floats(min_value=1, max_value=10_000, allow_nan=False).map(lambda x: round(x, 2))


@st.composite
def histories(draw: st.DrawFn) -> EventFrames:
    customers = [
        {"customer_id": c, "segment": draw(st.sampled_from(["a", "b"]))} for c in range(1, 5)
    ]
    orders, lines, invoices, payments = [], [], [], []
    for n in range(draw(st.integers(0, 25))):
        cid, when, amount = draw(ids), draw(ago), draw(money)
        method = draw(st.sampled_from(["credit", "cash_on_delivery", "prepaid"]))
        orders.append(
            {
                "order_id": n,
                "customer_id": cid,
                "day": day(when),
                "amount": amount,
                "payment_method": method,
            }
        )
        lines.append(
            {
                "order_id": n,
                "customer_id": cid,
                "day": day(when),
                "category": draw(st.sampled_from(["x", "y", "z"])),
                "quantity": float(draw(st.integers(1, 60))),
                "amount": amount,
            }
        )
        if draw(st.booleans()):
            terms = draw(st.integers(1, 60))
            invoices.append(
                {
                    "invoice_id": n,
                    "customer_id": cid,
                    "order_id": n,
                    "issue_date": day(when),
                    "due_date": day(when - terms),
                    "amount": amount,
                }
            )
            for k in range(draw(st.integers(0, 2))):
                paid_ago = draw(st.integers(min_value=-5, max_value=max(when, -5)))
                payments.append(
                    {
                        "invoice_id": n,
                        "customer_id": cid,
                        "day": day(paid_ago),
                        "amount": round(amount / 2, 2) + k * 0.01,
                    }
                )
    returns = [
        {
            "customer_id": draw(ids),
            "day": day(draw(ago)),
            "amount": draw(money),
            "reason": draw(
                st.sampled_from(["defective", "no_reason", "changed_mind", "empty_package"])
            ),
        }
        for _ in range(draw(st.integers(0, 6)))
    ]
    complaints = []
    for _ in range(draw(st.integers(0, 6))):
        opened = draw(ago)
        resolved = draw(st.one_of(st.none(), st.integers(min_value=-5, max_value=opened)))
        complaints.append(
            {
                "customer_id": draw(ids),
                "opened_at": ts(opened),
                "resolved_at": ts(resolved, 18) if resolved is not None else None,
                "severity": draw(st.sampled_from(["low", "high", "critical"])),
            }
        )
    surveys = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["csat", "nps"]))
        score = draw(st.integers(1, 5) if kind == "csat" else st.integers(0, 10))
        surveys.append(
            {
                "customer_id": draw(ids),
                "responded_at": ts(draw(ago)),
                "survey_type": kind,
                "score": float(score),
            }
        )
    interactions = [
        {"customer_id": draw(ids), "day": day(draw(ago))} for _ in range(draw(st.integers(0, 8)))
    ]
    return frames(
        customers=customers,
        orders=orders,
        order_lines=lines,
        invoices=invoices,
        payments=payments,
        returns=returns,
        complaints=complaints,
        surveys=surveys,
        interactions=interactions,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_batch_equals_one_customer_at_a_time(history: EventFrames) -> None:
    batch = compute(history, AS_OF)
    reference = batch.join(history.customers, on="customer_id").select(REFERENCE_COLUMNS)
    singles = pl.concat(
        [
            compute(history.for_customers([cid]), AS_OF, reference=reference)
            for cid in history.customers["customer_id"].to_list()
        ]
    )
    assert_frame_equal(batch, singles, check_exact=False, rel_tol=1e-9, abs_tol=1e-9)


def test_last_order_against_the_usual_size() -> None:
    amounts = {400: 100.0, 100: 200.0, 50: 300.0, 0: 900.0}
    orders = [
        {
            "order_id": i,
            "customer_id": 1,
            "day": day(ago),
            "amount": amount,
            "payment_method": "credit",
        }
        for i, (ago, amount) in enumerate(amounts.items())
    ]
    v = one(compute(frames(customers=[{"customer_id": 1, "segment": "x"}], orders=orders), AS_OF))
    assert v["last_order_size_ratio"] == pytest.approx(900 / 250)  # median of 200 and 300
    assert v["expected_purchase_interval_days"] == pytest.approx(100 / 2)


def test_complaint_windows_count_calendar_days_like_the_others() -> None:
    # Opened 90 days ago in the afternoon: 89.4 days of clock time, but 90 calendar days old.
    complaints = [
        {"customer_id": 1, "opened_at": ts(90, 14), "resolved_at": None, "severity": "low"},
        {"customer_id": 1, "opened_at": ts(89, 23), "resolved_at": None, "severity": "low"},
        {"customer_id": 1, "opened_at": ts(0, 23), "resolved_at": None, "severity": "low"},
    ]
    v = one(
        compute(
            frames(customers=[{"customer_id": 1, "segment": "x"}], complaints=complaints), AS_OF
        )
    )
    assert v["complaints_count_90d"] == 2
    assert v["complaints_count_365d"] == 3


def test_a_stored_population_summary_ranks_as_the_population_does() -> None:
    """A summary keeps every amount up to REFERENCE_POINTS customers a segment (exact), then
    quantiles: percentiles within half a point; the RFM cuts, medians and sums exact."""
    import numpy as np

    from riskdesk.indicators.compute import REFERENCE_POINTS, Reference, summarise

    rng = np.random.default_rng(7)
    n = 5000
    ref = pl.DataFrame(
        {
            "segment": rng.choice(["company", "consumer"], n).tolist(),
            "orders_amount_90d": np.round(rng.lognormal(8, 1.5, n), 2),
            "days_since_last_order": rng.integers(0, 400, n).astype(float),
            "orders_count_365d": rng.poisson(6, n).astype(float),
            "orders_amount_365d": np.round(rng.lognormal(9, 1.5, n), 2),
            "line_units_90d": rng.integers(1, 30, n).astype(float),
            "returns_soft_count_365d": rng.poisson(0.3, n).astype(float),
        }
    )
    exact, sketch = summarise(ref, points=None), summarise(ref)
    assert all(len(s.amounts) == REFERENCE_POINTS for s in sketch.segments.values())
    assert sketch.cuts == exact.cuts
    stored = Reference.from_json(sketch.as_json())
    assert stored == sketch
    probe = pl.DataFrame(
        {
            "customer_id": list(range(200)),
            "segment": ["company", "consumer"] * 100,
            "orders_amount_90d": np.round(rng.lognormal(8, 1.5, 200), 2),
            **{c: np.zeros(200) for c in ref.columns[2:]},
            **{f"returns_soft_count_{w}d": np.zeros(200) for w in (90,)},
            "orders_count_90d": np.zeros(200),
        }
    )
    from riskdesk.indicators.compute import _population

    a = _population(probe, exact)["orders_amount_peer_percentile_90d"].to_numpy()
    b = _population(probe, stored)["orders_amount_peer_percentile_90d"].to_numpy()
    assert np.max(np.abs(a - b)) < 0.5
    # A small population is kept whole, and ranks exactly as before.
    small = summarise(ref.head(300))
    assert sum(s.customers for s in small.segments.values()) == 300
    assert all(len(s.amounts) == s.customers for s in small.segments.values())
