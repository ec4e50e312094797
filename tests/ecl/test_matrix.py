"""The provision matrix on a small portfolio worked by hand (docs/ecl.md walks through it).

Month ends D0..D6 = 2025-12-31 .. 2026-06-30 (as of 2026-06-30, six months back). Where each
invoice sits at each month end (days past due in brackets):

    A  cust 1  1000  due 2025-12-15, paid 2026-02-10     D0 1_30 (16)  D1 31_60 (47)
    B  cust 1  2000  due 2026-01-15, 500 paid 2026-07-05 (after as-of: ignored)
                     D1 1_30 (16)  D2 31_60 (44)  D3 61_90 (75)  D4..D6 91_180 (105, 136, 166)
    C  cust 2  4000  due 2026-03-03, paid 2026-04-20     D2 current (-3)  D3 1_30 (28)
    D  cust 2  3000  due 2026-05-31, 1000 paid 2026-06-10
                     D4 current (-31)  D5 current (0)  D6 1_30 (30), 2000 open
    E  cust 3  5000  due 2026-04-09, paid 2026-04-09     D3 current (-9)
    F  cust 3  9999  issued 2026-07-02 (after as-of: does not exist)
    G  cust 4  1500  due 2025-05-31, never paid          D0..D6 over_180
    H  cust 4  1000  due 2025-08-31, never paid          D0 91_180 (122)  D1 91_180 (153)
                     D2..D6 over_180
    I  cust 5  3000  due 2025-09-30, paid 2026-01-20     D0 91_180 (92)

Transitions D0->D1 .. D5->D6, balance at the first month end:

    current  base C 4000 + E 5000 + D 3000 + D 3000 = 15000; rolled C 4000 + D 3000 = 7000;
             stayed D 3000 -> roll 7000 / (15000 - 3000) = 7/12
    1_30     base A 1000 + B 2000 + C 4000 = 7000; rolled 3000 -> 3/7
    31_60    base A 1000 + B 2000 = 3000; rolled 2000 -> 2/3
    61_90    base B 2000; rolled 2000 -> 1
    91_180   base H 1000 + I 3000 + H 1000 + B 2000 + B 2000 = 9000; rolled H 1000;
             stayed H 1000 + B 4000 = 5000 -> 1000 / 4000 = 1/4
    over_180 100%

Historical loss rates: over_180 1, 91_180 1/4, 61_90 1/4, 31_60 1/6, 1_30 1/14, current 1/24.
As of 2026-06-30: cust 1 B 2000 in 91_180 -> 500; cust 2 D 2000 in 1_30 -> 2000/14;
cust 4 G + H 2500 over_180 -> 2500.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from riskdesk.ecl import matrix
from riskdesk.ecl.matrix import BUCKETS, PORTFOLIO, Adjustment, compute

D = dt.date
AS_OF = D(2026, 6, 30)
INVOICES = [
    # id, customer, issue, due, amount
    (1, 1, D(2025, 11, 15), D(2025, 12, 15), 1000.0),
    (2, 1, D(2026, 1, 1), D(2026, 1, 15), 2000.0),
    (3, 2, D(2026, 2, 1), D(2026, 3, 3), 4000.0),
    (4, 2, D(2026, 4, 1), D(2026, 5, 31), 3000.0),
    (5, 3, D(2026, 3, 10), D(2026, 4, 9), 5000.0),
    (6, 3, D(2026, 7, 2), D(2026, 8, 1), 9999.0),
    (7, 4, D(2025, 5, 1), D(2025, 5, 31), 1500.0),
    (8, 4, D(2025, 8, 1), D(2025, 8, 31), 1000.0),
    (9, 5, D(2025, 9, 1), D(2025, 9, 30), 3000.0),
]
PAYMENTS = [
    (1, D(2026, 2, 10), 1000.0),
    (2, D(2026, 7, 5), 500.0),
    (3, D(2026, 4, 20), 4000.0),
    (4, D(2026, 6, 10), 1000.0),
    (5, D(2026, 4, 9), 5000.0),
    (9, D(2026, 1, 20), 3000.0),
]


def frames(segments: dict[int, str | None] | None = None) -> tuple[pl.DataFrame, ...]:
    segments = segments or {c: "consumer" for c in range(1, 6)}
    invoices = pl.DataFrame(INVOICES, schema=matrix.INVOICE_SCHEMA, orient="row")
    payments = pl.DataFrame(PAYMENTS, schema=matrix.PAYMENT_SCHEMA, orient="row")
    customers = pl.DataFrame(list(segments.items()), schema=matrix.CUSTOMER_SCHEMA, orient="row")
    return invoices, payments, customers


def rates_of(result: matrix.Matrix, segment: str, column: str) -> list[float]:
    rows = result.rates.filter(pl.col("segment") == segment).sort("bucket")
    return rows[column].to_list()


def test_roll_rates_and_loss_rates_match_the_hand_computation() -> None:
    result = compute(*frames(), AS_OF, 6)
    assert result.dates == [
        D(2025, 12, 31), D(2026, 1, 31), D(2026, 2, 28), D(2026, 3, 31),
        D(2026, 4, 30), D(2026, 5, 31), D(2026, 6, 30),
    ]  # fmt: skip
    assert rates_of(result, PORTFOLIO, "base") == pytest.approx(
        [15000, 7000, 3000, 2000, 9000, 1500 * 6 + 1000 * 4]
    )
    assert rates_of(result, PORTFOLIO, "roll_rate") == pytest.approx(
        [7 / 12, 3 / 7, 2 / 3, 1.0, 1 / 4, 1.0]
    )
    assert rates_of(result, PORTFOLIO, "historical_rate") == pytest.approx(
        [1 / 24, 1 / 14, 1 / 6, 1 / 4, 1 / 4, 1.0]
    )
    # No adjustment: the adjusted rate is the historical one.
    assert rates_of(result, PORTFOLIO, "adjusted_rate") == pytest.approx(
        [1 / 24, 1 / 14, 1 / 6, 1 / 4, 1 / 4, 1.0]
    )


def test_customer_and_portfolio_ecl_match_the_hand_computation() -> None:
    result = compute(*frames(), AS_OF, 6)
    by_customer = {r["customer_id"]: r for r in result.customers.iter_rows(named=True)}
    assert set(by_customer) == {1, 2, 4}  # 3 and 5 owe nothing on 2026-06-30
    assert by_customer[1]["91_180"] == pytest.approx(2000)  # B's July payment is not yet
    assert by_customer[1]["ecl"] == pytest.approx(500)
    assert by_customer[2]["1_30"] == pytest.approx(2000)
    assert by_customer[2]["ecl"] == pytest.approx(2000 / 14)
    assert by_customer[4]["over_180"] == pytest.approx(2500)
    assert by_customer[4]["ecl"] == pytest.approx(2500)
    assert rates_of(result, PORTFOLIO, "balance") == pytest.approx([0, 2000, 0, 0, 2000, 2500])
    assert sum(rates_of(result, PORTFOLIO, "ecl")) == pytest.approx(500 + 2000 / 14 + 2500)


def test_the_adjustment_multiplies_the_historical_rates_capped_at_one() -> None:
    adjusted = [Adjustment(PORTFOLIO, 1.2, "weaker retail demand expected")]
    result = compute(*frames(), AS_OF, 6, adjusted)
    assert rates_of(result, PORTFOLIO, "historical_rate")[0] == pytest.approx(1 / 24)
    assert rates_of(result, PORTFOLIO, "adjusted_rate") == pytest.approx(
        [1.2 / 24, 1.2 / 14, 1.2 / 6, 0.3, 0.3, 1.0]
    )
    ecl = {r["customer_id"]: r["ecl"] for r in result.customers.iter_rows(named=True)}
    assert ecl == pytest.approx({1: 600, 2: 2000 * 1.2 / 14, 4: 2500})


def test_no_look_ahead_at_a_month_end() -> None:
    """A's payment on 2026-02-10 leaves it open at 2026-01-31; F (issued in July) and B's July
    payment do not exist for any month end."""
    result = compute(*frames(), AS_OF, 6)
    balances = result.month_end_balances.filter(pl.col("segment") == PORTFOLIO)

    def at(day: dt.date) -> dict[str, float]:
        rows = balances.filter(pl.col("date") == day)
        return {BUCKETS[b]: v for b, v in zip(rows["bucket"], rows["balance"], strict=True)}

    assert at(D(2026, 1, 31)) == pytest.approx(
        {"1_30": 2000, "31_60": 1000, "91_180": 1000, "over_180": 1500}
    )
    assert at(D(2025, 12, 31)) == pytest.approx({"1_30": 1000, "91_180": 4000, "over_180": 1500})
    assert at(D(2026, 6, 30)) == pytest.approx({"1_30": 2000, "91_180": 2000, "over_180": 2500})
    # The same history with the future rows removed gives the same matrix.
    invoices, payments, customers = frames()
    trimmed = compute(
        invoices.filter(pl.col("issue_date") <= AS_OF),
        payments.filter(pl.col("day") <= AS_OF),
        customers,
        AS_OF,
        6,
    )
    assert trimmed.rates.equals(result.rates)


def test_a_thin_segment_falls_back_to_the_portfolio_rates() -> None:
    # Customers 1, 2 and 3 are companies with a long history; 4 and 5 consumers.
    segments = {1: "b2b_sme", 2: "b2b_sme", 3: "b2b_sme", 4: "consumer", 5: "consumer"}
    result = compute(*frames(segments), AS_OF, 6, min_segment_months=6, min_segment_balance=10_000)
    sme = result.rates.filter(pl.col("segment") == "b2b_sme")
    consumer = result.rates.filter(pl.col("segment") == "consumer")
    # SME: A, B, C, D, E have balances at D0..D6 (7 month ends), 10,000+ in all: own rates.
    assert set(sme["rates_from"]) == {"b2b_sme"}
    # Its own current and 1_30 transitions are the portfolio's (no consumer invoice is there).
    assert sme["roll_rate"].to_list()[:4] == pytest.approx([7 / 12, 3 / 7, 2 / 3, 1.0])
    # Nothing of SME ever left 91_180 (B stayed): no evidence of cures, the prudent 100%.
    assert sme["roll_rate"][4] == pytest.approx(1.0)
    # Consumer: G, H, I have balances at every month end, but with a higher floor it is thin.
    thin = compute(*frames(segments), AS_OF, 6, min_segment_months=6, min_segment_balance=30_000)
    consumer = thin.rates.filter(pl.col("segment") == "consumer")
    assert set(consumer["rates_from"]) == {PORTFOLIO}
    assert consumer["historical_rate"].to_list() == pytest.approx(
        [1 / 24, 1 / 14, 1 / 6, 1 / 4, 1 / 4, 1.0]
    )
    # A segment's ECL uses its own (or the fallen-back) rates; the portfolio adds them up.
    total = thin.rates.filter(pl.col("segment") == PORTFOLIO)["ecl"].sum()
    parts = thin.rates.filter(pl.col("segment") != PORTFOLIO)["ecl"].sum()
    assert total == pytest.approx(parts)
    assert thin.customers.filter(pl.col("customer_id") == 4)["rates_from"][0] == PORTFOLIO


def test_a_customer_without_segment_and_a_segment_without_history() -> None:
    segments: dict[int, str | None] = {1: None, 2: None, 3: None, 4: None, 5: None, 6: "vip"}
    result = compute(*frames(segments), AS_OF, 6)
    assert set(result.rates["segment"]) == {PORTFOLIO, "none", "vip"}
    vip = result.rates.filter(pl.col("segment") == "vip")
    assert set(vip["rates_from"]) == {PORTFOLIO}
    assert vip["base"].sum() == 0


def test_the_lookback_is_bounded() -> None:
    with pytest.raises(ValueError, match="lookback_months"):
        compute(*frames(), AS_OF, 5)
    assert compute(*frames(), AS_OF, 6).history_months == 7


def test_an_empty_book_has_no_loss() -> None:
    invoices, payments, customers = (f.clear() for f in frames())
    result = compute(invoices, payments, customers, AS_OF, 6)
    assert result.customers.is_empty()
    assert result.customers["ecl"].sum() == 0


def test_a_reversed_payment_owes_again_from_its_reversal() -> None:
    """Corrections make payments signed: an invoice settled, its payment reversed, is open
    again from the reversal (and a credit note settles like a payment)."""
    d = dt.date
    invoices = pl.DataFrame(
        [(1, 7, d(2025, 1, 5), d(2025, 2, 4), 100.0), (2, 7, d(2025, 1, 5), d(2025, 2, 4), 80.0)],
        schema=matrix.INVOICE_SCHEMA,
        orient="row",
    )
    payments = pl.DataFrame(
        [
            (1, d(2025, 1, 20), 100.0),  # settled in January
            (1, d(2025, 2, 10), -100.0),  # reversed in February
            (1, d(2025, 4, 2), 100.0),  # paid again in April
            (2, d(2025, 1, 25), 30.0),
            (2, d(2025, 2, 15), 50.0),  # a credit note settles the rest
        ],
        schema=matrix.PAYMENT_SCHEMA,
        orient="row",
    )
    dates = [d(2025, 1, 31), d(2025, 2, 28), d(2025, 3, 31), d(2025, 4, 30)]
    found = matrix.open_balances(invoices, payments, dates).sort("invoice_id", "k")
    assert found.select("invoice_id", "k", "balance").rows() == [
        (1, 1, 100.0),
        (1, 2, 100.0),
        (2, 0, 50.0),
    ]
