"""The default rule pack evaluated by Riskdesk and, on the same inputs, by GoRules ZEN.

    PYTHONPATH=. .venv/bin/python bench/rules_zen_bench.py [--customers 100000] [--edge-rows 20000]
        [--naive-sample 10000]

Inputs: a synthetic Polars frame (numpy, seed 0) with every column the 15 rules of the default
pack read, one row per customer, with distributions and shares of missing values like those
``monitoring.service.rule_values`` gives on the demo population (2,000 customers, 24 months):
counts are whole numbers, shares are ratios of whole numbers (so values sit exactly on
thresholds such as 0.6), a ratio is missing where its denominator is 0, and so on. The score and
rating drops, missing on a demo without rescoring, are given to 40% of the customers.

Riskdesk: every rule compiled (``compile_rule``), then

- batch: one lazy Polars pass per rule over everyone (``fires_frame``, as
  ``monitoring_service.find_rule_hits`` runs them); also all 15 rules in a single ``select``,
  for comparison;
- one customer the way ``monitoring_service.find_rule_hits`` runs after an event: the Polars
  pass per rule on a one-row frame (500 customers timed);
- per customer: ``rules.fires`` of each of the 15 rules on the customer's row (a dict), timed
  per customer (mean, p99) and over everyone.

GoRules ZEN (``zen-engine``): the same 15 rules as one JDM decision, an input node, one
expression node with one boolean per rule (key = rule code) and an output node. Each rule is
translated from the DSL's AST, not by hand: the DSL has SQL's three-valued logic (a comparison
or arithmetic with a missing value is missing, ``and``/``or`` are Kleene, a rule fires only
when its value is true), while ZEN raises an error for a comparison, arithmetic, ``not`` or
``or`` with a null (and gives null for ``true and null``). So each rule becomes the ZEN
expression that is true exactly when the DSL's value is true: ``T(a and b) = T(a) and T(b)``,
``T(not a) = F(a)``, ``T(x > 30) = x != null and x > 30``, ``coalesce(x, 0)`` becomes
``x ?? 0``, and so on (``F`` likewise for false). ZEN is timed per customer
(``decision.evaluate(row)``, mean and p99, and over everyone), with ``evaluate_batch`` over
everyone, and, without the decision graph, as the 15 expressions compiled alone
(``zen.compile_expression``, each evaluated on the customer's row).

Agreement: for every customer and rule, Riskdesk's batch result, Riskdesk's per-customer result
and ZEN's must be the same. It is checked on the synthetic population and on an edge-case frame
(``--edge-rows``: every column drawn from missing, 0, each threshold of the pack and the floats
just below and above it); where ZEN and Riskdesk differ, the pairs reading a float that ZEN's
decimals round (not exact at 15 significant digits, or below 1e-28) are counted apart from any
other. The same check runs on a few rules written with what the pack does not use (``not``,
``in``, conditions compared or coalesced, ``abs``/``min``/``max``, division). Finally the rules
copied into ZEN as written (no null guards) are run on ``--naive-sample`` customers: how many
evaluations fail.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml
import zen

import riskdesk.monitoring
from riskdesk.monitoring.rules import (
    VOCABULARY,
    Binary,
    Call,
    In,
    Literal_,
    Name,
    Node,
    Rule,
    Unary,
    check,
    compile_rule,
    fires,
    fires_frame,
    to_polars,
)

PACK = Path(riskdesk.monitoring.__file__).parent / "default_rules.yaml"
# What the default pack does not use, to check the translation on the edge cases as well.
OTHER_CONSTRUCTS = {
    "not": "not (dpd_max <= 30)",
    "not_or": "not (dpd_max > 30 or utilisation >= 0.9)",
    "coalesce_of_conditions": "coalesce(dpd_max > 30, utilisation > 0.5, false)",
    "conditions_equal": "(dpd_max > 30) == (utilisation > 0.5)",
    "abs_min_max": "abs(score_drop) >= 50 or min(dpd_max, 40) > 35 or max(dpd_max, 1) < 2",
    "in_text": 'kind in ("company", "x") and not (kind in ("individual"))',
    "in_number": "dpd_max in (0, 30)",
    "division": "dbt_weighted_90d / coalesce(dbt_weighted_365d, 0) > 2",
    "negation": "-score_drop < -50",
    "coalesce_of_sums": "coalesce(dpd_max + 1, utilisation * 2) > 5",
    "literal": "true",
}


def load_pack() -> list[tuple[str, str]]:
    """(code, expression) of the default pack's rules."""
    return [(r["code"], r["expression"]) for r in yaml.safe_load(PACK.read_text("utf-8"))]


# ---------------------------------------------------------------- inputs


def synthetic_values(customers: int, seed: int = 0) -> pl.DataFrame:
    """What the rules read, for ``customers`` customers, like the demo population's values."""
    rng = np.random.default_rng(seed)
    n = customers

    def missing(share: float, values: np.ndarray) -> pl.Series:
        values = values.astype(float)
        return pl.Series(np.where(rng.random(n) < share, np.nan, values)).fill_nan(None)

    def ratio(num: np.ndarray, den: np.ndarray) -> pl.Series:
        with np.errstate(divide="ignore", invalid="ignore"):
            return pl.Series(np.where(den > 0, num / np.maximum(den, 1), np.nan)).fill_nan(None)

    def some(share: float, values: np.ndarray) -> np.ndarray:
        return np.where(rng.random(n) < share, values, 0.0)

    # Purchases: a customer's yearly count, and the later windows as draws from it.
    yearly = rng.negative_binomial(1.2, 1.2 / (1.2 + 16.0), n)
    busy = rng.random(n) < 0.04  # resellers: much more recently
    quarter = rng.binomial(yearly, np.where(busy, 0.6, 0.25))
    month = rng.binomial(quarter, np.where(busy, 0.6, 0.36))
    cod = rng.binomial(quarter, rng.choice([0.0, 0.1, 0.5, 0.8], n, p=[0.6, 0.2, 0.12, 0.08]))
    # Returns: counts, amount rates (a ratio of amounts, so never exactly a threshold).
    returns_year = rng.binomial(yearly, rng.choice([0.01, 0.05, 0.3], n, p=[0.7, 0.25, 0.05]))
    returns_quarter = rng.binomial(returns_year, 0.25)
    size = rng.lognormal(0.0, 0.6, n)
    no_reason = rng.binomial(returns_year, rng.choice([0.1, 0.6], n, p=[0.9, 0.1]))
    # Receivables: most customers current; ageing buckets in cents.
    aged = [np.round(some(share, rng.lognormal(9, 1.5, n)), 2) for share in (0.027, 0.034, 0.056)]
    invoices = rng.integers(1, 13, n)
    overdue = rng.binomial(invoices, rng.choice([0.0, 0.3, 1.0], n, p=[0.67, 0.18, 0.15]))
    complaints = rng.poisson(np.where(rng.random(n) < 0.03, 3.0, 0.2))
    weights = np.array(
        [rng.choice([1, 2, 3, 5], c).sum() if c else 0 for c in complaints], dtype=float
    )
    frame = pl.DataFrame(
        {
            "customer_id": np.arange(1, n + 1),
            "kind": rng.choice(["company", "individual"], n, p=[0.41, 0.59]),
            "orders_count_30d": month.astype(float),
            "orders_count_90d": quarter.astype(float),
            "orders_count_365d": yearly.astype(float),
            "order_frequency_trend": ratio(quarter, yearly * 90 / 365),
            "last_order_size_ratio": missing(0.026, np.round(rng.lognormal(0.0, 1.2, n), 6)),
            "cod_share_90d": ratio(cod, quarter),
            "dbt_weighted_90d": missing(0.23, some(0.37, np.round(rng.gamma(2.0, 6.0, n), 1))),
            "dbt_weighted_365d": missing(0.023, some(0.58, np.round(rng.gamma(1.5, 5.0, n), 1))),
            "dpd_max": some(0.15, np.ceil(rng.exponential(40, n))),
            "ar_61_90": aged[0],
            "ar_91_120": aged[1],
            "ar_over_120": aged[2],
            "overdue_ratio": missing(0.55, overdue / invoices),
            "utilisation": some(0.45, np.round(rng.lognormal(-0.4, 0.8, n), 2)),
            "score_drop": missing(0.6, np.round(rng.normal(10, 60, n))),
            "rating_notches_down": missing(
                0.6, rng.choice([-2, -1, 0, 1, 2, 3], n, p=[0.05, 0.1, 0.6, 0.15, 0.07, 0.03])
            ),
            "bureau_score_drop": missing(0.49, np.round(rng.normal(18, 50, n))),
            "returns_count_90d": returns_quarter.astype(float),
            "returns_count_365d": returns_year.astype(float),
            "return_rate_90d": ratio(returns_quarter * size, quarter),
            "return_rate_365d": ratio(returns_year * size, yearly),
            "return_reason_share_no_reason_365d": ratio(no_reason, returns_year),
            "complaints_count_90d": complaints.astype(float),
            "complaints_weighted_90d": weights,
            "satisfaction_trend": missing(0.47, np.round(rng.standard_t(3, n) * 3, 4)),
            "csat_latest": missing(
                0.47, rng.choice([1, 2, 3, 4, 5], n, p=[0.05, 0.08, 0.17, 0.4, 0.3])
            ),
            "interaction_trend": missing(0.067, some(0.7, rng.gamma(2.0, 0.6, n))),
            "days_since_last_order": pl.Series(
                np.where(yearly > 0, np.floor(rng.exponential(46, n)), np.nan)
            ).fill_nan(None),
            "expected_purchase_interval_days": ratio(np.full(n, 365.0), yearly.astype(float)),
        }
    )
    return frame


def thresholds(rules: list[Rule]) -> list[float]:
    """Every number the pack compares with or adds."""
    found: set[float] = set()

    def walk(node: Node) -> None:
        if isinstance(node, Literal_) and isinstance(node.value, float):
            found.add(node.value)
        for child in _children(node):
            walk(child)

    for rule in rules:
        walk(rule.ast)
    return sorted(found)


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, In):
        return (node.operand,)
    if isinstance(node, Call):
        return node.args
    return ()


def edge_values(columns: dict[str, str], rules: list[Rule], rows: int) -> pl.DataFrame:
    """Every column drawn from: missing, 0, each threshold and the floats either side of it."""
    rng = np.random.default_rng(1)
    pool = [0.0]
    for t in thresholds(rules):
        pool += [t, float(np.nextafter(t, -math.inf)), float(np.nextafter(t, math.inf))]
        pool += [t + 5, t * 2]  # the pack adds 5 and doubles
    pool_values = np.array(sorted(set(pool)))
    data: dict[str, Any] = {"customer_id": np.arange(1, rows + 1)}
    for name, kind in columns.items():
        absent = rng.random(rows) < 0.25
        if kind == "text":
            kinds = rng.choice(["company", "individual"], rows)
            data[name] = pl.Series(
                [None if a else str(k) for a, k in zip(absent, kinds, strict=True)],
                dtype=pl.String,
            )
        else:
            values = rng.choice(pool_values, rows)
            data[name] = pl.Series(np.where(absent, np.nan, values)).fill_nan(None)
    return pl.DataFrame(data)


# ---------------------------------------------------------------- DSL -> ZEN


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _literal(value: float | str | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return _number(value)


def _all(conditions: list[str | None]) -> str | None:
    """The conjunction of the conditions that are not always true (None)."""
    kept = [c for c in conditions if c is not None]
    return " and ".join(kept) if kept else None


def zen_value(node: Node) -> tuple[str, str | None]:
    """A number or text node as (ZEN expression, the condition under which it is not missing;
    None when it never is)."""
    if isinstance(node, Literal_):
        return _literal(node.value), None
    if check(node) == "bool":  # a condition used as a value, e.g. (a > 1) == (b > 2)
        yes, no = _truth(node, want=True), _truth(node, want=False)
        return f"({yes} ? true : false)", f"({yes} or {no})"
    if isinstance(node, Name):
        return node.name, f"{node.name} != null"
    if isinstance(node, Unary):
        inner, defined = zen_value(node.operand)
        return f"(-{inner})", defined
    if isinstance(node, Call):
        args = [zen_value(a) for a in node.args]
        if node.function == "coalesce":
            if all(isinstance(a, Name | Literal_) for a in node.args):
                expression = "(" + " ?? ".join(e for e, _ in args) + ")"
            else:
                expression = "null"
                for e, d in reversed(args):
                    expression = e if d is None else f"({d} ? {e} : {expression})"
            if any(d is None for _, d in args):
                return expression, None
            return expression, "(" + " or ".join(f"({d})" for _, d in args) + ")"
        defined = _all([d for _, d in args])
        if node.function == "abs":
            return f"abs({args[0][0]})", defined
        return f"{node.function}([{', '.join(e for e, _ in args)}])", defined
    assert isinstance(node, Binary) and node.op in ("+", "-", "*", "/")
    (left, dl), (right, dr) = zen_value(node.left), zen_value(node.right)
    defined = _all([dl, dr])
    if node.op == "/":  # the DSL: division by zero is missing (ZEN agrees: null)
        defined = _all([dl, dr, f"{right} != 0"])
    return f"({left} {node.op} {right})", defined


def zen_true(node: Node) -> str:
    """A ZEN condition that holds exactly when the DSL's value of ``node`` is true."""
    return _truth(node, want=True)


def _truth(node: Node, *, want: bool) -> str:
    if isinstance(node, Literal_):
        return "true" if node.value is want else "false"
    if isinstance(node, Unary):  # not
        return _truth(node.operand, want=not want)
    if isinstance(node, In):
        value, defined = zen_value(node.operand)
        test = f"{value} in [{', '.join(_literal(o) for o in node.options)}]"
        test = test if want else f"not ({test})"
        return f"({defined} and {test})" if defined else f"({test})"
    if isinstance(node, Call):  # coalesce of conditions: the first that is not missing
        first, *rest = node.args
        if not rest:
            return _truth(first, want=want)
        undecided = f"not {_truth(first, want=True)} and not {_truth(first, want=False)}"
        tail = Call(node.position, "coalesce", tuple(rest)) if len(rest) > 1 else rest[0]
        return f"({_truth(first, want=want)} or ({undecided} and {_truth(tail, want=want)}))"
    if isinstance(node, Name):
        raise NotImplementedError("no name in the vocabulary is a condition")
    assert isinstance(node, Binary)
    if node.op in ("and", "or"):
        left, right = _truth(node.left, want=want), _truth(node.right, want=want)
        # Kleene: true and true is true, either false makes false (and the dual for or).
        joiner = "and" if (node.op == "and") == want else "or"
        return f"({left} {joiner} {right})"
    (left, dl), (right, dr) = zen_value(node.left), zen_value(node.right)
    test = f"{left} {node.op} {right}"
    test = test if want else f"not ({test})"
    defined = _all([dl, dr])
    return f"({defined} and {test})" if defined else f"({test})"


def zen_naive(node: Node) -> str:
    """The rule copied into ZEN as written: no null guards."""
    if isinstance(node, Literal_):
        return _literal(node.value)
    if isinstance(node, Name):
        return node.name
    if isinstance(node, Unary):
        return (
            f"(not {zen_naive(node.operand)})"
            if node.op == "not"
            else f"(-{zen_naive(node.operand)})"
        )
    if isinstance(node, In):
        return f"({zen_naive(node.operand)} in [{', '.join(_literal(o) for o in node.options)}])"
    if isinstance(node, Call):
        args = [zen_naive(a) for a in node.args]
        if node.function == "coalesce":
            return "(" + " ?? ".join(args) + ")"
        if node.function == "abs":
            return f"abs({args[0]})"
        return f"{node.function}([{', '.join(args)}])"
    assert isinstance(node, Binary)
    return f"({zen_naive(node.left)} {node.op} {zen_naive(node.right)})"


def jdm(expressions: dict[str, str]) -> str:
    """One decision: input -> one expression node (a boolean per rule) -> output."""
    graph = {
        "nodes": [
            {
                "id": "request",
                "type": "inputNode",
                "name": "customer",
                "position": {"x": 0, "y": 0},
                "content": {"schema": ""},
            },
            {
                "id": "rules",
                "type": "expressionNode",
                "name": "default pack",
                "position": {"x": 300, "y": 0},
                "content": {
                    "expressions": [
                        {"id": f"e{i}", "key": code, "value": value}
                        for i, (code, value) in enumerate(expressions.items())
                    ]
                },
            },
            {
                "id": "response",
                "type": "outputNode",
                "name": "fires",
                "position": {"x": 600, "y": 0},
                "content": {"schema": ""},
            },
        ],
        "edges": [
            {"id": "a", "sourceId": "request", "targetId": "rules", "type": "edge"},
            {"id": "b", "sourceId": "rules", "targetId": "response", "type": "edge"},
        ],
    }
    return json.dumps(graph)


# ---------------------------------------------------------------- running


def _per_call(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    p99 = ordered[max(math.ceil(0.99 * len(ordered)) - 1, 0)]
    return {
        "mean_us": round(sum(ordered) / len(ordered) * 1e6, 1),
        "p99_us": round(p99 * 1e6, 1),
        "max_us": round(ordered[-1] * 1e6, 1),
    }


def riskdesk_batch(rules: dict[str, Rule], frame: pl.DataFrame) -> tuple[pl.DataFrame, float]:
    """Every rule's result over everyone, one Polars pass per rule (as rules are found)."""
    started = time.perf_counter()
    out = {code: fires_frame(rule=rule, frame=frame) for code, rule in rules.items()}
    seconds = time.perf_counter() - started
    return pl.DataFrame(out), seconds


def riskdesk_batch_one_row(rules: dict[str, Rule], frame: pl.DataFrame, times: int) -> list[float]:
    """The Polars path on a one-row frame, as rules are found after one event."""
    seconds = []
    for i in range(times):
        one = frame.slice(i, 1)
        started = time.perf_counter()
        for rule in rules.values():
            fires_frame(rule=rule, frame=one)
        seconds.append(time.perf_counter() - started)
    return seconds


def riskdesk_one_select(rules: dict[str, Rule], frame: pl.DataFrame) -> float:
    """The same in a single select over everyone (not how rules are found)."""
    started = time.perf_counter()
    frame.lazy().select(
        [to_polars(rule.ast).fill_null(False).alias(code) for code, rule in rules.items()]
    ).collect()
    return time.perf_counter() - started


def riskdesk_rows(
    rules: dict[str, Rule], rows: list[dict[str, Any]]
) -> tuple[list[list[bool]], list[float]]:
    """Every rule for one customer at a time, in plain Python."""
    pack = list(rules.values())
    results, seconds = [], []
    clock = time.perf_counter
    for row in rows:
        started = clock()
        fired = [fires(rule, row) for rule in pack]
        seconds.append(clock() - started)
        results.append(fired)
    return results, seconds


def zen_rows(
    decision: Any, codes: list[str], rows: list[dict[str, Any]]
) -> tuple[list[list[bool]], list[float]]:
    """The decision for one customer at a time."""
    results, seconds = [], []
    clock = time.perf_counter
    for row in rows:
        started = clock()
        result = decision.evaluate(row)["result"]
        seconds.append(clock() - started)
        results.append([result.get(c) is True for c in codes])
    return results, seconds


def zen_expression_rows(
    expressions: dict[str, str], rows: list[dict[str, Any]]
) -> tuple[list[list[bool]], list[float]]:
    """The same 15 expressions compiled alone (``zen.compile_expression``), no decision graph."""
    compiled = [zen.compile_expression(e) for e in expressions.values()]
    results, seconds = [], []
    clock = time.perf_counter
    for row in rows:
        started = clock()
        fired = [e.evaluate(row) is True for e in compiled]
        seconds.append(clock() - started)
        results.append(fired)
    return results, seconds


def zen_batch(content: str, codes: list[str], rows: list[dict[str, Any]]) -> tuple[int, float]:
    """ZenEngine.evaluate_batch over everyone; how many failed, and the seconds."""
    engine = zen.ZenEngine({"loader": lambda _key: content})
    engine.evaluate("pack", rows[0])  # load and compile once, outside the timing
    started = time.perf_counter()
    answers = engine.evaluate_batch([{"key": "pack", "context": row} for row in rows])
    seconds = time.perf_counter() - started
    return sum(1 for a in answers if not a.get("success")), seconds


def disagreements(
    codes: list[str], a: list[list[bool]] | pl.DataFrame, b: list[list[bool]]
) -> dict[str, int]:
    """Customers whose result differs, per rule."""
    left = a.select(codes).rows() if isinstance(a, pl.DataFrame) else a
    out: dict[str, int] = {}
    for x, y in zip(left, b, strict=True):
        for code, u, v in zip(codes, x, y, strict=True):
            if u != v:
                out[code] = out.get(code, 0) + 1
    return out


def _rounded_by_zen(value: Any) -> bool:
    """Is this a float that ZEN's decimals round: not exact at 15 significant digits, or
    smaller than 1e-28 (it becomes 0)?"""
    return isinstance(value, float) and (float(f"{value:.15g}") != value or 0 < abs(value) < 1e-28)


def explain_differences(
    codes: list[str],
    rows: list[dict[str, Any]],
    ours: pl.DataFrame,
    theirs: list[list[bool]],
    rules: dict[str, Rule],
    limit: int = 5,
) -> dict[str, Any]:
    """Differing (customer, rule) pairs: how many read an input ZEN rounds, and a few examples."""
    examples = []
    rounded = other = 0
    for row, x, y in zip(rows, ours.select(codes).rows(), theirs, strict=True):
        for code, u, v in zip(codes, x, y, strict=True):
            if u == v:
                continue
            reads = {n: row[n] for n in sorted(rules[code].reads)}
            if any(_rounded_by_zen(value) for value in reads.values()):
                rounded += 1
            else:
                other += 1
            if len(examples) < limit:
                examples.append({"rule": code, "riskdesk": u, "zen": v, "inputs": reads})
    return {"input_rounded_by_zen": rounded, "other": other, "examples": examples}


def compare(
    label: str,
    frame: pl.DataFrame,
    rules: dict[str, Rule],
    decision: Any,
    expressions: dict[str, str],
    *,
    timed: bool,
) -> dict[str, Any]:
    """Both engines on one frame: times and agreement."""
    codes = list(rules)
    started = time.perf_counter()
    rows = frame.to_dicts()
    to_dicts_s = time.perf_counter() - started
    batch, batch_s = riskdesk_batch(rules, frame)
    one_select_s = riskdesk_one_select(rules, frame)
    one_row_s = riskdesk_batch_one_row(rules, frame, min(frame.height, 500))
    python, python_s = riskdesk_rows(rules, rows)
    ours_zen, zen_s = zen_rows(decision, codes, rows)
    bare_zen, bare_s = zen_expression_rows(expressions, rows)
    out: dict[str, Any] = {
        "inputs": label,
        "customers": frame.height,
        "columns_read": frame.width - 1,
        "missing_share": round(
            sum(frame[c].null_count() for c in frame.columns[1:])
            / (frame.height * (frame.width - 1)),
            3,
        ),
        "fires_per_rule": {c: int(batch[c].sum()) for c in codes},
    }
    if timed:
        zen_failed, zen_batch_s = zen_batch(jdm(expressions), codes, rows)
        out.update(
            {
                "riskdesk_batch_s": round(batch_s, 3),
                "riskdesk_single_select_s": round(one_select_s, 3),
                "riskdesk_polars_one_customer": _per_call(one_row_s),
                "riskdesk_per_customer": _per_call(python_s),
                "riskdesk_per_customer_loop_s": round(sum(python_s), 2),
                "zen_per_customer": _per_call(zen_s),
                "zen_per_customer_loop_s": round(sum(zen_s), 2),
                "zen_evaluate_batch_s": round(zen_batch_s, 2),
                "zen_expressions_per_customer": _per_call(bare_s),
                "zen_expressions_per_customer_loop_s": round(sum(bare_s), 2),
                "zen_evaluate_batch_failed": zen_failed,
                "frame_to_dicts_s": round(to_dicts_s, 2),
                "zen_loop_over_riskdesk_batch": round(sum(zen_s) / batch_s, 1),
                "zen_batch_over_riskdesk_batch": round(zen_batch_s / batch_s, 1),
                "zen_over_riskdesk_per_customer": round(sum(zen_s) / sum(python_s), 2),
            }
        )
    out["disagreements"] = {
        "riskdesk_batch_vs_zen": disagreements(codes, batch, ours_zen),
        "riskdesk_batch_vs_zen_expressions": disagreements(codes, batch, bare_zen),
        "riskdesk_batch_vs_riskdesk_per_customer": disagreements(codes, batch, python),
    }
    out["zen_differences"] = explain_differences(codes, rows, batch, ours_zen, rules)
    return out


def naive_failures(pack: list[tuple[str, str]], frame: pl.DataFrame, sample: int) -> dict[str, Any]:
    """The rules copied into ZEN without null guards: how many customers' evaluations fail."""
    rules = {code: compile_rule(text) for code, text in pack}
    decision = zen.ZenEngine().create_decision(
        jdm({code: zen_naive(rule.ast) for code, rule in rules.items()})
    )
    rows = frame.head(sample).to_dicts()
    failed = 0
    message = ""
    for row in rows:
        try:
            decision.evaluate(row)
        except Exception as exc:  # ZEN raises for a null in a comparison
            failed += 1
            message = message or str(exc).split("\n", 1)[0][:200]
    per_rule = {}
    for code, rule in rules.items():
        one = zen.ZenEngine().create_decision(jdm({code: zen_naive(rule.ast)}))
        bad = 0
        for row in rows:
            try:
                one.evaluate(row)
            except Exception:
                bad += 1
        per_rule[code] = bad
    return {
        "customers": len(rows),
        "failed_whole_decision": failed,
        "failed_per_rule_alone": per_rule,
        "error": message,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--edge-rows", type=int, default=20_000)
    parser.add_argument("--naive-sample", type=int, default=10_000)
    args = parser.parse_args()
    pack = load_pack()
    started = time.perf_counter()
    rules = {code: compile_rule(text) for code, text in pack}
    compile_ms = (time.perf_counter() - started) * 1000
    expressions = {code: zen_true(rule.ast) for code, rule in rules.items()}
    content = jdm(expressions)
    started = time.perf_counter()
    decision = zen.ZenEngine().create_decision(content)
    zen_compile_ms = (time.perf_counter() - started) * 1000
    print(json.dumps({"zen_expressions": expressions}, ensure_ascii=False, indent=1), flush=True)
    frame = synthetic_values(args.customers)
    reads = sorted(set().union(*(r.reads for r in rules.values())))
    assert set(frame.columns) == {"customer_id", *reads}, set(frame.columns) ^ set(reads)
    results = {
        "rules": len(rules),
        "riskdesk_compile_pack_ms": round(compile_ms, 2),
        "zen_create_decision_ms": round(zen_compile_ms, 2),
    }
    main_run = compare("synthetic", frame, rules, decision, expressions, timed=True)
    print(json.dumps(main_run), flush=True)
    columns = {n: VOCABULARY[n] for n in reads}
    edges = compare(
        "edge cases",
        edge_values(columns, list(rules.values()), args.edge_rows),
        rules,
        decision,
        expressions,
        timed=False,
    )
    print(json.dumps(edges), flush=True)
    others = {code: compile_rule(text) for code, text in OTHER_CONSTRUCTS.items()}
    other_expressions = {code: zen_true(rule.ast) for code, rule in others.items()}
    other_reads = sorted(set().union(*(r.reads for r in others.values())))
    constructs = compare(
        "edge cases, other constructs",
        edge_values({n: VOCABULARY[n] for n in other_reads}, list(others.values()), args.edge_rows),
        others,
        zen.ZenEngine().create_decision(jdm(other_expressions)),
        other_expressions,
        timed=False,
    )
    print(json.dumps(constructs), flush=True)
    naive = naive_failures(pack, frame, args.naive_sample)
    print(json.dumps({"naive_translation": naive}), flush=True)
    results.update(
        synthetic=main_run,
        edge_cases=edges,
        other_constructs=constructs,
        naive_translation=naive,
    )
    print(json.dumps(results))
    r = main_run
    print(
        "\n".join(
            [
                f"customers {r['customers']}, {len(rules)} rules, {r['columns_read']} columns "
                f"({r['missing_share']:.0%} missing)",
                f"riskdesk batch (a Polars pass per rule)   {r['riskdesk_batch_s']:>8} s",
                f"riskdesk batch (one select, 15 rules)     {r['riskdesk_single_select_s']:>8} s",
                f"riskdesk one customer, a Polars pass per rule (as after an event): mean "
                f"{r['riskdesk_polars_one_customer']['mean_us']} us"
                f"  p99 {r['riskdesk_polars_one_customer']['p99_us']} us",
                f"riskdesk per customer (Python)            {r['riskdesk_per_customer_loop_s']:>8}"
                f" s   mean {r['riskdesk_per_customer']['mean_us']} us"
                f"  p99 {r['riskdesk_per_customer']['p99_us']} us",
                f"ZEN decision.evaluate per customer        {r['zen_per_customer_loop_s']:>8} s"
                f"   mean {r['zen_per_customer']['mean_us']} us"
                f"  p99 {r['zen_per_customer']['p99_us']} us",
                f"ZEN evaluate_batch                        {r['zen_evaluate_batch_s']:>8} s",
                f"ZEN 15 compiled expressions per customer  "
                f"{r['zen_expressions_per_customer_loop_s']:>8} s"
                f"   mean {r['zen_expressions_per_customer']['mean_us']} us"
                f"  p99 {r['zen_expressions_per_customer']['p99_us']} us",
                f"ZEN loop / riskdesk batch {r['zen_loop_over_riskdesk_batch']}x;"
                f" ZEN per customer / riskdesk per customer "
                f"{r['zen_over_riskdesk_per_customer']}x",
                f"disagreements ZEN vs riskdesk: synthetic "
                f"{sum(r['disagreements']['riskdesk_batch_vs_zen'].values())}, edge cases "
                f"{sum(edges['disagreements']['riskdesk_batch_vs_zen'].values())}"
                f" of {edges['customers'] * len(rules)}"
                f" ({edges['zen_differences']['other']} not from rounding); other constructs "
                f"{sum(constructs['disagreements']['riskdesk_batch_vs_zen'].values())}"
                f" ({constructs['zen_differences']['other']} not from rounding)",
            ]
        )
    )


if __name__ == "__main__":
    main()
