"""What a page shows a person: the text nodes of its main area, and the leaks in them.

A leak is text meant for the program that reached the screen: a catalogue key (``tier.low``,
``action.limit_request``), a number in scientific notation (``1.332e+05``), and, on a Chinese
page, English programme words (``credit_limit``, ``hold``, ``low``). Data people entered (names,
codes, e-mail addresses, URLs) is shown as entered and is not a leak; the crawl's data is chosen
so that it is Chinese or clearly not a word (see ALLOWED).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import lru_cache
from html.parser import HTMLParser

from riskdesk.ui.i18n import catalog

_SKIP = {"script", "style", "template", "noscript", "svg", "code", "pre"}
_VOID = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
    "source", "track", "wbr",
}  # fmt: skip


class _Text(HTMLParser):
    """Text nodes inside <main> (the whole body when a fragment has none), outside scripts,
    styles and elements marked ``data-raw`` (values shown as entered, e.g. a rule's source)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []  # (tag, hidden)
        self.main_seen = False
        self.in_main = 0
        self.main_parts: list[str] = []
        self.all_parts: list[str] = []
        self.chart_parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            return
        hidden = tag in _SKIP or any(k == "data-raw" for k, _ in attrs)
        for name, value in attrs:
            if name == "data-series" and value:
                self.chart_parts += chart_words(value)
        self.stack.append((tag, hidden or (bool(self.stack) and self.stack[-1][1])))
        if tag == "main":
            self.main_seen = True
            self.in_main += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        # Close up to the matching tag (HTML forgives unclosed <p>, <li>, ...).
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break
        if tag == "main":
            self.in_main -= 1

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1][1]:
            return
        self.all_parts.append(data)
        if self.in_main:
            self.main_parts.append(data)


def chart_words(series: str) -> list[str]:
    """What a chart (static/app.js) writes on screen from its data: the names of its lines and
    stacks (legend and tooltip), its category labels and its label."""
    try:
        data = json.loads(series)
    except ValueError:
        return []
    if not isinstance(data, dict):
        return []
    words: list[str] = []
    lines = data.get("series")
    if isinstance(lines, dict):
        words += [str(k) for k in lines]
    elif isinstance(lines, list):
        words += [str(s.get("name")) for s in lines if isinstance(s, dict) and s.get("name")]
    for key in ("labels", "months", "dates"):
        words += [str(v) for v in data.get(key) or () if isinstance(v, str)]
    words += [str(data[k]) for k in ("label", "count_label", "unit") if data.get(k)]
    return words


def visible_text(html: str) -> str:
    """The visible text of a page's main area (a fragment's whole text), one node a line, and
    the words its charts write."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    parts = (parser.main_parts if parser.main_seen else parser.all_parts) + parser.chart_parts
    return "\n".join(p.strip() for p in parts if p.strip())


@lru_cache
def _key_prefixes() -> frozenset[str]:
    return frozenset(k.split(".", 1)[0] for k in catalog("en"))


# Words a Chinese page may show in Latin letters. Each is either the trade's or the product's
# own abbreviation or name, or data entered as such (kept out of the crawl's data otherwise).
ALLOWED = {
    # Abbreviations and units of the trade, written so in Chinese credit reports too.
    "dpd", "dbt", "dso", "ecl", "pd", "lgd", "ead", "ifrs", "auc", "ks", "psi", "gini", "iv",
    "csv", "xlsx", "pdf", "json", "api", "url", "id", "ip", "cny", "usd", "utc", "paydex",
    "webhook", "z", "p",
    # Product and model-family names.
    "riskdesk", "lightgbm", "logistic", "xgboost", "altman",
    # Sign-in names of the seeded users (a user name is shown as entered).
    "manager", "manager2", "analyst", "sales", "sales2", "sales3", "service", "auditor", "admin",
    # Names of data sources as the integrations registered them (the demo's and the crawl's
    # sources, the demo bureau, the crawl's model): data, shown as entered.
    "demo", "edge", "crawl", "demo_bureau", "crawl_pd",
    # The test client's network address in the audit log (an IP address in real use).
    "testclient",
}  # fmt: skip
# Identifiers that are data: a source-qualified external id (demo:C000001, edge:edge-c1-31),
# a file name (c.csv), a version label (v3), a content digest (f81b31ef2977).
_DATA = re.compile(
    r"[\w-]+:[\w-]+|[\w-]+\.(?:csv|xlsx|jsonl?|pdf|txt)\b|\bv\d+\b|\b[0-9a-f]{12,64}\b"
)

# An amount without thousands separators: four or more whole digits and decimals (1332000.50).
_UNGROUPED = re.compile(r"(?<![\w.,:/-])\d{4,}\.\d+(?![\w.])")
_SCIENTIFIC = re.compile(r"(?<![\w.])\d+(?:\.\d+)?[eE][+-]?\d+\b")
_KEY = re.compile(r"(?<![\w./@-])([a-z][a-z0-9_]*)\.([a-z0-9_]+(?:\.[a-z0-9_]+)*)(?![\w/@-])")
_WORD = re.compile(r"(?<![\w@./:-])[A-Za-z][A-Za-z0-9_]*(?![\w@/-])")


def leaks(html: str, locale: str, entered: Sequence[str] = ()) -> list[str]:
    """The leaks in a page's visible text (empty when there are none); ``entered`` is text
    people typed into forms (shown as typed wherever it appears)."""
    found: list[str] = []
    text = visible_text(html)
    typed = sorted((e for e in entered if e.strip()), key=len, reverse=True)
    for line in text.splitlines():
        for value in typed:
            line = line.replace(value, " ")
        for m in _SCIENTIFIC.finditer(line):
            found.append(f"scientific notation {m.group(0)!r} in {line[:80]!r}")
        for m in _UNGROUPED.finditer(line):
            found.append(f"no thousands separators {m.group(0)!r} in {line[:80]!r}")
        for m in _KEY.finditer(line):
            if m.group(1) in _key_prefixes() and not m.group(2).isdigit():
                found.append(f"catalogue key {m.group(0)!r} in {line[:80]!r}")
        # Skip e-mail addresses, URLs and paths, which are data.
        plain = _DATA.sub(" ", re.sub(r"\S+@\S+|https?://\S+|/\S*", " ", line))
        for m in _WORD.finditer(plain):
            word = m.group(0)
            if word.lower() in ALLOWED or not re.search(r"[a-z]", word):
                continue  # an allowed word, or a code in capitals and digits (C0001, TEAM-A)
            if "_" in word:  # a programme's name (credit_limit, b2b_sme), in either language
                found.append(f"programme name {word!r} in {line[:80]!r}")
            elif locale == "zh-CN" and word.islower():
                found.append(f"English {word!r} in {line[:80]!r}")
    return found
