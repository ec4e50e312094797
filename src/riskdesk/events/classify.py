"""Complaints as they arrive: the category from the text by keywords, the product by name, and
the response SLA by severity."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import yaml

from riskdesk.config import get_settings
from riskdesk.kit.timeutil import as_utc

CATEGORIES = ("product_quality", "delivery", "billing", "service", "other")
KEYWORDS_FILE = Path(__file__).with_name("complaint_keywords.yaml")


@cache
def keywords() -> dict[str, tuple[str, ...]]:
    """The keyword list of each category (lower case)."""
    raw = yaml.safe_load(KEYWORDS_FILE.read_text(encoding="utf-8"))
    return {cat: tuple(str(w).lower() for w in raw.get(cat, ())) for cat in CATEGORIES[:-1]}


def category(text: str) -> str:
    """The category whose keywords the text holds most often (ties: the earlier category);
    "other" when none."""
    lowered = text.lower()
    best, best_hits = "other", 0
    for cat, words in keywords().items():
        hits = sum(lowered.count(w) for w in words)
        if hits > best_hits:
            best, best_hits = cat, hits
    return best


def product(text: str, known: Iterable[str]) -> str | None:
    """The longest known product name the text mentions (case-insensitive), if any."""
    lowered = text.lower()
    found = [p for p in known if p and p.lower() in lowered]
    return max(found, key=len) if found else None


def sla_times(severity: str, opened_at: dt.datetime) -> dict[str, dt.datetime]:
    """When a complaint must be answered and resolved, by its severity (configurable)."""
    settings = get_settings()
    opened = as_utc(opened_at)
    return {
        "respond_by": opened + dt.timedelta(hours=settings.complaint_response_hours[severity]),
        "resolve_by": opened + dt.timedelta(days=settings.complaint_resolution_days[severity]),
    }
