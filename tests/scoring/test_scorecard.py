"""Scorecard definitions and the scoring formulas: hand-computed cases, the checks a definition
must pass, and properties (vectorised scoring equals scoring one customer; bands are accepted
exactly when they partition 0-1000)."""

from __future__ import annotations

import itertools
import math
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from riskdesk.scoring.definition import Band, Definition, check_bands
from riskdesk.scoring.engine import score_frame, score_one

RATINGS = [
    {"code": "AAA", "min": 900, "max": 1000},
    {"code": "AA", "min": 800, "max": 899},
    {"code": "A", "min": 700, "max": 799},
    {"code": "BBB", "min": 600, "max": 699},
    {"code": "BB", "min": 500, "max": 599},
    {"code": "B", "min": 400, "max": 499},
    {"code": "C", "min": 0, "max": 399},
]
TIERS = [
    {"code": "critical", "min": 0, "max": 399},
    {"code": "high", "min": 400, "max": 599},
    {"code": "medium", "min": 600, "max": 799},
    {"code": "low", "min": 800, "max": 1000},
]


def definition(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "base_points": 300,
        "factors": [
            {
                "code": "dpd",
                "source": "indicator",
                "name": "dpd_max",
                "bins": [
                    {"upper": 1, "points": 300},
                    {"lower": 1, "upper": 31, "points": 200},
                    {"lower": 31, "upper": 91, "points": 50},
                    {"lower": 91, "points": 0},
                ],
                "missing_points": 150,
            },
            {
                "code": "paydex",
                "source": "indicator",
                "name": "paydex",
                "weight": {"points": 250, "lower": 20, "upper": 100},
                "missing_points": 100,
            },
            {
                "code": "segment",
                "source": "attribute",
                "name": "segment",
                "bins": [
                    {"values": ["b2b_enterprise"], "points": 150},
                    {"values": ["b2b_sme"], "points": 80},
                ],
                "missing_points": 40,
            },
        ],
        "ratings": RATINGS,
        "tiers": TIERS,
    }
    return base | overrides


def test_hand_computed_score_rating_tier_and_reasons() -> None:
    d = Definition.model_validate(definition())
    assert d.score_range() == (340, 1000)
    values = {"dpd": 45.0, "paydex": 60.0, "segment": "b2b_sme"}
    one = score_one(d, values)
    # 300 + 50 + 250 * (60 - 20) / 80 + 80 = 555
    assert one.score == 555
    assert (one.rating, one.tier) == ("BB", "high")
    # lost: dpd 250, paydex 125, segment 70
    assert one.reasons == ["dpd", "paydex", "segment"]
    frame = score_frame(d, pl.DataFrame([{"customer_id": 7, **values}]))
    row = frame.to_dicts()[0]
    assert (row["score"], row["rating"], row["tier"]) == (555, "BB", "high")
    assert row["reasons"] == ["dpd", "paydex", "segment"]
    assert row["points_paydex"] == pytest.approx(125.0)


def test_best_customer_has_no_reasons_and_missing_values_get_missing_points() -> None:
    d = Definition.model_validate(definition())
    best = score_one(d, {"dpd": 0, "paydex": 100, "segment": "b2b_enterprise"})
    assert best.score == 1000 and best.reasons == []
    unknown = score_one(d, {"dpd": None, "paydex": float("nan"), "segment": None})
    assert unknown.score == 300 + 150 + 100 + 40
    # A segment no bin lists gets the missing points too.
    assert score_one(d, {"segment": "consumer"}).points["segment"] == 40


def test_bin_edges_belong_to_the_upper_bin() -> None:
    d = Definition.model_validate(definition())
    assert score_one(d, {"dpd": 0.999}).points["dpd"] == 300
    assert score_one(d, {"dpd": 1}).points["dpd"] == 200
    assert score_one(d, {"dpd": 91}).points["dpd"] == 0
    assert score_one(d, {"dpd": -5}).points["dpd"] == 300


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ratings": RATINGS[1:]}, "scores 900 to 1000 are in no band"),
        ({"ratings": [*RATINGS[:-1], {"code": "C", "min": 1, "max": 399}]}, "scores 0 to 0"),
        (
            {"ratings": [*RATINGS[:2], {"code": "A", "min": 700, "max": 800}, *RATINGS[3:]]},
            "bands A and AA overlap (800 to 800)",
        ),
        (
            {"ratings": [*RATINGS[:2], {"code": "A", "min": 710, "max": 799}, *RATINGS[3:]]},
            "scores 700 to 709 are in no band",
        ),
        ({"ratings": [*RATINGS, {"code": "AAA", "min": 0, "max": 0}]}, "appears twice"),
        (
            {
                "tiers": [
                    {"code": "low", "min": 0, "max": 399},
                    {"code": "critical", "min": 400, "max": 1000},
                ]
            },
            "riskiest",
        ),
        ({"tiers": [{"code": "grave", "min": 0, "max": 1000}]}, "not one of low"),
        ({"base_points": 400}, "scores from 440 to 1100"),
    ],
)
def test_invalid_definitions_are_refused_with_the_reason(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as exc:
        Definition.model_validate(definition(**change))
    assert message in str(exc.value)


@pytest.mark.parametrize(
    ("factor", "message"),
    [
        ({"source": "indicator", "name": "no_such_thing"}, "unknown indicator 'no_such_thing'"),
        ({"bins": None}, "give either bins or weight"),
        (
            {"bins": [{"upper": 5, "points": 1}, {"lower": 6, "points": 0}]},
            "bins[1]: must start where bins[0] ends (5.0), not at 6.0",
        ),
        ({"bins": [{"lower": 0, "points": 1}]}, "first bin must have no lower bound"),
        ({"bins": [{"upper": 5, "points": 1}]}, "last bin must have no upper bound"),
        ({"bins": [{"values": ["x"], "points": 1}]}, "numeric factor's bins"),
    ],
)
def test_invalid_factors_are_refused(factor: dict[str, Any], message: str) -> None:
    d = definition()
    d["factors"][0] = d["factors"][0] | factor
    with pytest.raises(ValidationError) as exc:
        Definition.model_validate(d)
    assert message in str(exc.value)


def test_points_that_could_give_a_negative_score_are_refused() -> None:
    d = definition()
    d["factors"][0]["missing_points"] = -400
    with pytest.raises(ValidationError, match="scores from -60 to 1000"):
        Definition.model_validate(d)


def test_category_value_in_two_bins_is_refused() -> None:
    d = definition()
    d["factors"][2]["bins"][1]["values"] = ["b2b_sme", "b2b_enterprise"]
    with pytest.raises(ValidationError, match="already in bins"):
        Definition.model_validate(d)


# ---------------------------------------------------------------- properties

NUMERIC = ["dpd_max", "paydex", "overdue_ratio", "orders_amount_90d", "return_rate_90d"]


@st.composite
def factors(draw: st.DrawFn, index: int) -> dict[str, Any]:
    code = f"f{index}"
    kind = draw(st.sampled_from(["bins", "weight", "category"]))
    missing = draw(st.integers(-20, 60))
    if kind == "category":
        values = draw(st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, unique=True))
        split = draw(st.integers(0, len(values)))
        groups = [g for g in (values[:split], values[split:]) if g]
        return {
            "code": code,
            "source": "attribute",
            "name": "segment",
            "bins": [{"values": g, "points": draw(st.integers(-20, 60))} for g in groups],
            "missing_points": missing,
        }
    name = draw(st.sampled_from(NUMERIC))
    if kind == "weight":
        lower = draw(st.floats(-100, 100, allow_nan=False))
        width = draw(st.floats(0.5, 200, allow_nan=False))
        return {
            "code": code,
            "source": "indicator",
            "name": name,
            "weight": {
                "points": draw(st.floats(0.5, 60, allow_nan=False)),
                "lower": lower,
                "upper": lower + width,
                "higher_is_better": draw(st.booleans()),
            },
            "missing_points": missing,
        }
    cuts = sorted(draw(st.lists(st.integers(-50, 150), min_size=0, max_size=5, unique=True)))
    edges: list[float | None] = [None, *[float(c) for c in cuts], None]
    bins = [
        {"lower": lo, "upper": hi, "points": draw(st.integers(-20, 60))}
        for lo, hi in itertools.pairwise(edges)
    ]
    return {"code": code, "source": "indicator", "name": name, "bins": bins, "missing": missing}


@st.composite
def definitions(draw: st.DrawFn) -> Definition:
    n = draw(st.integers(1, 6))
    fs = [draw(factors(i)) for i in range(n)]
    for f in fs:
        if "missing" in f:
            f["missing_points"] = f.pop("missing")
    raw: dict[str, Any] = {"factors": fs, "ratings": RATINGS, "tiers": TIERS}
    # Choose base points that keep every possible score inside 0-1000.
    lows = highs = 0.0
    for f in fs:
        if "weight" in f:
            options = [0.0, f["weight"]["points"], float(f["missing_points"])]
        else:
            options = [float(b["points"]) for b in f["bins"]] + [float(f["missing_points"])]
        lows += min(options)
        highs += max(options)
    base_low, base_high = math.ceil(-lows), math.floor(1000 - highs)
    raw["base_points"] = draw(st.integers(base_low, base_high))
    raw["reason_count"] = draw(st.integers(1, 4))
    return Definition.model_validate(raw)


value = st.one_of(
    st.none(),
    st.just(float("nan")),
    st.floats(-200, 400, allow_nan=False),
    st.integers(-60, 160).map(float),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(d=definitions(), data=st.data())
def test_vectorised_scoring_equals_scoring_each_customer(
    d: Definition, data: st.DataObject
) -> None:
    rows = []
    for cid in range(1, data.draw(st.integers(1, 12)) + 1):
        row: dict[str, Any] = {"customer_id": cid}
        for f in d.factors:
            if f.source == "attribute":
                row[f.code] = data.draw(
                    st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d", "z"]))
                )
                continue
            # Values on the edges of bins and weights are where formulas go wrong.
            edges = [b.upper for b in f.bins or [] if b.upper is not None]
            if f.weight is not None:
                edges += [f.weight.lower, f.weight.upper]
            row[f.code] = data.draw(st.one_of(value, st.sampled_from(edges)) if edges else value)
        rows.append(row)
    schema = {"customer_id": pl.Int64} | {
        f.code: (pl.String if f.source == "attribute" else pl.Float64) for f in d.factors
    }
    frame = score_frame(d, pl.DataFrame(rows, schema=schema)).sort("customer_id")
    for row, out in zip(rows, frame.to_dicts(), strict=True):
        one = score_one(d, row)
        assert 0 <= one.score <= 1000
        assert out["score"] == one.score
        assert out["rating"] == one.rating and out["tier"] == one.tier
        band = next(b for b in d.ratings if b.code == one.rating)
        assert band.min <= one.score <= band.max
        assert out["reasons"] == one.reasons
        for f in d.factors:
            assert out[f"points_{f.code}"] == pytest.approx(one.points[f.code], abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(
    cuts=st.lists(st.integers(1, 1000), min_size=0, max_size=8, unique=True),
    shift=st.integers(-3, 3),
    which=st.integers(0, 8),
)
def test_bands_are_accepted_exactly_when_they_partition_the_range(
    cuts: list[int], shift: int, which: int
) -> None:
    starts = [0, *sorted(cuts)]
    ends = [s - 1 for s in starts[1:]] + [1000]
    bands = [Band(code=f"R{i}", min=s, max=e) for i, (s, e) in enumerate(zip(starts, ends))]
    assert [b.code for b in check_bands(list(reversed(bands)))] == [b.code for b in bands]
    # Move one band's start: unless that changes nothing, it opens a gap or an overlap.
    i = which % len(bands)
    moved = bands[i].min + shift
    if shift == 0 or not 0 <= moved <= bands[i].max:
        return
    broken = [*bands[:i], Band(code=bands[i].code, min=moved, max=bands[i].max), *bands[i + 1 :]]
    with pytest.raises(ValueError, match=r"no band|overlap"):
        check_bands(broken)


def test_reason_texts_say_shares_as_percentages() -> None:
    """A share in a reason reads as on the case page ("100%"), not as the fraction ("1");
    other numbers keep their value, categories their code."""
    from riskdesk.scoring.service import _explained

    overdue = {
        "code": "overdue",
        "source": "indicator",
        "name": "overdue_ratio",
        "weight": {"points": 100, "lower": 0, "upper": 1},
        "missing_points": 0,
    }
    dpd = definition()["factors"][0]
    d = Definition.model_validate(definition(base_points=500, factors=[dpd, overdue]))
    values = {"overdue": [1.0, 0.123, 0.14, None], "dpd": [45.0, 2.5, 0.0, None]}
    frame = pl.DataFrame(
        {
            **{f"value_{code}": v for code, v in values.items()},
            **{f"points_{code}": [0.0, 1.0, 2.0, 3.0] for code in values},
        }
    )
    shown = _explained(d, frame)
    assert shown["en_overdue"].to_list() == [
        "Overdue share of open receivables: 100% (0 of 100 points)",
        "Overdue share of open receivables: 12.3% (1 of 100 points)",
        "Overdue share of open receivables: 14% (2 of 100 points)",
        "Overdue share of open receivables: missing (3 of 100 points)",
    ]
    assert shown["zh_overdue"].to_list()[0] == "逾期应收占比：100%（得 0 分，满分 100）"
    assert [t.rsplit(" (", 1)[0].rsplit(": ", 1)[1] for t in shown["en_dpd"].to_list()] == [
        "45", "2.5", "0", "missing",
    ]  # fmt: skip
