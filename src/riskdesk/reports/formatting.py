"""Numbers, money and dates as a reader of each language expects them; never in scientific
notation (a float such as 1e-07 or 1e+21 is written out in full)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from riskdesk.kit.messages import catalog, fill, translate
from riskdesk.kit.timeutil import local, offset_label
from riskdesk.reports.schemas import Bilingual

NONE = "—"
# Ratios read as a share of a whole; the others as a multiple.
PERCENT_RATIOS = frozenset({"debt_to_assets", "return_on_assets", "net_margin"})
_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _decimal(value: Decimal | float | int | None) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(value) if not isinstance(value, float) else Decimal(repr(value))
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() else None


def number(value: Decimal | float | int | None, places: int = 2) -> str:
    """A number with thousands separators and a fixed number of decimals."""
    amount = _decimal(value)
    if amount is None:
        return NONE
    return f"{amount:,.{places}f}"


def money(value: Decimal | float | int | None, currency: str | None) -> str:
    """An amount with thousands separators, two decimals and its currency."""
    text = number(value, 2)
    return text if text == NONE or not currency else f"{text} {currency}"


def percent(share: float | None, places: int = 1) -> str:
    """A share (0.125) as a percentage (12.5%)."""
    if share is None:
        return NONE
    return f"{number(share * 100, places)}%"


def day(value: dt.date | dt.datetime | None, locale: str, tz: dt.tzinfo | None = None) -> str:
    """A date: 2026年12月6日 or 6 Dec 2026 (an instant's date on the clock of ``tz``)."""
    if value is None:
        return NONE
    if tz is not None and isinstance(value, dt.datetime):
        value = local(value, tz)
    if locale == "zh-CN":
        return f"{value.year}年{value.month}月{value.day}日"
    return f"{value.day} {_MONTHS_EN[value.month - 1]} {value.year:04d}"


def stamp(value: dt.datetime | None, locale: str, tz: dt.tzinfo | None = None) -> str:
    """A timestamp with its date written for the locale, on the clock of ``tz`` (the display
    zone; UTC when None), which it names: a printed page leaves the screen's footer behind."""
    if value is None:
        return NONE
    tz = tz or dt.UTC
    value = local(value, tz)
    named = "UTC" if str(tz) == "UTC" else offset_label(tz, value)
    return f"{day(value, locale)} {value.hour:02d}:{value.minute:02d} {named}"


class Translate(Protocol):
    """``t("key", name=value)``: a message of the reader's language (riskdesk.kit.messages)."""

    def __call__(self, key: str, **values: Any) -> str: ...


def translator(locale: str) -> Translate:
    """The catalogue's messages of one locale, with their ``{name}`` places filled."""

    def t(key: str, **values: Any) -> str:
        text = translate(locale, key)
        return fill(text, values)

    return t


class View:
    """Formatting and translating for one reader: what both renderers call, so the PDF and the
    print page say every value the same way."""

    def __init__(self, locale: str, t: Translate, tz: dt.tzinfo | None = None) -> None:
        self.locale = locale
        self.t = t
        self.tz = tz  # the display zone (None: UTC)

    def text(self, value: Bilingual) -> str:
        """The domain's own text in the reader's language."""
        return value.zh if self.locale == "zh-CN" else value.en

    def text_of(self, en: str, zh: str) -> str:
        """One of a pair of texts, by the reader's language."""
        return zh if self.locale == "zh-CN" else en

    def enum(self, prefix: str, value: str | None) -> str:
        """A stored code (a tier, a status) in words; never the code itself in Chinese."""
        return NONE if not value else self.t(f"{prefix}.{value}")

    def source(self, value: str | None) -> str:
        """A data source (a bureau) by its name when the catalogue has one, else as named."""
        if not value:
            return NONE
        return catalog(self.locale).get(f"source.{value}") or value

    def money(self, value: Decimal | float | int | None, currency: str | None) -> str:
        return money(value, currency)

    def day(self, value: dt.date | dt.datetime | None) -> str:
        return day(value, self.locale, self.tz)

    def stamp(self, value: dt.datetime | None) -> str:
        return stamp(value, self.locale, self.tz)

    def period(self, start: dt.date | None, end: dt.date | None) -> str:
        """From - to; a single dash when neither end is set."""
        if start is None and end is None:
            return NONE
        return f"{self.day(start)} – {self.day(end)}"

    def percent(self, share: float | None) -> str:
        return percent(share)

    def ratio(self, name: str, value: float | None) -> str:
        """A financial ratio: a share as a percentage, a multiple with two decimals."""
        return percent(value) if name in PERCENT_RATIOS else number(value, 2)

    def yesno(self, value: bool) -> str:
        return self.t("common.yes") if value else self.t("common.no")

    def value(self, value: str | None) -> str:
        return NONE if value is None or value == "" else value

    def measure(self, value: float | None, unit: str, currency: str = "CNY") -> str:
        """An indicator's value in its unit: days, a share, a score, a count or money."""
        if value is None:
            return NONE
        if unit == "share":
            return percent(value)
        if unit == "days":
            return self.t("report.unit.days", n=number(value, 1))
        if unit == "count":
            return number(value, 0)
        if unit in ("score", "ratio", "times"):
            return number(value, 2)
        return money(value, unit if len(unit) == 3 and unit.isupper() else currency)


def concentration_name(
    t: Translate, dimension: str, key: str | None, name: str | None, customer_id: int | None
) -> str:
    """One of the largest of a concentration in the reader's words, as the portfolio page
    says it: an industry of the catalogue translated, a customer outside any group by code."""
    if customer_id is not None:
        return t("portfolio.single_name", code=f"C{customer_id:07d}")
    if key == "unknown" and dimension != "group":
        return t("portfolio.unknown")
    if dimension == "industry" and key:
        return t(f"industry.{key}")  # not in the catalogue: the stored value itself
    return name or key or NONE
