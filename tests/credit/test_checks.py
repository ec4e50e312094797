"""The credit-check steps as pure logic."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest

from riskdesk.credit.checks import Position, Rule, evaluate

TODAY = dt.date(2026, 6, 30)
RULES = [
    Rule("blocked", "reject"),
    Rule("prepayment", "hold", {"tiers": ["critical"]}),
    Rule("limit", "hold", {"tolerance_pct": 5}),
    Rule("max_order_value", "hold", {"max_amount": 50000}),
    Rule("oldest_overdue", "hold", {"max_days": 30}),
    Rule("overdue_ratio", "warn", {"max_ratio": 0.3}),
    Rule("group_limit", "hold", {"tolerance_pct": 0}),
]
BASE = Position(
    amount=Decimal("1000"),
    currency="CNY",
    payment_method="credit",
    today=TODAY,
    credit_limit=Decimal("10000"),
    limit_currency="CNY",
    limit_valid_from=None,
    limit_valid_to=None,
    exposure=Decimal("5000"),
    blocked=False,
    blocked_reason=None,
    prepayment_required=False,
    risk_tier="low",
    oldest_overdue_days=0,
    overdue_amount=Decimal("0"),
    open_amount=Decimal("5000"),
)


def run(**changes: object) -> tuple[str, dict[str, str]]:
    outcome, steps = evaluate(RULES, dataclasses.replace(BASE, **changes))
    return outcome, {s.code: s.result for s in steps}


def test_within_limit_is_approved() -> None:
    outcome, steps = run()
    assert outcome == "approve" and set(steps.values()) == {"pass"}


@pytest.mark.parametrize(
    ("changes", "outcome", "step"),
    [
        ({"blocked": True, "blocked_reason": "fraud"}, "reject", "blocked"),
        ({"prepayment_required": True}, "hold", "prepayment"),
        ({"risk_tier": "critical"}, "hold", "prepayment"),
        ({"amount": Decimal("5600")}, "hold", "limit"),
        ({"currency": "USD"}, "hold", "limit"),
        ({"limit_valid_to": TODAY - dt.timedelta(days=1)}, "hold", "limit"),
        (
            {"amount": Decimal("60000"), "credit_limit": Decimal("1000000")},
            "hold",
            "max_order_value",
        ),
        ({"oldest_overdue_days": 31}, "hold", "oldest_overdue"),
        ({"overdue_amount": Decimal("2000")}, "approve", "overdue_ratio"),
        (
            {
                "group_code": "G",
                "group_limit": Decimal("20000"),
                "group_exposure": Decimal("19500"),
            },
            "hold",
            "group_limit",
        ),
    ],
)
def test_each_step_reacts(changes: dict[str, object], outcome: str, step: str) -> None:
    got, steps = run(**changes)
    assert got == outcome
    assert steps[step] != "pass"


def test_tolerance_is_inclusive() -> None:
    assert run(amount=Decimal("5500"))[0] == "approve"  # 10,500 = limit + 5%
    assert run(amount=Decimal("5500.01"))[0] == "hold"


def test_reject_beats_hold_and_messages_are_bilingual() -> None:
    outcome, steps = evaluate(
        RULES,
        dataclasses.replace(BASE, blocked=True, blocked_reason="fraud", amount=Decimal("99999")),
    )
    assert outcome == "reject"
    failed = [s for s in steps if s.result != "pass"]
    assert all(s.en and s.zh for s in failed)
    assert any("冻结" in s.zh for s in failed)


def test_prepaid_orders_only_face_the_block() -> None:
    assert run(payment_method="prepaid", amount=Decimal("999999"))[0] == "approve"
    assert run(payment_method="prepaid", blocked=True)[0] == "reject"


def test_disabled_steps_do_not_run() -> None:
    rules = [dataclasses.replace(r, enabled=r.code != "limit") for r in RULES]
    outcome, steps = evaluate(
        rules, dataclasses.replace(BASE, amount=Decimal("90000"), credit_limit=Decimal("1"))
    )
    assert "limit" not in {s.code for s in steps}
    assert outcome == "hold"  # max order value still applies


def test_days_past_due_read_as_english_words() -> None:
    one_rule = [Rule("oldest_overdue", "hold", {"max_days": 0})]
    _, [step] = evaluate(one_rule, dataclasses.replace(BASE, oldest_overdue_days=1))
    assert step.en == "an invoice is 1 day past due (allowed 0 days)", step.en
    _, [step] = evaluate(one_rule, dataclasses.replace(BASE, oldest_overdue_days=31))
    assert step.en == "an invoice is 31 days past due (allowed 0 days)", step.en
