"""Translations for the UI: the catalogues and the Translator live in ``riskdesk.kit.i18n`` so
that documents drawn below the UI (the credit report) speak both languages too."""

from __future__ import annotations

from riskdesk.kit.i18n import LANG_COOKIE, LOCALES, Translator, catalog, pick_locale

__all__ = ["LANG_COOKIE", "LOCALES", "Translator", "catalog", "pick_locale"]
