"""Classify a complaint from its text: a category by keywords, a product by name."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path

import yaml

CATEGORIES = ("product_quality", "delivery", "billing", "service", "other")
KEYWORDS_FILE = Path(__file__).with_name("keywords.yaml")


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
