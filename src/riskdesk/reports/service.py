"""Exporting a list: the columns of every list, the audit record, the file.

Each list's rows come from its own domain (which knows who may see what and how the screen
masks it), streamed from a session of their own opened when the download starts: the request's
transaction ends before the first byte goes out, and the read holds one chunk in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from riskdesk.audit import trail
from riskdesk.kit.exports import (
    MEDIA_TYPES,
    Column,
    ExportFormat,
    content_disposition,
    file_chunks,
)
from riskdesk.kit.messages import translator
from riskdesk.kit.timeutil import today
from riskdesk.reports.schemas import ExportFile, ListExport
from riskdesk.security.service import Principal

# Filters whose values may be personal data (a search by ID number, phone...): the audit
# record says they were given, not what they were, as the customer list's own logging does.
UNSAID_FILTERS = frozenset({"q"})

_NAME = Column("customer_name", "customers.name")
_CODE = Column("customer_code", "customers.code")
_TIER = Column("risk_tier", "customers.tier", "enum", "tier.")

CUSTOMERS = ListExport(
    "customers",
    "export.list.customers",
    (
        Column("code", "customers.code"),
        Column("name", "customers.name", width=30),
        Column("kind", "customers.kind", "enum", "kind."),
        Column("tax_id", "field.tax_id", width=20),
        Column("segment", "customers.segment", "enum", "segment."),
        Column("industry", "field.industry"),
        Column("region", "customers.region"),
        Column("owner", "customers.owner"),
        Column("risk_tier", "customers.tier", "enum", "tier."),
        Column("rating", "customers.rating"),
        Column("score", "field.score", "integer"),
        Column("credit_limit", "customers.limit", "money"),
        Column("limit_currency", "field.limit_currency"),
        Column("blocked", "customers.blocked", "boolean"),
        Column("next_review_date", "field.next_review_date", "date"),
        Column("status", "customers.status", "enum", "status."),
    ),
)

ALERTS = ListExport(
    "alerts",
    "export.list.alerts",
    (
        Column("id", "export.col.id", "integer"),
        Column("customer_code", "customers.code"),
        Column("product", "complaints.product"),
        Column("code", "field.rule_code"),
        Column("category", "alerts.category", "enum", "alerts.category."),
        Column("warning_type", "alerts.warning_type", "enum", "warning_type."),
        Column("severity", "alerts.severity", "enum", "alerts.severity."),
        Column("stake", "alerts.at_stake", "money"),
        Column("precision", "export.col.precision", "percent"),
        Column("status", "common.status", "enum", "alerts.status."),
        Column("outcome", "alerts.outcome", "enum", "alerts.outcome."),
        Column("observed_on", "alerts.observed_on", "date"),
        Column("raised_at", "alerts.raised", "datetime"),
        Column("last_hit_at", "alerts.last_hit", "datetime"),
        Column("closed_at", "export.col.closed_at", "datetime"),
        Column("assignee", "case.assignee"),
        Column("hits", "alerts.hits", "integer"),
    ),
)


def alert_columns(locale: str) -> tuple[Column, ...]:
    """The alert columns with the title in the caller's language."""
    title = Column("title_zh" if locale == "zh-CN" else "title_en", "alerts.alert", width=40)
    return (*ALERTS.columns[:4], title, *ALERTS.columns[4:])


CASES = ListExport(
    "cases",
    "export.list.cases",
    (
        Column("id", "export.col.case_id", "integer"),
        _CODE,
        _NAME,
        Column("priority", "alerts.at_stake", "money"),
        Column("priority_basis", "export.col.priority_basis", "enum", "alerts.basis."),
        Column("open_alerts", "export.col.open_alerts", "integer"),
        Column("warning_types", "alerts.warning_type", width=30),
        Column("opened_at", "export.col.opened_at", "datetime"),
    ),
)

DECISIONS = ListExport(
    "credit-decisions",
    "export.list.credit_decisions",
    (
        Column("id", "export.col.id", "integer"),
        _CODE,
        _NAME,
        Column("source", "field.source"),
        Column("order", "credit.order"),
        Column("amount", "common.amount", "money"),
        Column("currency", "field.currency"),
        Column("status", "common.status", "enum", "decision."),
        Column("reasons", "credit.reasons", width=40),
        Column("requested_by", "export.col.requested_by"),
        Column("created_at", "export.col.created_at", "datetime"),
        Column("updated_at", "export.col.updated_at", "datetime"),
        Column("resolution_reason", "common.reason", width=30),
    ),
)
HELD_ORDERS = ListExport("held-orders", "export.list.held_orders", DECISIONS.columns)


def decision_columns(spec: ListExport, locale: str) -> tuple[Column, ...]:
    """The decision columns with the reasons in the caller's language."""
    key = "reasons_zh" if locale == "zh-CN" else "reasons_en"
    return tuple(
        Column(key, c.label, width=c.width) if c.key == "reasons" else c for c in spec.columns
    )


LIMIT_REQUESTS = ListExport(
    "limit-requests",
    "export.list.limit_requests",
    (
        Column("id", "export.col.id", "integer"),
        _CODE,
        _NAME,
        _TIER,
        Column("current_limit", "limits.current", "money"),
        Column("requested_limit", "limits.new_limit", "money"),
        Column("currency", "field.currency"),
        Column("origin", "export.col.origin", "enum", "limits.origin."),
        Column("status", "common.status", "enum", "limits.status."),
        Column("reason", "common.reason", width=30),
        Column("requested_by", "export.col.requested_by"),
        Column("requested_at", "export.col.requested_at", "datetime"),
        Column("expires_at", "export.col.expires_at", "datetime"),
        Column("decided_by", "export.col.decided_by"),
        Column("decided_at", "export.col.decided_at", "datetime"),
    ),
)

REVIEWS = ListExport(
    "reviews",
    "export.list.reviews",
    (
        Column("next_review_date", "reviews.due", "date"),
        Column("overdue", "reviews.overdue", "boolean"),
        _CODE,
        _NAME,
        _TIER,
        Column("score", "field.score", "integer"),
        Column("last_review_date", "field.last_review_date", "date"),
        Column("open_review_id", "export.col.open_review", "integer"),
    ),
)

COMPLAINTS = ListExport(
    "complaints",
    "export.list.complaints",
    (
        Column("id", "export.col.id", "integer"),
        Column("severity", "alerts.severity", "enum", "alerts.severity."),
        _CODE,
        _NAME,
        Column("category", "complaints.category", "enum", "complaints.category."),
        Column("product", "complaints.product"),
        Column("opened_at", "complaints.opened", "datetime"),
        Column("respond_by", "complaints.respond_by", "datetime"),
        Column("resolve_by", "export.col.resolve_by", "datetime"),
        Column("status", "common.status", "enum", "complaints.status."),
        Column("breach", "export.col.breach", "enum", "complaints.breach."),
        Column("description", "complaints.description", width=40),
    ),
)

AGEING = ListExport(
    "ageing",
    "export.list.ageing",
    (
        _CODE,
        _NAME,
        _TIER,
        Column("as_of", "export.col.as_of", "date"),
        Column("ar_current", "export.col.ar_current", "money"),
        Column("ar_1_30", "export.col.ar_1_30", "money"),
        Column("ar_31_60", "export.col.ar_31_60", "money"),
        Column("ar_61_90", "export.col.ar_61_90", "money"),
        Column("ar_91_120", "export.col.ar_91_120", "money"),
        Column("ar_over_120", "export.col.ar_over_120", "money"),
        Column("ar_total", "export.col.ar_total", "money"),
        Column("dpd_max", "export.col.dpd_max", "integer"),
    ),
)

EXPOSURE = ListExport(
    "exposure",
    "export.list.exposure",
    (
        _CODE,
        _NAME,
        _TIER,
        Column("credit_limit", "customers.limit", "money"),
        Column("limit_in_force", "export.col.limit_in_force", "money"),
        Column("currency", "field.currency"),
        Column("limit_valid_to", "field.limit_valid_to", "date"),
        Column("counted", "credit.counted", "money"),
        Column("information_only", "credit.info_only", "money"),
        Column("available", "credit.available", "money"),
        Column("utilisation", "credit.utilisation", "percent"),
        Column("blocked", "customers.blocked", "boolean"),
    ),
)

LISTS = (
    CUSTOMERS,
    ALERTS,
    CASES,
    HELD_ORDERS,
    DECISIONS,
    LIMIT_REQUESTS,
    REVIEWS,
    COMPLAINTS,
    AGEING,
    EXPOSURE,
)


def audit_fields(filters: Mapping[str, Any], fmt: str, rows: int) -> list[str]:
    """What the audit record keeps of an export: the format, the row count and the filters
    given (personal search text as given, never its value)."""
    given = {k: v for k, v in filters.items() if v not in (None, "", (), False)}
    said = [
        f"filter.{k}=(given)" if k in UNSAID_FILTERS else f"filter.{k}={_said(v)}"
        for k, v in sorted(given.items())
    ]
    return [f"format={fmt}", f"rows={rows}", *said]


def _said(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def export(
    session: Session,
    factory: sessionmaker[Session],
    principal: Principal,
    *,
    spec: ListExport,
    fmt: ExportFormat,
    locale: str,
    filters: Mapping[str, Any],
    count: int,
    rows: Callable[[Session], Iterator[Mapping[str, Any]]],
    columns: tuple[Column, ...] | None = None,
) -> ExportFile:
    """A list as a file: the export is recorded in the audit log now (who, which list, which
    filters, how many rows), in the request's transaction; the rows are read from a session
    of ``factory`` as the file is taken."""
    trail.viewed(
        session,
        object_type="export",
        object_id=spec.name,
        fields=audit_fields(filters, fmt, count),
        action="export",
    )
    translate = translator(locale)
    title = translate(spec.title)

    def read() -> Iterator[Mapping[str, Any]]:
        with factory() as reading:
            yield from rows(reading)

    return ExportFile(
        chunks=file_chunks(fmt, columns or spec.columns, read(), translate, title=title),
        media_type=MEDIA_TYPES[fmt],
        disposition=content_disposition(spec.name, title, today(), fmt),
        rows=count,
    )
