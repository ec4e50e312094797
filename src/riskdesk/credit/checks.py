"""The order credit check as pure logic: the steps, their reactions and the outcome.

Each step looks at the order and the customer's position and passes, or reacts with warn,
hold or reject as configured. The outcome is the strongest reaction: reject > hold > approve.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

REACTIONS = ("warn", "hold", "reject")
STRENGTH = {"pass": 0, "warn": 1, "hold": 2, "reject": 3}
OUTCOME_OF = {0: "approve", 1: "approve", 2: "hold", 3: "reject"}
CHECK_CODES = (
    "blocked",
    "prepayment",
    "limit",
    "max_order_value",
    "oldest_overdue",
    "overdue_ratio",
    "group_limit",
)
NON_CREDIT_METHODS = frozenset({"prepaid", "card"})


@dataclass(frozen=True)
class Position:
    """Everything a check looks at, as seen at the moment of the check."""

    amount: Decimal
    currency: str
    payment_method: str
    today: dt.date
    credit_limit: Decimal
    limit_currency: str
    limit_valid_from: dt.date | None
    limit_valid_to: dt.date | None
    exposure: Decimal  # counted categories only
    blocked: bool
    blocked_reason: str | None
    prepayment_required: bool
    risk_tier: str | None
    oldest_overdue_days: int
    overdue_amount: Decimal
    open_amount: Decimal
    group_code: str | None = None
    group_limit: Decimal | None = None
    group_exposure: Decimal = Decimal("0")

    @property
    def limit_in_force(self) -> Decimal:
        """The limit, or zero outside its validity dates."""
        if self.limit_valid_from and self.today < self.limit_valid_from:
            return Decimal("0")
        if self.limit_valid_to and self.today > self.limit_valid_to:
            return Decimal("0")
        return self.credit_limit

    @property
    def available(self) -> Decimal:
        """Credit still available before this order."""
        return self.limit_in_force - self.exposure

    def as_dict(self) -> dict[str, Any]:
        """The inputs, as recorded with the decision."""
        return {
            "amount": f"{self.amount:.2f}",
            "currency": self.currency,
            "payment_method": self.payment_method,
            "date": self.today.isoformat(),
            "credit_limit": f"{self.credit_limit:.2f}",
            "limit_in_force": f"{self.limit_in_force:.2f}",
            "limit_currency": self.limit_currency,
            "exposure": f"{self.exposure:.2f}",
            "available": f"{self.available:.2f}",
            "blocked": self.blocked,
            "prepayment_required": self.prepayment_required,
            "risk_tier": self.risk_tier,
            "oldest_overdue_days": self.oldest_overdue_days,
            "overdue_amount": f"{self.overdue_amount:.2f}",
            "open_amount": f"{self.open_amount:.2f}",
            "group": self.group_code,
            "group_limit": f"{self.group_limit:.2f}" if self.group_limit is not None else None,
            "group_exposure": f"{self.group_exposure:.2f}",
        }


@dataclass(frozen=True)
class Rule:
    """One configured step."""

    code: str
    reaction: str
    params: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True


@dataclass(frozen=True)
class StepResult:
    """What one step found."""

    code: str
    result: str  # pass | warn | hold | reject
    en: str
    zh: str

    def as_dict(self) -> dict[str, str]:
        """JSON form."""
        return {"code": self.code, "result": self.result, "en": self.en, "zh": self.zh}


def _days(n: int) -> str:
    """A number of days in English words ("1 day", "30 days")."""
    return f"{n} day" if n == 1 else f"{n} days"


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _step(rule: Rule, p: Position) -> tuple[bool, str, str]:
    """(failed, English reason, Chinese reason) of one step."""
    code, params = rule.code, rule.params
    if code == "blocked":
        reason = p.blocked_reason or "-"
        return (p.blocked, f"the customer is blocked ({reason})", f"客户已冻结（{reason}）")
    if code == "prepayment":
        tiers = set(params.get("tiers", []))
        needed = p.prepayment_required or (p.risk_tier in tiers)
        failed = needed and p.payment_method not in NON_CREDIT_METHODS
        return (failed, "prepayment is required for this customer", "该客户须预付款")
    if code == "limit":
        if p.currency != p.limit_currency:
            return (
                True,
                f"the order is in {p.currency} but the limit is in {p.limit_currency}",
                f"订单币种 {p.currency} 与额度币种 {p.limit_currency} 不一致",
            )
        tolerance = Decimal(str(params.get("tolerance_pct", 0))) / 100
        ceiling = p.limit_in_force * (1 + tolerance)
        after = p.exposure + p.amount
        return (
            after > ceiling,
            f"exposure {_money(p.exposure)} + order {_money(p.amount)} exceeds the limit "
            f"{_money(p.limit_in_force)} (+{tolerance:.0%} tolerance)",
            f"敞口 {_money(p.exposure)} 加本单 {_money(p.amount)} 超过额度 "
            f"{_money(p.limit_in_force)}（容差 {tolerance:.0%}）",
        )
    if code == "max_order_value":
        cap = params.get("max_amount")
        failed = cap is not None and p.amount > Decimal(str(cap))
        return (
            failed,
            f"the order exceeds the maximum order value {cap}",
            f"订单金额超过单笔上限 {cap}",
        )
    if code == "oldest_overdue":
        days = int(params.get("max_days", 0))
        return (
            p.oldest_overdue_days > days,
            f"an invoice is {_days(p.oldest_overdue_days)} past due (allowed {_days(days)})",
            f"有发票逾期 {p.oldest_overdue_days} 天（允许 {days} 天）",
        )
    if code == "overdue_ratio":
        limit = Decimal(str(params.get("max_ratio", 1)))
        ratio = p.overdue_amount / p.open_amount if p.open_amount > 0 else Decimal(0)
        return (
            ratio > limit,
            f"{ratio:.0%} of open receivables are overdue (allowed {limit:.0%})",
            f"逾期应收占比 {ratio:.0%}（允许 {limit:.0%}）",
        )
    if code == "group_limit":
        if p.group_limit is None:
            return (False, "", "")
        tolerance = Decimal(str(params.get("tolerance_pct", 0))) / 100
        after = p.group_exposure + p.amount
        return (
            after > p.group_limit * (1 + tolerance),
            f"group {p.group_code} exposure {_money(p.group_exposure)} + order exceeds the "
            f"group limit {_money(p.group_limit)}",
            f"集团 {p.group_code} 敞口 {_money(p.group_exposure)} 加本单超过集团额度 "
            f"{_money(p.group_limit)}",
        )
    raise ValueError(f"unknown credit check {code!r}")


def evaluate(rules: list[Rule], position: Position) -> tuple[str, list[StepResult]]:
    """Run the enabled steps in order; the outcome is the strongest reaction met."""
    results: list[StepResult] = []
    strongest = 0
    for rule in rules:
        if not rule.enabled:
            continue
        # Orders paid up front carry no credit risk: only the block and prepayment apply.
        if position.payment_method in NON_CREDIT_METHODS and rule.code not in ("blocked",):
            results.append(StepResult(rule.code, "pass", "paid up front", "预付订单"))
            continue
        failed, en, zh = _step(rule, position)
        result = rule.reaction if failed else "pass"
        results.append(
            StepResult(rule.code, result, en if failed else "ok", zh if failed else "通过")
        )
        strongest = max(strongest, STRENGTH[result])
    return OUTCOME_OF[strongest], results
