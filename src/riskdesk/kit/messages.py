"""The UI's message catalogues (zh-CN and English), for every part that speaks to people.

The catalogues are data files shipped with the UI (``riskdesk/ui/translations``); they are read
here, below every domain, so that a file exported through the API is labelled in the same words
as the screen without a domain importing the UI.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

LOCALES = ("zh-CN", "en")
_DIR = Path(__file__).resolve().parent.parent / "ui" / "translations"


@lru_cache
def catalog(locale: str) -> dict[str, str]:
    """The messages of one locale."""
    data: dict[str, str] = json.loads((_DIR / f"{locale}.json").read_text(encoding="utf-8"))
    return data


def choose_locale(cookie: str | None, accept_language: str, default: str = "zh-CN") -> str:
    """The cookie's locale, else the best of Accept-Language, else the default."""
    if cookie in LOCALES:
        return cookie
    weighted: list[tuple[float, str]] = []
    for part in accept_language.split(","):
        pieces = part.strip().split(";q=")
        tag = pieces[0].strip().lower()
        try:
            weight = float(pieces[1]) if len(pieces) > 1 else 1.0
        except ValueError:
            weight = 0.0
        if tag:
            weighted.append((weight, tag))
    for _, tag in sorted(weighted, key=lambda w: -w[0]):
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return default


class _Counted:
    """A message's value that can also choose a word by its count: ``{n:plural:month|months}``
    gives "month" when n is 1 and "months" otherwise (the other word may name the value again,
    ``{n:plural:every month|every {n} months}``); ``{x:num}`` writes a number as people read it
    (``plain_number``). Any other format spec is the value's own."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __format__(self, spec: str) -> str:
        if spec.startswith("plural:"):
            one, _, other = spec.removeprefix("plural:").partition("|")
            return one if _is_one(self.value) else other
        if spec == "num":
            return plain_number(self.value)
        return format(self.value, spec)

    def __str__(self) -> str:
        return str(self.value)


def plain_number(value: Any) -> str:
    """A number with thousands separators, whole numbers without ".0", others with at most two
    decimals (150.0 -> "150", 1234.5 -> "1,234.5"); anything else as it is."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return "" if value is None else str(value)
    amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not amount.is_finite():
        return str(value)
    if amount == amount.to_integral_value():
        return f"{amount:,.0f}"
    return f"{amount:,.2f}".rstrip("0").rstrip(".")


def _is_one(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float | Decimal):
        return value == 1
    return isinstance(value, str) and value.strip() == "1"  # a count already formatted


def fill(text: str, values: dict[str, Any]) -> str:
    """A message with its ``{name}`` places filled (and its plural words chosen)."""
    return text.format(**{k: _Counted(v) for k, v in values.items()}) if values else text


def translate(locale: str, key: str) -> str:
    """One message: the locale's, else English, else the key's last part."""
    text = catalog(locale).get(key) or catalog("en").get(key)
    if text is None:
        return key.rsplit(".", 1)[-1] or "—"
    return text


def translator(locale: str) -> Callable[[str], str]:
    """``translate`` bound to a locale."""
    return lambda key: translate(locale, key)
