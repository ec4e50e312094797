"""The rule language: parsing, errors with their column, types, three-valued logic, and the
property that evaluating one customer in Python equals the Polars expression over everyone."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskdesk.monitoring.rules import (
    RuleError,
    compile_rule,
    evaluate,
    fires,
    fires_frame,
)


def test_rules_read_like_their_text() -> None:
    rule = compile_rule("return_rate_90d > 0.4 and returns_count_90d >= 5")
    assert rule.reads == {"return_rate_90d", "returns_count_90d"}
    assert fires(rule, {"return_rate_90d": 0.5, "returns_count_90d": 5})
    assert not fires(rule, {"return_rate_90d": 0.5, "returns_count_90d": 4})
    both = compile_rule('segment in ("b2b_sme", "consumer") and not (dpd_max <= 30)')
    assert fires(both, {"segment": "consumer", "dpd_max": 31})
    assert not fires(both, {"segment": "b2b_enterprise", "dpd_max": 90})
    arithmetic = compile_rule("orders_amount_30d > 3 * coalesce(avg_order_value_365d, 0) + 1")
    assert fires(arithmetic, {"orders_amount_30d": 32.0, "avg_order_value_365d": 10.0})
    assert fires(arithmetic, {"orders_amount_30d": 2.0, "avg_order_value_365d": None})
    assert compile_rule("-dpd_max < -2 * 3 - 1").ast is not None
    assert fires(compile_rule("abs(score - 500) >= max(100, credit_limit / 1000)"), {
        "score": 380, "credit_limit": 50_000
    })  # fmt: skip


def test_missing_values_never_fire_and_follow_kleene_logic() -> None:
    rule = compile_rule("dpd_max > 30 or overdue_ratio > 0.5")
    assert fires(rule, {"dpd_max": None, "overdue_ratio": 0.9})
    assert not fires(rule, {"dpd_max": None, "overdue_ratio": 0.1})
    assert evaluate(rule.ast, {"dpd_max": None, "overdue_ratio": 0.1}) is None
    assert not fires(compile_rule("not (dpd_max > 30)"), {"dpd_max": float("nan")})
    assert evaluate(compile_rule("dpd_max / overdue_ratio > 1").ast, {
        "dpd_max": 5, "overdue_ratio": 0
    }) is None  # fmt: skip


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("retrun_rate_90d > 0.4", "unknown name 'retrun_rate_90d'", 1),
        ("dpd_max > 30 and segment", "'and' joins conditions, not a bool and a text", 14),
        ('segment > "a"', "'>' orders numbers, not a text", 9),
        ('dpd_max == "x"', "'==' compares a number with a text", 9),
        ("dpd_max + 1", "a rule must be a condition", 1),
        ("dpd_max > ", "expected a value, found 'the end'", 11),
        ("dpd_max > 30 )", "unexpected ')'", 14),
        ("dpd_max $ 3", "unexpected character '$'", 9),
        ("log(dpd_max) > 1", "unknown function 'log'", 1),
        ("abs(dpd_max, 2) > 1", "abs takes 1 arguments, got 2", 1),
        ('kind in ("a", 1)', "'in' compares a text with a number", 6),
        ("__import__('os') == 1", "unknown function '__import__'", 1),
        ("not 3", "'not' needs a bool, not a number", 1),
        ("(" * 40 + "dpd_max > 1" + ")" * 40, "brackets nest more than 32 deep", 33),
        (" + ".join(["1"] * 200) + " > 1", "a rule is at most 256 words", 513),
    ],
)
def test_errors_name_the_problem_and_its_column(text: str, message: str, column: int) -> None:
    with pytest.raises(RuleError) as exc:
        compile_rule(text)
    assert message in exc.value.message
    assert exc.value.position == column


# ---------------------------------------------------------------- property

NUMBERS = ["dpd_max", "paydex", "overdue_ratio"]
TEXTS = ["segment", "kind"]


def numeric() -> st.SearchStrategy[str]:
    leaf = st.one_of(
        st.sampled_from(NUMBERS),
        st.integers(-5, 100).map(str),
        st.sampled_from(["0.5", "0", "2.25"]),
    )
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from(["+", "-", "*", "/"]), inner).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"
            ),
            inner.map(lambda x: f"-{x}"),
            inner.map(lambda x: f"abs({x})"),
            st.tuples(st.sampled_from(["min", "max", "coalesce"]), inner, inner).map(
                lambda t: f"{t[0]}({t[1]}, {t[2]})"
            ),
        ),
        max_leaves=6,
    )


def condition() -> st.SearchStrategy[str]:
    compare = st.tuples(numeric(), st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), numeric())
    text_test = st.one_of(
        st.tuples(st.sampled_from(TEXTS), st.sampled_from(["==", "!="]), st.sampled_from(
            ['"a"', '"b"', "'company'"]
        )).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
        st.sampled_from(TEXTS).map(lambda n: f'{n} in ("a", "company")'),
    )  # fmt: skip
    leaf = st.one_of(
        compare.map(lambda t: f"{t[0]} {t[1]} {t[2]}"), text_test, st.sampled_from(["true"])
    )
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"
            ),
            inner.map(lambda x: f"not ({x})"),
        ),
        max_leaves=5,
    )


number_value = st.one_of(
    st.none(), st.just(float("nan")), st.integers(-3, 100).map(float), st.sampled_from([0.0, 0.5])
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=condition(), data=st.data())
def test_one_customer_equals_everyone(text: str, data: st.DataObject) -> None:
    rule = compile_rule(text)
    rows: list[dict[str, Any]] = []
    for _ in range(data.draw(st.integers(1, 8))):
        row: dict[str, Any] = {n: data.draw(number_value) for n in NUMBERS}
        row |= {
            n: data.draw(st.one_of(st.none(), st.sampled_from(["a", "b", "company"])))
            for n in TEXTS
        }
        rows.append(row)
    frame = pl.DataFrame(
        rows, schema={**{n: pl.Float64 for n in NUMBERS}, **{n: pl.String for n in TEXTS}}
    )
    vectorised = fires_frame(rule, frame).to_list()
    one_by_one = [fires(rule, row) for row in rows]
    assert vectorised == one_by_one, (text, rows)
