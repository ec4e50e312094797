"""Prometheus metrics of one process: request latency, events written, alerts raised, and the
process itself. Counters of work done in a transaction count only once it commits."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    gc_collector,
    generate_latest,
    platform_collector,
    process_collector,
)
from sqlalchemy import event
from sqlalchemy.orm import Session

# A registry of its own: the tests build many apps in one process, and the default registry
# refuses a metric registered twice.
REGISTRY = CollectorRegistry(auto_describe=True)
process_collector.ProcessCollector(registry=REGISTRY)
platform_collector.PlatformCollector(registry=REGISTRY)
gc_collector.GCCollector(registry=REGISTRY)

REQUEST_SECONDS = Histogram(
    "riskdesk_http_request_duration_seconds",
    "Time to answer a request, by method, route template and status class.",
    ["method", "route", "status"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
EVENTS_WRITTEN = Counter(
    "riskdesk_events_written_total",
    "Records intake wrote (created or updated), by kind, once committed.",
    ["kind"],
    registry=REGISTRY,
)
WORK_QUEUED = Counter(
    "riskdesk_events_queued_total",
    "Customers' work queued by intake (one row per customer and intake), by kind, once committed.",
    ["kind"],
    registry=REGISTRY,
)
WORK_PROCESSED = Counter(
    "riskdesk_events_processed_total",
    "Queued work rows this process's workers processed, once committed.",
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "riskdesk_dead_letters_total",
    "Queued work rows this process moved to dead letters.",
    registry=REGISTRY,
)
QUEUE_ROWS = Gauge(
    "riskdesk_event_queue_rows",
    "Work rows waiting in the event queue (read from the database when scraped).",
    registry=REGISTRY,
)
QUEUE_LAG_SECONDS = Gauge(
    "riskdesk_event_queue_lag_seconds",
    "Age of the oldest waiting work row (read from the database when scraped); 0 when none.",
    registry=REGISTRY,
)
DEAD_LETTERS_WAITING = Gauge(
    "riskdesk_dead_letters_waiting",
    "Dead letters not yet retried (read from the database when scraped).",
    registry=REGISTRY,
)
JOBS = Gauge(
    "riskdesk_jobs",
    "Background jobs by status (read from the database when scraped).",
    ["status"],
    registry=REGISTRY,
)
ALERTS_RAISED = Counter(
    "riskdesk_alerts_raised_total",
    "New alerts, by warning type and severity, once committed.",
    ["warning_type", "severity"],
    registry=REGISTRY,
)

_PENDING = "riskdesk.metrics.pending"


def count_on_commit(session: Session, counter: Counter, labels: tuple[str, ...], n: int) -> None:
    """Add ``n`` to ``counter`` (with ``labels``) when the session's transaction commits; a
    rollback forgets it."""
    if n:
        pending: list[tuple[Counter, tuple[str, ...], int]] = session.info.setdefault(_PENDING, [])
        pending.append((counter, labels, n))


def _after_commit(session: Session) -> None:
    for counter, labels, n in session.info.pop(_PENDING, ()):
        (counter.labels(*labels) if labels else counter).inc(n)


def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def install() -> None:
    """Count committed work in every session (idempotent)."""
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_rollback", _after_rollback)


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Record one answered request."""
    REQUEST_SECONDS.labels(method, route, f"{status // 100}xx").observe(seconds)
