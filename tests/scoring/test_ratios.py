"""Company ratios: hand-computed Altman scores for each model and around their cut-offs, null
handling, the factor catalogue, and the property that the vectorised frame equals the
per-statement function on every row."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskdesk.scoring.ratios import (
    EM_SCORE,
    LABEL_COLUMNS,
    OUTPUT_COLUMNS,
    RATIO_FACTORS,
    Z_DOUBLE_PRIME,
    Z_PRIME,
    AltmanInputs,
    AltmanSpec,
    Z,
    altman,
    altman_spec,
    altman_zone,
    company_ratios,
)

AMOUNTS = (
    "revenue",
    "total_assets",
    "total_liabilities",
    "current_assets",
    "current_liabilities",
    "retained_earnings",
    "ebit",
    "equity",
    "net_income",
    "cash",
    "market_value_equity",
    "inventory",
    "interest_expense",
)
SCHEMA: dict[str, Any] = {
    "customer_id": pl.Int64,
    "period_end": pl.Date,
    **{a: pl.Float64 for a in AMOUNTS},
    "listed": pl.Boolean,
    "manufacturer": pl.Boolean,
}
PERIOD_END = dt.date(2025, 12, 31)


def statement(**figures: Any) -> dict[str, Any]:
    """A statement row with every figure missing unless given."""
    row: dict[str, Any] = {"customer_id": 1, "period_end": PERIOD_END}
    row.update({a: None for a in AMOUNTS})
    row.update(listed=False, manufacturer=False)
    row.update(figures)
    return row


def ratios(*rows: dict[str, Any], **options: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = company_ratios(
        pl.DataFrame(list(rows), schema=SCHEMA), **options
    ).to_dicts()
    return out


# X1 .20, X2 .10, X3 .05, X4 (book) .50, X5 1.20
BALANCED = {
    "total_assets": 1000.0,
    "total_liabilities": 600.0,
    "current_assets": 400.0,
    "current_liabilities": 200.0,
    "retained_earnings": 100.0,
    "ebit": 50.0,
    "equity": 300.0,
    "revenue": 1200.0,
    "net_income": 30.0,
    "cash": 80.0,
}


# --- hand-computed cases, one per model --------------------------------------------------------


def test_original_z_published_example() -> None:
    # A textbook exercise with its published answer (wizedu.com/questions/366502): X1 .34,
    # X2 .15, X3 .00, X4 .80, X5 1.6 give Z = 2.70, in the grey zone.
    (row,) = ratios(
        statement(
            total_assets=100.0,
            current_assets=50.0,
            current_liabilities=16.0,
            retained_earnings=15.0,
            ebit=0.0,
            total_liabilities=50.0,
            market_value_equity=40.0,
            equity=10.0,  # book equity is not what Z reads
            revenue=160.0,
            listed=True,
            manufacturer=True,
        )
    )
    assert row["altman_model"] == "z" and row["altman_fallback"] is False
    assert [row[f"altman_x{i}"] for i in range(1, 6)] == pytest.approx([0.34, 0.15, 0.0, 0.8, 1.6])
    assert row["altman_score"] == pytest.approx(2.698)
    assert round(row["altman_score"], 2) == 2.70
    assert row["altman_zone"] == "grey"


def test_1968_percent_form_is_the_same_model() -> None:
    # Altman (1968) printed .012 X1 + .014 X2 + .033 X3 + .006 X4 + .999 X5 with X1-X4 in
    # percent; the ratio form differs only by rounding .999 to 1.0.
    x = (0.34, 0.15, 0.0, 0.8, 1.6)
    percent_form = 0.012 * 34 + 0.014 * 15 + 0.033 * 0 + 0.006 * 80 + 0.999 * x[4]
    ratio_form = altman(
        AltmanInputs(
            total_assets=100.0,
            total_liabilities=50.0,
            current_assets=50.0,
            current_liabilities=16.0,
            retained_earnings=15.0,
            ebit=0.0,
            revenue=160.0,
            market_value_equity=40.0,
            listed=True,
            manufacturer=True,
        )
    ).score
    assert ratio_form is not None
    assert ratio_form - percent_form == pytest.approx(0.001 * x[4])


def test_z_prime_for_private_manufacturer() -> None:
    (row,) = ratios(statement(**BALANCED, manufacturer=True))
    # 0.717×.2 + 0.847×.1 + 3.107×.05 + 0.420×.5 + 0.998×1.2
    assert row["altman_model"] == "z_prime" and row["altman_fallback"] is False
    assert row["altman_x4"] == pytest.approx(0.5)
    assert row["altman_score"] == pytest.approx(1.79105)
    assert row["altman_zone"] == "grey"


def test_listed_manufacturer_without_market_value_falls_back_to_z_prime() -> None:
    (row,) = ratios(statement(**BALANCED, manufacturer=True, listed=True))
    assert row["altman_model"] == "z_prime" and row["altman_fallback"] is True
    assert row["altman_score"] == pytest.approx(1.79105)
    result = altman(
        AltmanInputs(
            **{k: v for k, v in BALANCED.items() if k not in ("net_income", "cash")},
            listed=True,
            manufacturer=True,
        )
    )
    assert (result.model, result.fallback) == ("z_prime", True)


def test_z_double_prime_for_non_manufacturer() -> None:
    # Listed or not, and market value or not: a non-manufacturer gets Z″ on book equity.
    rows = ratios(
        statement(**BALANCED),
        statement(**BALANCED, listed=True, market_value_equity=6000.0),
    )
    for row in rows:
        # 6.56×.2 + 3.26×.1 + 6.72×.05 + 1.05×.5
        assert row["altman_model"] == "z_double_prime" and row["altman_fallback"] is False
        assert row["altman_x4"] == pytest.approx(0.5)
        assert row["altman_x5"] is None
        assert row["altman_score"] == pytest.approx(2.499)
        assert row["altman_zone"] == "grey"


def test_emerging_market_score_adds_the_constant_and_moves_the_zones() -> None:
    (row,) = ratios(statement(**BALANCED), emerging_market_constant=True)
    assert row["altman_score"] == pytest.approx(2.499 + 3.25)
    assert row["altman_zone"] == "grey"
    assert (EM_SCORE.safe_above, EM_SCORE.distress_below) == pytest.approx((5.85, 4.35))
    # The option touches Z″ only.
    (manufacturer,) = ratios(
        statement(**BALANCED, manufacturer=True), emerging_market_constant=True
    )
    assert manufacturer["altman_score"] == pytest.approx(1.79105)


def test_published_weights_and_cut_offs() -> None:
    assert Z.weights == (1.2, 1.4, 3.3, 0.6, 1.0)
    assert (Z.safe_above, Z.distress_below) == (2.99, 1.81)
    assert Z_PRIME.weights == (0.717, 0.847, 3.107, 0.420, 0.998)
    assert (Z_PRIME.safe_above, Z_PRIME.distress_below) == (2.90, 1.23)
    assert Z_DOUBLE_PRIME.weights == (6.56, 3.26, 6.72, 1.05, None)
    assert (Z_DOUBLE_PRIME.safe_above, Z_DOUBLE_PRIME.distress_below) == (2.60, 1.10)
    assert EM_SCORE.weights == Z_DOUBLE_PRIME.weights and EM_SCORE.constant == 3.25


# --- zones at and around the cut-offs ----------------------------------------------------------


@pytest.mark.parametrize("spec", [Z, Z_PRIME, Z_DOUBLE_PRIME, EM_SCORE])
def test_zone_at_and_around_cut_offs(spec: AltmanSpec) -> None:
    step = 1e-9
    assert altman_zone(spec.safe_above + step, spec) == "safe"
    assert altman_zone(spec.safe_above, spec) == "grey"
    assert altman_zone(spec.safe_above - step, spec) == "grey"
    assert altman_zone(spec.distress_below + step, spec) == "grey"
    assert altman_zone(spec.distress_below, spec) == "grey"
    assert altman_zone(spec.distress_below - step, spec) == "distress"
    assert altman_zone(None, spec) is None


@pytest.mark.parametrize(
    ("revenue", "zone"),
    [
        (299.01, "safe"),
        (299.0, "grey"),  # exactly 2.99
        (298.99, "grey"),
        (181.01, "grey"),
        (181.0, "grey"),  # exactly 1.81
        (180.99, "distress"),
    ],
)
def test_z_zone_at_cut_offs_through_the_frame(revenue: float, zone: str) -> None:
    # Only X5 (weight 1.0) is non-zero, so the score is revenue / 100 exactly.
    (row,) = ratios(
        statement(
            total_assets=100.0,
            total_liabilities=50.0,
            current_assets=10.0,
            current_liabilities=10.0,
            retained_earnings=0.0,
            ebit=0.0,
            market_value_equity=0.0,
            revenue=revenue,
            listed=True,
            manufacturer=True,
        )
    )
    assert row["altman_score"] == revenue / 100
    assert row["altman_zone"] == zone


# --- other ratios, nulls and zero denominators -------------------------------------------------


def test_balance_sheet_ratios() -> None:
    (row,) = ratios(statement(**BALANCED, inventory=150.0, interest_expense=-20.0))
    assert row["current_ratio"] == pytest.approx(2.0)
    assert row["quick_ratio"] == pytest.approx(1.25)
    assert row["cash_ratio"] == pytest.approx(0.4)
    assert row["debt_to_equity"] == pytest.approx(2.0)
    assert row["debt_to_assets"] == pytest.approx(0.6)
    assert row["equity_ratio"] == pytest.approx(0.3)
    assert row["interest_coverage"] == pytest.approx(2.5)  # sign of the booked expense ignored
    assert row["return_on_assets"] == pytest.approx(0.03)
    assert row["net_margin"] == pytest.approx(0.025)
    assert row["asset_turnover"] == pytest.approx(1.2)


def test_zero_denominators_give_null() -> None:
    (row,) = ratios(
        statement(
            **{
                **BALANCED,
                "total_assets": 0.0,
                "current_liabilities": 0.0,
                "total_liabilities": 0.0,
                "revenue": 0.0,
                "equity": 0.0,
            },
            manufacturer=True,
            inventory=10.0,
            interest_expense=0.0,
        )
    )
    for name in OUTPUT_COLUMNS:
        if name not in LABEL_COLUMNS:
            assert row[name] is None, name
    assert row["altman_zone"] is None
    assert row["altman_model"] == "z_prime"


def test_missing_figures_give_null_only_where_used() -> None:
    (row,) = ratios(statement(**{**BALANCED, "ebit": None}))
    assert row["altman_x3"] is None
    assert row["altman_score"] is None and row["altman_zone"] is None
    assert row["altman_x1"] == pytest.approx(0.2)
    assert row["current_ratio"] == pytest.approx(2.0)
    assert row["quick_ratio"] is None  # no inventory
    assert row["interest_coverage"] is None  # no interest expense


def test_negative_equity_has_no_debt_to_equity() -> None:
    (row,) = ratios(statement(**{**BALANCED, "equity": -50.0}))
    assert row["debt_to_equity"] is None
    assert row["equity_ratio"] == pytest.approx(-0.05)


def test_no_infinity_from_tiny_denominators() -> None:
    (row,) = ratios(
        statement(
            **{
                **BALANCED,
                "total_assets": 1e-300,
                "revenue": 1e308,
                "current_assets": 1e308,
                "current_liabilities": 1e-300,
            }
        )
    )
    assert row["asset_turnover"] is None
    assert row["current_ratio"] is None
    assert row["altman_score"] is None


def test_decimal_columns_and_absent_optional_columns() -> None:
    frame = pl.DataFrame(
        [
            {
                "customer_id": 7,
                "period_end": PERIOD_END,
                **{k: Decimal(str(v)) for k, v in BALANCED.items()},
            }
        ]
    )
    (row,) = company_ratios(frame).to_dicts()
    assert row["customer_id"] == 7 and row["period_end"] == PERIOD_END
    assert row["altman_model"] == "z_double_prime"  # no flags: not a manufacturer
    assert row["altman_score"] == pytest.approx(2.499)
    assert row["quick_ratio"] is None and row["interest_coverage"] is None


def test_missing_required_column_is_refused() -> None:
    frame = pl.DataFrame([statement(**BALANCED)], schema=SCHEMA).drop("ebit")
    with pytest.raises(ValueError, match="ebit"):
        company_ratios(frame)


def test_empty_frame() -> None:
    out = company_ratios(pl.DataFrame([], schema=SCHEMA))
    assert out.height == 0
    assert out.columns == ["customer_id", "period_end", *OUTPUT_COLUMNS]


# --- the factor catalogue ----------------------------------------------------------------------


def test_every_numeric_output_is_a_factor_with_both_languages() -> None:
    out = company_ratios(pl.DataFrame([statement(**BALANCED)], schema=SCHEMA))
    numeric = [c for c in OUTPUT_COLUMNS if out.schema[c] == pl.Float64]
    assert [f.name for f in RATIO_FACTORS] == numeric
    assert set(OUTPUT_COLUMNS) - set(numeric) == set(LABEL_COLUMNS)
    for factor in RATIO_FACTORS:
        assert factor.en and factor.zh
        assert factor.direction in (-1, 0, 1)
    directions = {f.name: f.direction for f in RATIO_FACTORS}
    assert directions["debt_to_assets"] == directions["debt_to_equity"] == -1
    assert directions["altman_score"] == directions["current_ratio"] == 1


# --- property: the frame equals the per-statement function -------------------------------------

amount = st.one_of(
    st.none(),
    st.just(0.0),
    st.floats(min_value=-1e9, max_value=1e9, allow_nan=False),
    st.floats(allow_nan=False, allow_infinity=False),  # extremes: overflow must give null
)
ALTMAN_FIELDS = (
    "total_assets",
    "total_liabilities",
    "current_assets",
    "current_liabilities",
    "retained_earnings",
    "ebit",
    "equity",
    "revenue",
    "market_value_equity",
)
flags = {
    "listed": st.one_of(st.none(), st.booleans()),
    "manufacturer": st.one_of(st.none(), st.booleans()),
}
wild_row = st.fixed_dictionaries(
    {**{f: amount for f in (*ALTMAN_FIELDS, "net_income", "cash")}, **flags}
)


@st.composite
def plausible_row(draw: st.DrawFn) -> dict[str, Any]:
    """Figures in proportion to total assets, a few of them missing or zero, so that scores
    land in every zone of every model."""
    fields = (*ALTMAN_FIELDS, "net_income", "cash")
    total_assets = draw(st.floats(min_value=1.0, max_value=1e9))
    share = st.floats(min_value=-0.5, max_value=2.0)
    row: dict[str, Any] = {f: draw(share) * total_assets for f in fields}
    row["total_assets"] = total_assets
    row.update({f: None for f in draw(st.sets(st.sampled_from(fields), max_size=2))})
    row.update({f: 0.0 for f in draw(st.sets(st.sampled_from(fields), max_size=1))})
    return {**row, **{k: draw(v) for k, v in flags.items()}}


row_strategy = st.one_of(plausible_row(), plausible_row(), wild_row)


def same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(row_strategy, min_size=1, max_size=8), emerging=st.booleans())
def test_frame_equals_per_statement_altman(rows: list[dict[str, Any]], emerging: bool) -> None:
    frame = pl.DataFrame([statement(**r) for r in rows], schema=SCHEMA)
    out = company_ratios(frame, emerging_market_constant=emerging).to_dicts()
    assert len(out) == len(rows)
    for given_row, got in zip(rows, out, strict=True):
        one = altman(
            AltmanInputs(
                **{f: given_row[f] for f in ALTMAN_FIELDS},
                listed=bool(given_row["listed"]),
                manufacturer=bool(given_row["manufacturer"]),
            ),
            emerging_market_constant=emerging,
        )
        assert got["altman_model"] == one.model
        assert got["altman_fallback"] == one.fallback
        for i, x in enumerate((one.x1, one.x2, one.x3, one.x4, one.x5), start=1):
            assert same(got[f"altman_x{i}"], x), (i, got[f"altman_x{i}"], x)
        assert same(got["altman_score"], one.score)
        assert got["altman_zone"] == one.zone
        # The zone always follows from the score and the model's cut-offs.
        spec = altman_spec(one.model, emerging_market_constant=emerging)
        score = got["altman_score"]
        if score is None:
            assert got["altman_zone"] is None
        elif score > spec.safe_above:
            assert got["altman_zone"] == "safe"
        elif score < spec.distress_below:
            assert got["altman_zone"] == "distress"
        else:
            assert got["altman_zone"] == "grey"
        for name in OUTPUT_COLUMNS:
            value = got[name]
            assert not (isinstance(value, float) and not math.isfinite(value)), name
