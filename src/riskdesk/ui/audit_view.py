"""The audit log's entries as a reader sees them: tables, columns and the names an entry keeps
(``credit_report.409``, ``format=pdf``, ``page 1``) by their labels in the reader's language.

The log stores identifiers (it must not change with the language or a renamed label); the page
translates them. A table or column no catalogue knows is said as "other records" / "another
field", never by its code (tests/unit/test_ui_language.py checks every table and column has a
label)."""

from __future__ import annotations

import re
from typing import Any

from riskdesk.ui.i18n import Translator

_PAGE = re.compile(r"page (\d+)")
_SEARCH_BY = re.compile(r"search by (\w+)")
# Customer codes, report names, months: data, shown as entered.
_DATA = re.compile(r"[A-Z0-9][A-Za-z0-9-]*")


def table_label(t: Translator, table: str) -> str:
    """What a table holds, by name (``jobs`` → 后台任务 / Background jobs)."""
    return t.messages.get(f"audit.table.{table}") or t("audit.table.unknown")


def column_label(t: Translator, column: str) -> str:
    """A column by the label the forms use (``field.<name>``), else the audit catalogue's."""
    return (
        t.messages.get(f"field.{column}")
        or t.messages.get(f"audit.column.{column}")
        or t("audit.column.unknown")
    )


def _part(t: Translator, part: str) -> str:
    """One dotted part of a stored name: a record number, a known name, or data as entered."""
    if part.isdigit():
        return f"#{part}"
    for key in (
        f"audit.item.{part}",
        f"field.{part}",
        f"audit.column.{part}",
        f"audit.table.{part}",
    ):
        if key in t.messages:
            return t.messages[key]
    return part if _DATA.fullmatch(part) else t("audit.column.unknown")


def _name(t: Translator, name: str) -> str:
    return " ".join(_part(t, p) for p in name.split(".") if p)


# Where a list filter's coded value has its label (an export's "status=held,pending").
_VALUE_PREFIXES = {
    "status": (
        "alerts.status.", "decision.", "limits.status.", "pending.", "complaints.status.",
        "case.status.", "reviews.status.",
    ),
    "severity": ("alerts.severity.",),
    "tier": ("tier.",),
    "risk_tier": ("tier.",),
    "segment": ("segment.",),
    "kind": ("kind.",),
    "outcome": ("alerts.outcome.", "outcome."),
}  # fmt: skip


def _coded(t: Translator, key: str, value: str) -> str:
    for prefix in _VALUE_PREFIXES.get(key, ()):
        if f"{prefix}{value}" in t.messages:
            return t.messages[f"{prefix}{value}"]
    return value


def _value(t: Translator, key: str, value: str) -> str:
    if key == "locale":
        return t.messages.get(f"reports.language.{value}") or value
    if key == "format":
        return value.upper()
    if value == "(given)":
        return t("audit.item.given")
    if key in _VALUE_PREFIXES:
        return t("audit.list_sep").join(_coded(t, key, v) for v in value.split(","))
    return value


def item_label(t: Translator, item: str) -> str:
    """One of an entry's named items: a field shown in full, an export's setting or filter."""
    if searched := _SEARCH_BY.fullmatch(item):
        return t("audit.search_by", field=_part(t, searched.group(1)))
    key, sep, value = item.partition("=")
    if sep:
        shown = _value(t, key.rsplit(".", 1)[-1], value)
        return t("audit.item_value", name=_name(t, key), value=shown)
    return _name(t, item)


def change_label(t: Translator, change: dict[str, Any]) -> str:
    """A write's change: what was done to which records, and which fields, by their labels."""
    op = str(change.get("op", ""))
    table = str(change.get("table", ""))
    fields = [str(f) for f in change.get("fields") or ()]
    text = t(
        "audit.change",
        op=t.messages.get(f"audit.op.{op}") or op,
        what=table_label(t, table),
        rows=f"{int(change.get('rows') or 0):,}",
    )
    if fields:
        labels = t("audit.list_sep").join(column_label(t, f) for f in fields)
        text += t("audit.change_fields", fields=labels)
    return text


def object_label(t: Translator, object_type: str | None, object_id: str | None) -> str:
    """What an entry is about: the object's kind by name and its number or page."""
    if not object_type:
        return ""
    kind = t.messages.get(f"audit.object.{object_type}") or t("audit.table.unknown")
    if not object_id:
        return kind
    if page := _PAGE.fullmatch(object_id):
        return f"{kind} {t('audit.page', page=page.group(1))}"
    if object_id.isdigit():
        return f"{kind} #{object_id}"
    return f"{kind} {_name(t, object_id)}"
