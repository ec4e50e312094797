"""The warning types: the signal each alert claims, and what counts as that signal coming true.

Every rule names one type and every detector has one; alerts carry it, the API and the UI
filter by it, and replays and live effectiveness judge each type against its own outcome:

- ``default``: the customer went 90+ days past due (or was written off) within the horizon;
- ``churn``: the customer stopped buying (a gap of ``CHURN_GAP_DAYS``) within the horizon;
- ``confirmed``: nothing in the event record shows it, so only an alert someone closed as
  confirmed (or a supplied label) makes it true.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Outcome = Literal["default", "churn", "confirmed"]

CHURN_GAP_DAYS = 180
DEFAULT_DPD = 90


@dataclass(frozen=True)
class WarningType:
    """One kind of signal."""

    code: str
    en: str
    zh: str
    outcome: Outcome


TYPES: tuple[WarningType, ...] = (
    WarningType("default_risk", "Overdue / default risk", "逾期/违约风险", "default"),
    WarningType("payment_deterioration", "Payment deterioration", "付款恶化", "default"),
    WarningType("resale", "Resale", "疑似转售", "confirmed"),
    WarningType("return_abuse", "Return abuse", "恶意退货", "confirmed"),
    WarningType("cod_shift", "Shift to cash on delivery", "转向货到付款", "confirmed"),
    WarningType("order_spike", "Order spike / capacity", "订单激增/履约能力", "confirmed"),
    WarningType("churn", "Churn", "流失", "churn"),
    WarningType("dissatisfaction", "Dissatisfaction", "满意度下降", "churn"),
    WarningType("complaint_wave", "Complaint wave", "投诉潮", "confirmed"),
    WarningType("limit_exposure", "Limit / exposure", "额度/敞口", "default"),
    WarningType("anomaly", "Anomaly", "异常行为", "confirmed"),
)
BY_CODE = {t.code: t for t in TYPES}
CODES = tuple(t.code for t in TYPES)

WarningTypeCode = Literal[
    "default_risk",
    "payment_deterioration",
    "resale",
    "return_abuse",
    "cod_shift",
    "order_spike",
    "churn",
    "dissatisfaction",
    "complaint_wave",
    "limit_exposure",
    "anomaly",
]

# The type of a rule or detector that predates types (and of a user's rule saved without one):
# by its code when it is a shipped one, else by its category.
BY_RULE_CODE = {
    "new_overdue": "default_risk",
    "ageing_worsening": "default_risk",
    "paying_late": "payment_deterioration",
    "score_drop": "payment_deterioration",
    "rating_downgrade": "payment_deterioration",
    "bureau_score_drop": "payment_deterioration",
    "resale_frequency": "resale",
    "return_abuse": "return_abuse",
    "returns_without_reason": "return_abuse",
    "cod_share_rising": "cod_shift",
    "order_size_spike": "order_spike",
    "drifting_away": "churn",
    "churn_risk": "churn",
    "satisfaction_falling": "dissatisfaction",
    "complaint_surge": "complaint_wave",
    "complaint_surge_product": "complaint_wave",
    "utilisation_high": "limit_exposure",
    "anomaly_indicator": "anomaly",
    "anomaly_multivariate": "anomaly",
}
BY_CATEGORY = {
    "purchase": "order_spike",
    "payment": "payment_deterioration",
    "receivables": "default_risk",
    "exposure": "limit_exposure",
    "score": "payment_deterioration",
    "returns": "return_abuse",
    "complaints": "complaint_wave",
    "satisfaction": "dissatisfaction",
    "churn": "churn",
    "other": "anomaly",
}


def type_of(code: str, category: str) -> str:
    """The warning type of a rule or detector by its code, else by its category."""
    return BY_RULE_CODE.get(code) or BY_CATEGORY.get(category, "anomaly")


# For scoring replays against a labelled population (the demo's, or a file): the warning types
# that claim each injected behaviour, and the behaviour each decoy resembles (a decoy flagged
# by the types of what it resembles is a false alarm). Read only to score, never to evaluate.
BEHAVIOUR_TYPES: dict[str, tuple[str, ...]] = {
    "deteriorating": ("default_risk", "payment_deterioration"),
    "reseller": ("resale",),
    "return_abuser": ("return_abuse",),
    "churner": ("churn",),
}
DECOY_RESEMBLES: dict[str, str] = {
    "slow_payer": "deteriorating",
    "busy_b2b": "reseller",
    "new_customer": "reseller",
    "seasonal": "churner",
    "light_returner": "return_abuser",
    "tight_limit": "deteriorating",
}
