"""Intake of customers and events from the API and from files, the same way for both."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from riskdesk.complaints import service as complaints_service
from riskdesk.credit import service as credit_service
from riskdesk.customers.intake import CUSTOMER_HANDLERS
from riskdesk.db import unit_of_work
from riskdesk.events.intake import EVENT_HANDLERS
from riskdesk.events.schemas import IntakeReport, IntakeRowResult
from riskdesk.indicators import service as indicator_service
from riskdesk.kit.errors import ErrorDetail, PayloadTooLarge, ValidationFailed
from riskdesk.kit.intake import Handler, Item, WriteContext, mark_repeats, validate_items
from riskdesk.kit.tabular import ColumnMapping, apply_mapping, read_table
from riskdesk.kit.timeutil import utcnow
from riskdesk.models import ImportJob
from riskdesk.monitoring import service as monitoring_service
from riskdesk.policy import service as _policy  # noqa: F401  (authority of a new customer's creator)
from riskdesk.security.service import Principal

# File and API kinds, in the order a full load must follow (references point backwards).
HANDLERS: dict[str, Handler] = {**CUSTOMER_HANDLERS, **EVENT_HANDLERS}  # type: ignore[dict-item]
KINDS = (
    "customers",
    "statements",
    "credit_reports",
    "orders",
    "invoices",
    "payments",
    "returns",
    "complaints",
    "surveys",
    "interactions",
    "contracts",
)
MAX_ERRORS_KEPT = 1000
# Kinds whose records change a customer's indicators (statements and bureau reports do not).
INDICATOR_KINDS = frozenset(
    {
        "customers",
        "orders",
        "invoices",
        "payments",
        "returns",
        "complaints",
        "surveys",
        "interactions",
    }
)
log = logging.getLogger(__name__)


class IntakeRejected(ValidationFailed):
    """Invalid records stopped the whole batch; nothing was written."""

    def __init__(self, report: IntakeReport, details: list[ErrorDetail]) -> None:
        super().__init__(
            f"{report.invalid} of {report.total} records are invalid; nothing was imported "
            "(send skip_invalid to import the valid ones)",
            details=details[:MAX_ERRORS_KEPT],
            code="validation_failed",
        )
        self.report = report


def handler_for(kind: str) -> Handler:
    """The handler of a kind, or a clear error."""
    try:
        return HANDLERS[kind]
    except KeyError:
        raise ValidationFailed(
            f"unknown kind {kind!r}; one of {', '.join(KINDS)}", field="kind", code="unknown_kind"
        ) from None


def ingest_items(
    session: Session,
    principal: Principal,
    kind: str,
    items: list[Item],
    *,
    skip_invalid: bool,
    channel: str,
    import_job_id: int | None = None,
    progress: Callable[[int], None] | None = None,
    refresh_indicators: bool = True,
) -> IntakeReport:
    """Validate, resolve and write; raise IntakeRejected when invalid rows stop the batch.

    The indicators of every customer whose events were written are refreshed in the same
    transaction, in one vectorised pass over those customers.
    """
    handler = handler_for(kind)
    ctx = WriteContext(
        principal=principal, channel=channel, import_job_id=import_job_id, progress=progress
    )
    validate_items(handler, items)
    mark_repeats(handler, items)
    by_row = {i.row: i for i in items}
    handler.resolve(session, [i for i in items if i.ok and "same_as_row" not in i.refs], ctx)
    _fail_repeats_of_invalid(items, by_row)
    if any(not i.ok for i in items) and not skip_invalid:
        report = _report(kind, items, imported=False)
        raise IntakeRejected(report, [e for i in items for e in i.errors])
    handler.write(session, [i for i in items if i.ok and "same_as_row" not in i.refs], ctx)
    _fail_repeats_of_invalid(items, by_row)
    if any(not i.ok for i in items) and not skip_invalid:
        # Some checks can only run while writing (e.g. a change's permissions); undo it all.
        report = _report(kind, items, imported=False)
        raise IntakeRejected(report, [e for i in items for e in i.errors])
    credit_service.apply_events(session, kind, items)
    if kind == "payments":
        paid = {i.customer_id for i in items if i.ok and i.status == "created"}
        credit_service.recheck_held(
            session, sorted(c for c in paid if c is not None), why="payment"
        )
    if refresh_indicators and kind in INDICATOR_KINDS:
        touched = {
            i.customer_id or (i.result_id if kind == "customers" else None)
            for i in items
            if i.ok and i.status in ("created", "updated", "pending")
        }
        ids = sorted(c for c in touched if c is not None)
        indicator_service.refresh(session, ids)
        # Event -> indicators -> rules -> alerts, in the same transaction.
        monitoring_service.evaluate(session, ids)
    if kind == "complaints":
        named = {
            i.refs.get("product") or i.record.product
            for i in items
            if i.ok and i.status == "created"
        }
        complaints_service.detect_surges(session, products=sorted(p for p in named if p))
    for item in items:
        first = item.refs.get("same_as_row")
        if first is not None and item.ok:
            item.result_id = by_row[first].result_id
    session.flush()
    return _report(kind, items, imported=True)


def _fail_repeats_of_invalid(items: Sequence[Item], by_row: dict[int, Item]) -> None:
    # A repeat within the batch shares its first occurrence's fate: not "duplicate" of nothing.
    for item in items:
        first = item.refs.get("same_as_row")
        if first is not None and item.ok and not by_row[first].ok:
            item.fail("external_id", f"repeats row {first}, which is invalid", "invalid_repeat")


def ingest(
    session: Session,
    principal: Principal,
    kind: str,
    records: Sequence[dict[str, Any]],
    *,
    skip_invalid: bool = False,
    channel: str = "api",
) -> IntakeReport:
    """Take API records (rows are numbered from 1 in the order given)."""
    handler_for(kind)
    if len(records) > _max_batch():
        raise PayloadTooLarge(
            f"at most {_max_batch()} records per call; split the batch", field="records"
        )
    items = [Item(row=n, raw=dict(r)) for n, r in enumerate(records, start=1)]
    return ingest_items(session, principal, kind, items, skip_invalid=skip_invalid, channel=channel)


def _max_batch() -> int:
    from riskdesk.config import get_settings

    return get_settings().max_batch_records


def _report(kind: str, items: Sequence[Item], *, imported: bool) -> IntakeReport:
    counts = {"created": 0, "updated": 0, "pending": 0, "duplicate": 0, "invalid": 0}
    results = []
    for item in items:
        # A stopped batch never wrote its good rows: they are reported as "new" below.
        status = "invalid" if not item.ok else item.status
        if status in counts:
            counts[status] += 1
        key = (
            getattr(item.record, "external_id", None)
            if item.record is not None
            else item.raw.get("external_id")
        )
        results.append(
            IntakeRowResult(
                row=item.row,
                status=status if status in counts else "new",
                id=item.result_id if imported else None,
                external_id=str(key) if key is not None else None,
                errors=[e.as_dict() for e in item.errors],
            )
        )
    return IntakeReport(
        kind=kind,
        total=len(items),
        created=counts["created"],
        updated=counts["updated"],
        pending=counts["pending"],
        duplicates=counts["duplicate"],
        invalid=counts["invalid"],
        imported=imported,
        results=results,
    )


# ---------------------------------------------------------------- files


@dataclass(frozen=True)
class FileImportResult:
    """A finished import job and its report."""

    job: ImportJob
    report: IntakeReport | None


def read_file_items(
    kind: str, content: bytes, filename: str, mapping: ColumnMapping | None
) -> list[Item]:
    """A file's rows as intake items, numbered as a spreadsheet numbers them."""
    handler = handler_for(kind)
    frame = read_table(content, filename)
    rows, problems = apply_mapping(
        frame,
        mapping or ColumnMapping(),
        handler.file_fields,
        getattr(handler, "file_prefixes", ()),
    )
    if problems:
        raise ValidationFailed(
            "the column mapping does not fit the file",
            field="mapping",
            code="bad_mapping",
            details=problems,
        )
    if not rows:
        raise ValidationFailed("the file has no data rows", field="file", code="empty_file")
    return handler.group_rows(rows, first_row=2)


# Progress of running imports, by job id. Kept in memory because the import's own transaction
# holds SQLite's write lock; the worker scale-out can move this to the database or Redis.
_PROGRESS: dict[int, tuple[int, int]] = {}
_PROGRESS_LOCK = threading.Lock()


def progress_of(job: ImportJob) -> tuple[int, int]:
    """(rows done, rows in all) of a job, live while it runs."""
    with _PROGRESS_LOCK:
        live = _PROGRESS.get(job.id)
    if live is not None and job.status == "running":
        return live
    return job.processed_rows, job.total_rows


def create_job(
    session: Session,
    principal: Principal,
    *,
    kind: str,
    filename: str,
    content: bytes,
    skip_invalid: bool,
) -> ImportJob:
    """The row that records an import from its start."""
    job = ImportJob(
        kind=kind,
        filename=filename[:255],
        file_sha256=hashlib.sha256(content).hexdigest(),
        status="running",
        skip_invalid=skip_invalid,
        created_by_id=principal.user_id,
        errors=[],
    )
    session.add(job)
    session.flush()
    return job


def import_file(
    factory: sessionmaker[Session],
    principal_loader: Callable[[Session], Principal],
    *,
    kind: str,
    content: bytes,
    filename: str,
    mapping: ColumnMapping | None,
    skip_invalid: bool,
    channel: str = "import",
    on_total: Callable[[int], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> FileImportResult:
    """Record a job and run it now (CLI and API)."""
    with unit_of_work(factory) as session:
        job = create_job(
            session,
            principal_loader(session),
            kind=kind,
            filename=filename,
            content=content,
            skip_invalid=skip_invalid,
        )
        job_id = job.id
    return run_job(
        factory,
        principal_loader,
        job_id,
        kind=kind,
        content=content,
        filename=filename,
        mapping=mapping,
        skip_invalid=skip_invalid,
        channel=channel,
        on_total=on_total,
        progress=progress,
    )


def run_job(
    factory: sessionmaker[Session],
    principal_loader: Callable[[Session], Principal],
    job_id: int,
    *,
    kind: str,
    content: bytes,
    filename: str,
    mapping: ColumnMapping | None,
    skip_invalid: bool,
    channel: str = "import",
    on_total: Callable[[int], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> FileImportResult:
    """Import a whole file in one transaction; the job row records the outcome."""
    done = 0
    total = 0

    def track(n: int) -> None:
        nonlocal done
        done += n
        with _PROGRESS_LOCK:
            _PROGRESS[job_id] = (done, total)
        if progress:
            progress(n)

    try:
        items = read_file_items(kind, content, filename, mapping)
        total = len(items)
        with _PROGRESS_LOCK:
            _PROGRESS[job_id] = (0, total)
        if on_total:
            on_total(total)
        with unit_of_work(factory) as session:
            principal = principal_loader(session)
            report = ingest_items(
                session,
                principal,
                kind,
                items,
                skip_invalid=skip_invalid,
                channel=channel,
                import_job_id=job_id,
                progress=track,
            )
        return FileImportResult(job=_finish(factory, job_id, "done", report, None), report=report)
    except IntakeRejected as exc:
        return FileImportResult(
            job=_finish(factory, job_id, "rejected", exc.report, exc), report=exc.report
        )
    except ValidationFailed as exc:
        return FileImportResult(job=_finish(factory, job_id, "failed", None, exc), report=None)
    except Exception as exc:
        log.exception("import %s failed", job_id)
        failure = ValidationFailed(f"the import failed: {type(exc).__name__}", code="import_failed")
        _finish(factory, job_id, "failed", None, failure)
        raise
    finally:
        with _PROGRESS_LOCK:
            _PROGRESS.pop(job_id, None)


def _finish(
    factory: sessionmaker[Session],
    job_id: int,
    status: str,
    report: IntakeReport | None,
    error: ValidationFailed | None,
) -> ImportJob:
    with unit_of_work(factory) as session:
        job = session.get(ImportJob, job_id)
        assert job is not None
        job.status = status
        job.finished_at = utcnow()
        if report is not None:
            job.total_rows = report.total
            job.processed_rows = report.total
            job.invalid_rows = report.invalid
            job.created_count = report.created
            job.updated_count = report.updated + report.pending
            job.duplicate_count = report.duplicates
        errors: list[dict[str, Any]] = []
        if report is not None:
            errors = [e for r in report.results for e in r.errors][:MAX_ERRORS_KEPT]
        if error is not None and not errors:
            errors = [d.as_dict() for d in error.details][:MAX_ERRORS_KEPT] or [
                {"field": error.field, "code": error.code, "reason": error.message}
            ]
        job.errors = errors
        job.message = error.message[:500] if error is not None else None
        session.flush()
        session.expunge(job)
        return job
