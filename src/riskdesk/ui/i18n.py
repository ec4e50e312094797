"""Translations for the UI (zh-CN and English), chosen by cookie, then the browser's language."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from riskdesk.kit.messages import LOCALES, catalog, choose_locale, fill

__all__ = ["LANG_COOKIE", "LOCALES", "Translator", "catalog", "pick_locale"]

LANG_COOKIE = "rd_lang"


def pick_locale(request: Request, default: str = "zh-CN") -> str:
    """Cookie first, then Accept-Language, then the default."""
    return choose_locale(
        request.cookies.get(LANG_COOKIE), request.headers.get("accept-language", ""), default
    )


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
        return fill(text, values)
