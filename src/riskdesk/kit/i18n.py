"""Translations (zh-CN and English): the catalogues shipped with the UI, chosen by cookie, then
the browser's language."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Request

LOCALES = ("zh-CN", "en")
LANG_COOKIE = "rd_lang"
# The files stay with the UI that owns most of their keys; documents below the UI read them too.
_DIR = Path(__file__).parents[1] / "ui" / "translations"


@lru_cache
def catalog(locale: str) -> dict[str, str]:
    """The messages of one locale."""
    data: dict[str, str] = json.loads((_DIR / f"{locale}.json").read_text(encoding="utf-8"))
    return data


def pick_locale(request: Request, default: str = "zh-CN") -> str:
    """Cookie first, then Accept-Language, then the default."""
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LOCALES:
        return chosen
    header = request.headers.get("accept-language", "")
    weighted: list[tuple[float, str]] = []
    for part in header.split(","):
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


class Translator:
    """``t("key", name=...)`` in templates. A key built from a stored value (``"tier." + v``)
    that is not in the catalogues shows the value itself, or "—" when it is empty: old or odd
    data must not show as "complaints.category." (keys written in templates are checked by a
    test, tests/unit/test_pure.py)."""

    def __init__(self, locale: str) -> None:
        self.locale = locale
        self.messages = catalog(locale)

    def __call__(self, key: str, **values: Any) -> str:
        text = self.messages.get(key) or catalog("en").get(key)
        if text is None:
            return key.rsplit(".", 1)[-1] or "—"
        return text.format(**values) if values else text
