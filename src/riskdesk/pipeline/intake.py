"""Intake of customers and events from the API and from files, the same way for both."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy.orm import Session, sessionmaker

from riskdesk.config import Settings, get_settings
from riskdesk.credit import service as credit_service
from riskdesk.customers.intake import CUSTOMER_HANDLERS
from riskdesk.db import reading, unit_of_work
from riskdesk.events.intake import EVENT_HANDLERS
from riskdesk.events.schemas import IntakeReport, IntakeRowResult
from riskdesk.kit import metrics
from riskdesk.kit.errors import ErrorDetail, PayloadTooLarge, RiskdeskError, ValidationFailed
from riskdesk.kit.intake import Handler, Item, WriteContext, mark_repeats, validate_items
from riskdesk.kit.tabular import (
    HEADER_ROWS,
    ColumnMapping,
    FileLimits,
    MappedTable,
    map_columns,
    read_table,
)
from riskdesk.kit.timeutil import utcnow
from riskdesk.models import ImportJob
from riskdesk.pipeline import guide, processing
from riskdesk.pipeline import progress as progress_boards
from riskdesk.pipeline import repository as repo
from riskdesk.pipeline.progress import ProgressBoard
from riskdesk.policy import service as _policy  # noqa: F401  (authority of a new customer's creator)
from riskdesk.redis_store import SharedRedis
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
    "order_cancellations",
    "credit_notes",
    "invoice_adjustments",
    "payment_reversals",
    "complaints",
    "surveys",
    "interactions",
    "contracts",
)
MAX_ERRORS_KEPT = 1000
RESULTS_KEPT = 10_000  # a file's report lists every row up to this many, then only errors
CHUNK_ROWS = 5_000  # file rows checked at a time (phase 1: nothing written, no write lock)
# File rows written per transaction (phase 2). Each transaction holds SQLite's one write lock:
# 500 one-line orders take some 50-100 ms at low load (docs/benchmarks.md, "Imports in short
# transactions"), which an order posted meanwhile may wait. Fewer rows: shorter waits, a slower
# import (each transaction also queues its customers and moves the cursor).
WRITE_ROWS = 500
# A file of up to this many rows keeps the records its check validated for the write (each one
# validated once, not twice: validation is about a third of an import's time); a larger one
# validates again as it writes, so that memory stays bounded by a chunk, not the file.
KEEP_CHECKED_ROWS = 20_000
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
        *("order_cancellations", "credit_notes", "invoice_adjustments", "payment_reversals"),
    }
)
# Corrections change rows already in a customer's indicator state (an order gone, an invoice's
# amount, a payment undone): the worker rebuilds the state of their customers rather than
# merging the rows written. Those that free credit recheck the customers' held orders.
CORRECTION_KINDS = frozenset(
    {"order_cancellations", "credit_notes", "invoice_adjustments", "payment_reversals"}
)
FREEING_KINDS = frozenset({"order_cancellations", "credit_notes", "invoice_adjustments"})
log = logging.getLogger(__name__)


class ImportConflict(ValidationFailed):
    """A row that passed the file's check became invalid before its chunk was written (another
    source wrote its key, or an invoice it pays was paid meanwhile): the rows before its chunk
    stay written, nothing after."""

    def __init__(self, raced: Sequence[Item], written: int, total: int) -> None:
        first = raced[0].errors[0]
        super().__init__(
            f"row {first.row}, {first.field or 'record'}: {first.reason} (this changed after "
            f"the file was checked); {written} of {total} rows were imported, none after. "
            "Correct it and send the file again: the rows already imported are recognised",
            details=[e for i in raced for e in i.errors][:MAX_ERRORS_KEPT],
            field=first.field,
            code="import_conflict",
        )


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

    Every customer whose events were written is queued for processing (indicators, rules,
    alerts), which a worker does once the caller's transaction commits.
    """
    ctx = WriteContext(
        principal=principal, channel=channel, import_job_id=import_job_id, progress=progress
    )
    run = _Run(kind, skip_invalid=skip_invalid, keep_results=len(items))
    run.take(session, items, ctx)
    return run.finish(session, refresh_indicators=refresh_indicators)


class _Run:
    """One intake in one transaction, fed one chunk of items at a time.

    A chunk is validated, resolved and written, and then only its outcome is kept (counts,
    errors, the first rows' results): a file of a million rows never holds a million records.
    Once a chunk has an invalid record and invalid ones are not skipped, the later chunks are
    still checked, so the report lists every invalid row, but nothing more is written and the
    caller's transaction is rolled back by the IntakeRejected that ``finish`` raises.
    """

    def __init__(self, kind: str, *, skip_invalid: bool, keep_results: int) -> None:
        self.kind = kind
        self.handler = handler_for(kind)
        self.skip_invalid = skip_invalid
        self.keep_results = keep_results
        self.stopped = False
        self.total = 0
        self.counts = {"created": 0, "updated": 0, "pending": 0, "duplicate": 0, "invalid": 0}
        self.results: list[tuple[int, str, int | None, str | None, list[dict[str, Any]]]] = []
        self.complete = True
        self.errors: list[ErrorDetail] = []
        self.touched: set[int] = set()
        # Per customer touched, the ids of the rows written for it (None: not known).
        self.refs: dict[int, set[int] | None] = {}
        self.paid: set[int] = set()
        self.corrected: set[int] = set()  # customers whose held orders a correction may free
        # Rows a file's check found invalid, with their errors (None past what a report lists).
        self.bad: dict[int, list[ErrorDetail] | None] = {}
        self.counted = 0  # records written that the metrics already count
        # Customer -> its queue row from an earlier part (a file import settles per part):
        # a later part's rows join it while it waits, instead of one row per customer a part.
        self.waiting: dict[int, int] = {}

    def take(self, session: Session, items: list[Item], ctx: WriteContext) -> None:
        """Validate, resolve and (unless stopped) write one chunk; keep its outcome."""
        handler = self.handler
        validate_items(handler, items)
        mark_repeats(handler, items)
        by_row = {i.row: i for i in items}
        handler.resolve(session, [i for i in items if i.ok and "same_as_row" not in i.refs], ctx)
        _fail_repeats_of_invalid(items, by_row)
        if any(not i.ok for i in items) and not self.skip_invalid:
            self.stopped = True
        if not self.stopped:
            handler.write(session, [i for i in items if i.ok and "same_as_row" not in i.refs], ctx)
            _fail_repeats_of_invalid(items, by_row)
            # Some checks can only run while writing (e.g. a change's permissions).
            if any(not i.ok for i in items) and not self.skip_invalid:
                self.stopped = True
        if not self.stopped:
            self._written(session, items, by_row)
        self._keep(items)

    def check(
        self, session: Session, items: list[Item], ctx: WriteContext, earlier: dict[int, int]
    ) -> None:
        """Phase 1 of a file: validate and resolve one chunk, writing nothing, against the
        database and the file's earlier chunks (``earlier``: their keys; ``ctx.carry``: what
        their records add up to); keep its outcome, and its invalid rows for phase 2."""
        handler = self.handler
        validate_items(handler, items)
        mark_repeats(handler, items, earlier)
        by_row = {i.row: i for i in items}
        fresh = [i for i in items if i.ok and "same_as_row" not in i.refs]
        handler.resolve(session, fresh, ctx)
        more: Callable[[Session, Sequence[Item], WriteContext], None] | None = getattr(
            handler, "check", None
        )
        if more is not None:  # what only writing would otherwise find out
            more(session, [i for i in fresh if i.ok], ctx)
        _fail_repeats_of_invalid(items, by_row)
        if any(not i.ok for i in items) and not self.skip_invalid:
            self.stopped = True
        for item in items:
            if not item.ok:
                # The errors of the rows a report can list; the others only their number.
                keep = len(self.bad) < self.keep_results + MAX_ERRORS_KEPT
                self.bad[item.row] = list(item.errors) if keep else None
        self._keep(items)

    def write_checked(
        self, session: Session, items: list[Item], ctx: WriteContext, bad: dict[int, Any]
    ) -> list[Item]:
        """Phase 2 of a file: resolve one checked chunk again inside its transaction (its own
        keys and references: cheap) and write it; the rows that turned invalid since the
        check, which stop the file unless invalid rows are skipped (then nothing was written).

        ``items`` were validated outside the transaction; ``bad`` holds the rows the check
        found invalid, which stay so (skipped)."""
        handler = self.handler
        for item in items:
            if item.row in bad and item.ok:
                for error in bad[item.row] or [_CHECKED_INVALID]:
                    item.fail(error.field, error.reason, error.code)
        mark_repeats(handler, items)
        by_row = {i.row: i for i in items}
        handler.resolve(session, [i for i in items if i.ok and "same_as_row" not in i.refs], ctx)
        _fail_repeats_of_invalid(items, by_row)
        raced = [i for i in items if not i.ok and i.row not in bad]
        if raced and not self.skip_invalid:
            return raced
        handler.write(session, [i for i in items if i.ok and "same_as_row" not in i.refs], ctx)
        _fail_repeats_of_invalid(items, by_row)
        raced = [i for i in items if not i.ok and i.row not in bad]
        if raced and not self.skip_invalid:
            return raced
        self._written(session, items, by_row)
        self._keep(items)
        return []

    def settle(self, session: Session) -> list[int]:
        """Recheck held orders and queue the touched customers for processing, in the
        transaction that wrote their records; the queue rows written."""
        self._hand_on(session, queue=True)
        metrics.count_on_commit(
            session, metrics.EVENTS_WRITTEN, (self.kind,), self.counts_written - self.counted
        )
        self.counted = self.counts_written
        self.paid, self.corrected, self.touched, self.refs = set(), set(), set(), {}
        return processing.queued_ids(session)

    @property
    def counts_written(self) -> int:
        """Records created or updated so far."""
        return self.counts["created"] + self.counts["updated"]

    def _written(self, session: Session, items: list[Item], by_row: dict[int, Item]) -> None:
        kind = self.kind
        credit_service.apply_events(session, kind, items)
        done = [i for i in items if i.ok]
        if kind == "payments":
            self.paid |= {i.customer_id for i in done if i.status == "created" and i.customer_id}
        elif kind in FREEING_KINDS:
            self.corrected |= {
                i.customer_id for i in done if i.status == "created" and i.customer_id
            }
        if kind in INDICATOR_KINDS:
            for i in done:
                if i.status in ("created", "updated", "pending"):
                    cid = i.customer_id or (i.result_id if kind == "customers" else None)
                    if cid is not None:
                        self.touched.add(cid)
                        self._refer(cid, i)
        for item in items:
            first = item.refs.get("same_as_row")
            if first is not None and item.ok:
                item.result_id = by_row[first].result_id

    def _refer(self, customer_id: int, item: Item) -> None:
        """Note the row an item wrote, which the worker reads into the customer's indicator
        state (a customer's own attributes are read fresh there: nothing to note)."""
        if customer_id in self.refs and self.refs[customer_id] is None:
            return
        ids = self.refs.setdefault(customer_id, set())
        if self.kind == "customers":
            return
        if self.kind in CORRECTION_KINDS or item.status == "pending" or item.result_id is None:
            self.refs[customer_id] = None  # not written yet, or not known: rebuild
        else:
            assert ids is not None
            ids.add(item.result_id)

    def _keep(self, items: list[Item]) -> None:
        for item in items:
            status = "invalid" if not item.ok else item.status
            if status in self.counts:
                self.counts[status] += 1
            errors = [e.as_dict() for e in item.errors]
            if len(self.errors) < MAX_ERRORS_KEPT:
                self.errors.extend(item.errors[: MAX_ERRORS_KEPT - len(self.errors)])
            self.total += 1
            room = len(self.results) < self.keep_results + MAX_ERRORS_KEPT
            if not (self.total <= self.keep_results or (errors and room)):
                self.complete = False  # a huge file's report lists its first rows and errors
                continue
            key = (
                getattr(item.record, "external_id", None)
                if item.record is not None
                else item.raw.get("external_id")
            )
            self.results.append(
                (item.row, status, item.result_id, str(key) if key is not None else None, errors)
            )

    def finish(self, session: Session, *, refresh_indicators: bool = True) -> IntakeReport:
        """Raise IntakeRejected if invalid records stopped the intake; otherwise recheck held
        orders and queue the customers the intake touched for processing (indicators, rules,
        alerts), which a worker does once this commits. (Complaint surges on a product are a
        periodic job's: ``complaints.tasks``.)"""
        if self.stopped:
            report = self.report(imported=False)
            raise IntakeRejected(report, self.errors)
        self._hand_on(session, queue=refresh_indicators)
        written = self.counts["created"] + self.counts["updated"]
        metrics.count_on_commit(session, metrics.EVENTS_WRITTEN, (self.kind,), written)
        return self.report(imported=True)

    def _hand_on(self, session: Session, *, queue: bool) -> None:
        """Recheck the held orders of customers who paid and (``queue``) queue the touched
        customers: indicators, rules, alerts and playbooks run in a worker once this
        commits."""
        if self.paid:
            credit_service.recheck_held(session, sorted(self.paid), why="payment")
        if self.corrected:
            credit_service.recheck_held(session, sorted(self.corrected), why="correction")
        if queue and self.touched:
            queued = processing.enqueue(
                session,
                self.touched,
                self.kind,
                partitions=get_settings().event_partitions,
                refs=self.refs,
                waiting=self.waiting,
            )
            self.waiting.update(queued)
        session.flush()

    def report(self, *, imported: bool) -> IntakeReport:
        """What became of the records; a stopped intake wrote nothing, so none is "created"."""
        counts = dict(self.counts)
        if not imported:
            for written in ("created", "updated", "pending"):
                counts[written] = 0
        results = []
        for row, status, result_id, key, errors in self.results:
            if not imported and status in ("created", "updated", "pending"):
                status = "new"
            results.append(
                IntakeRowResult(
                    row=row,
                    status=status if status in counts else "new",
                    id=result_id if imported else None,
                    external_id=key,
                    errors=errors,
                )
            )
        return IntakeReport(
            kind=self.kind,
            total=self.total,
            created=counts["created"],
            updated=counts["updated"],
            pending=counts["pending"],
            duplicates=counts["duplicate"],
            invalid=counts["invalid"],
            imported=imported,
            results=results,
            results_complete=self.complete,
        )


# The reason of a row the check found invalid, past the rows whose errors it keeps.
_CHECKED_INVALID = ErrorDetail(
    field=None, reason="invalid when the file was checked", code="invalid", row=None
)


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


# ---------------------------------------------------------------- files


@dataclass(frozen=True)
class FileImportResult:
    """A finished import job and its report."""

    job: ImportJob
    report: IntakeReport | None
    queued: tuple[int, ...] = ()  # the work it queued for processing (event queue row ids)


def read_file_table(
    kind: str,
    content: bytes,
    filename: str,
    mapping: ColumnMapping | None,
    *,
    encoding: str | None = None,
    limits: FileLimits | None = None,
) -> MappedTable:
    """A file's rows under the kind's field names, refused early when over the limits."""
    handler = handler_for(kind)
    frame = read_table(content, filename, encoding=encoding, limits=limits or file_limits())
    if not frame.width:
        raise ValidationFailed(
            "the file is empty: its first row must name the columns (a template shows them)",
            field="file",
            code="empty_file",
        )
    mapping = mapping or ColumnMapping()
    table, problems = map_columns(
        frame, mapping, handler.file_fields, getattr(handler, "file_prefixes", ())
    )
    if table is None:
        raise ValidationFailed(
            "the column mapping does not fit the file",
            field="mapping",
            code="bad_mapping",
            details=problems,
        )
    if not frame.height and table.frame.width:
        raise ValidationFailed(
            "the file has a header row but no data rows", field="file", code="empty_file"
        )
    _check_columns(kind, table)  # no column recognised: a row of data where the header goes?
    if not frame.height:
        raise ValidationFailed(
            "the file has a header row but no data rows", field="file", code="empty_file"
        )
    return _read_values(kind, table, mapping)


def _check_columns(kind: str, table: MappedTable) -> None:
    """Refuse a file whose columns do not give the kind's required fields (nor any field), naming
    the columns not recognised and the required fields missing: a mapping is needed."""
    given = set(table.frame.columns) | {k for k, v in table.defaults.items() if v is not None}
    missing = [f for f in guide.required_fields(kind) if f not in given]
    if table.frame.width and not missing:
        return
    unused = [c for c in table.unused if not c.startswith("__UNNAMED__")]
    details = [
        ErrorDetail(field=c, code="unknown_column", reason=f"column {c!r} is not a field of {kind}")
        for c in unused
    ] + [
        ErrorDetail(
            field=f, code="required_column", reason=f"no column gives {f}, which is required"
        )
        for f in missing
    ]
    said = []
    if unused:
        said.append(f"columns not recognised: {', '.join(unused[:20])}")
    if missing:
        said.append(f"required fields missing: {', '.join(missing)}")
    raise ValidationFailed(
        f"the file's columns do not match {kind} ({'; '.join(said)}); name the columns as the "
        "template does, or give a column mapping",
        field="mapping",
        code="mapping_needed",
        details=details[:MAX_ERRORS_KEPT],
    )


def _read_values(kind: str, table: MappedTable, mapping: ColumnMapping) -> MappedTable:
    """The table with its values as the kind's model takes them: the mapping's value tables
    first, then an enumerated value's label (企业, Company) as its code (pipeline.guide)."""
    readings = guide.value_readings(kind)
    changes = []
    for name in table.frame.columns:
        given = mapping.values.get(name, {})
        said = readings.get(name, {})
        if not given and not said:
            continue
        column = pl.col(name).str.strip_chars()
        if given:
            column = column.replace(given)
        if said:
            folded = column.str.replace_all(r"\s+", "").str.to_lowercase()
            column = pl.when(folded.is_in(list(said))).then(folded.replace(said)).otherwise(column)
        changes.append(column.alias(name))
    frame = table.frame.with_columns(changes) if changes else table.frame
    defaults = {
        k: guide.read_value(kind, k, mapping.values.get(k, {}).get(str(v), v))
        if isinstance(v, str | int)
        else v
        for k, v in table.defaults.items()
    }
    return MappedTable(frame, defaults, table.unused, guide.defaulted_fields(kind))


def item_chunks(
    kind: str, table: MappedTable, chunk_rows: int | None = None
) -> Iterator[tuple[list[Item], int]]:
    """(records, rows they came from) a chunk at a time (``chunk_rows``, default CHUNK_ROWS,
    read when called), numbered as a spreadsheet numbers rows. Rows that make one record (an
    order's lines) are kept in one chunk, wherever they stand in the file."""
    chunk_rows = chunk_rows or CHUNK_ROWS
    handler = handler_for(kind)
    frame = table.frame.with_row_index("_n", offset=HEADER_ROWS + 1)
    keys = [f for f in handler.group_fields if f in frame.columns]
    if "external_id" in keys:
        # A 64-bit hash of each row's key (rows without one get a number of their own): a
        # grouping never finer than group_rows' own, at 8 bytes a row where grouping the text
        # itself costs hundreds of megabytes for a million rows.
        key = (
            pl.when(pl.col("external_id").is_null())
            .then(pl.col("_n").cast(pl.UInt64) ^ _NO_KEY)
            .otherwise(pl.struct(keys).hash(seed=0))
        )
        hashed = frame.select(key).to_series()
        changes = hashed.ne_missing(hashed.shift(1))
        if int(changes.sum()) != hashed.n_unique():
            # Some record's rows are apart: bring them together, in order of first appearance.
            first = frame.select(pl.col("_n").min().over(key)).to_series()
            order = pl.DataFrame({"g": first, "n": frame.get_column("_n")}).select(
                pl.int_range(pl.len()).sort_by("g", "n")
            )
            frame = frame[order.to_series()]
            hashed = hashed[order.to_series()]
            changes = hashed.ne_missing(hashed.shift(1))
        starts = changes.arg_true().to_numpy()
    else:
        starts = np.arange(frame.height)
    begin = 0
    while begin < frame.height:
        end = begin + chunk_rows
        if end < frame.height:  # end where a record starts
            at = int(np.searchsorted(starts, end))
            end = int(starts[at]) if at < len(starts) else frame.height
        part = frame.slice(begin, end - begin)
        numbers = part.get_column("_n").to_list()
        rows = table.rows(part.select(table.frame.columns))
        yield handler.group_rows(rows, numbers), len(numbers)
        begin = end


_NO_KEY = 0x9E3779B97F4A7C15  # mixes a row number away from the hashes of real keys


def read_file_items(
    kind: str, content: bytes, filename: str, mapping: ColumnMapping | None
) -> list[Item]:
    """A (small) file's records, numbered as a spreadsheet numbers them."""
    table = read_file_table(kind, content, filename, mapping)
    return [item for items, _ in item_chunks(kind, table, table.height) for item in items]


def file_limits(settings: Settings | None = None) -> FileLimits:
    """The import limits in force."""
    from riskdesk.config import get_settings

    settings = settings or get_settings()
    return FileLimits(
        max_rows=settings.import_max_rows,
        max_uncompressed_mb=settings.import_max_uncompressed_mb,
    )


# Progress of running imports, by job id, in this process. It is also published where every API
# node reads it (pipeline.progress: Redis, or the job row on PostgreSQL); on SQLite without Redis
# the import's own transaction holds the one write lock, and one process serves the database.
_PROGRESS: dict[int, tuple[int, int]] = {}
_STARTING: set[int] = set()  # jobs created here whose runner has not yet taken the lease
_PROGRESS_LOCK = threading.Lock()


def progress_of(job: ImportJob, board: ProgressBoard | None = None) -> tuple[int, int]:
    """(rows done, rows in all) of a job, live while it runs: from this process when it runs
    the job, else from the board it publishes to (Redis), else from its row."""
    if job.status == "running":
        with _PROGRESS_LOCK:
            live = _PROGRESS.get(job.id)
        if live is None and board is not None:
            live = board.read(job.id)
        if live is not None:
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
    with _PROGRESS_LOCK:
        _STARTING.add(job.id)  # until its runner holds the lease
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
    encoding: str | None = None,
    limits: FileLimits | None = None,
    channel: str = "import",
    on_total: Callable[[int], None] | None = None,
    progress: Callable[[int], None] | None = None,
    shared: SharedRedis | None = None,
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
        encoding=encoding,
        limits=limits,
        channel=channel,
        on_total=on_total,
        progress=progress,
        shared=shared,
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
    encoding: str | None = None,
    limits: FileLimits | None = None,
    channel: str = "import",
    on_total: Callable[[int], None] | None = None,
    progress: Callable[[int], None] | None = None,
    shared: SharedRedis | None = None,
) -> FileImportResult:
    """Import a whole file: check every row first, writing nothing, then write it in short
    transactions of ``WRITE_ROWS`` rows, each recording the job's cursor (rows written) with
    them; the job row records the outcome. A file over the limits fails the job and raises
    PayloadTooLarge (413). Its progress is published to ``shared`` Redis when given (see
    pipeline.progress)."""
    with repo.job_lease(factory.kw["bind"], job_id):
        with _PROGRESS_LOCK:
            _STARTING.discard(job_id)
        written = 0  # file rows committed: the job's cursor
        total = 0
        board = progress_boards.board_for(factory.kw["bind"], shared)
        shared_at = 0.0

        def track(n: int) -> None:
            nonlocal shared_at
            with _PROGRESS_LOCK:
                _PROGRESS[job_id] = (written, total)
            if board is not None and time.monotonic() - shared_at >= board.interval:
                # Every API node shows the job's progress, not only the one running it.
                board.publish(job_id, written, total)
                shared_at = time.monotonic()
            if progress:
                progress(n)

        try:
            table = read_file_table(
                kind, content, filename, mapping, encoding=encoding, limits=limits
            )
            total = table.height
            with _PROGRESS_LOCK:
                _PROGRESS[job_id] = (0, total)
            if board is not None:
                board.publish(job_id, 0, total)
            if on_total:
                on_total(total)
            _begin(factory, job_id, total)
            checked: dict[int, tuple[Any, str]] | None = {} if total <= KEEP_CHECKED_ROWS else None
            bad = _check_file(
                factory, principal_loader, job_id, kind, table, skip_invalid, channel, checked
            )
            run = _Run(kind, skip_invalid=skip_invalid, keep_results=RESULTS_KEPT)
            queued: list[int] = []
            report: IntakeReport | None = None
            for (items, rows), last in _with_last(item_chunks(kind, table, WRITE_ROWS)):
                _validated(run.handler, items, checked)  # outside the transaction
                with unit_of_work(factory) as session:
                    job = repo.job_for_update(session, job_id)
                    if job is None or job.status != "running" or job.processed_rows != written:
                        # Reaped, or another runner: this one must not write on.
                        raise ImportTakenOver(job_id)
                    ctx = WriteContext(
                        principal=principal_loader(session), channel=channel, import_job_id=job_id
                    )
                    raced = run.write_checked(session, items, ctx, bad)
                    if raced:
                        raise ImportConflict(raced, written, total)
                    queued += run.settle(session)
                    _advance(job, run, written + rows, total)
                    if last:
                        report = run.report(imported=True)
                        _mark(job, "done", report, None)
                    session.flush()
                written += rows
                track(rows)
            del table
            assert report is not None
            if queued:
                report.processing = "queued"
            done_job = _detached(factory, job_id)
            return FileImportResult(job=done_job, report=report, queued=tuple(queued))
        except IntakeRejected as exc:
            return FileImportResult(
                job=_finish(factory, job_id, "rejected", exc.report, exc), report=exc.report
            )
        except ImportTakenOver:
            log.warning("import %s was taken over or reaped; this runner stopped", job_id)
            return FileImportResult(job=_detached(factory, job_id), report=None)
        except ValidationFailed as exc:
            status = "interrupted" if written else "failed"
            return FileImportResult(job=_finish(factory, job_id, status, None, exc), report=None)
        except PayloadTooLarge as exc:
            _finish(factory, job_id, "failed", None, exc)
            raise
        except Exception as exc:
            log.exception("import %s failed", job_id)
            failure = ValidationFailed(
                f"the import failed: {type(exc).__name__}", code="import_failed"
            )
            if written:
                failure = _stopped_partway(written, total)
            _finish(factory, job_id, "interrupted" if written else "failed", None, failure)
            raise
        finally:
            with _PROGRESS_LOCK:
                _PROGRESS.pop(job_id, None)
            if board is not None:
                board.clear(job_id)


class ImportTakenOver(Exception):
    """The job is no longer this runner's to write (reaped meanwhile, or run elsewhere)."""


def _check_file(
    factory: sessionmaker[Session],
    principal_loader: Callable[[Session], Principal],
    job_id: int,
    kind: str,
    table: MappedTable,
    skip_invalid: bool,
    channel: str,
    checked: dict[int, tuple[Any, str]] | None = None,
) -> dict[int, list[ErrorDetail] | None]:
    """Phase 1: every row checked on one read snapshot, with nothing written and no write lock
    held; raise IntakeRejected when invalid rows stop the file, else its invalid rows. Each
    valid row's record and content hash go into ``checked`` when given (a small file)."""
    with reading(factory) as session:
        ctx = WriteContext(
            principal=principal_loader(session), channel=channel, import_job_id=job_id, carry={}
        )
        check = _Run(kind, skip_invalid=skip_invalid, keep_results=RESULTS_KEPT)
        earlier: dict[int, int] = {}  # the keys of the chunks checked so far
        for items, _rows in item_chunks(kind, table):
            check.check(session, items, ctx, earlier)
            if checked is not None:
                checked.update(
                    (i.row, (i.record, i.content_hash)) for i in items if i.record is not None
                )
    if check.stopped:
        raise IntakeRejected(check.report(imported=False), check.errors)
    return check.bad


def _validated(
    handler: Handler, items: list[Item], checked: dict[int, tuple[Any, str]] | None
) -> None:
    """Phase 2's records: the ones the check validated where it kept them (records are not
    changed after validation), the others validated again."""
    if checked is not None:
        for item in items:
            kept = checked.pop(item.row, None)
            if kept is not None:
                item.record, item.content_hash = kept
    validate_items(handler, [i for i in items if i.record is None])


def _with_last(chunks: Iterator[tuple[list[Item], int]]) -> Iterator[tuple[Any, bool]]:
    """Each chunk with whether it is the last (which also marks the job done)."""
    ahead = next(chunks, None)
    while ahead is not None:
        following = next(chunks, None)
        yield ahead, following is None
        ahead = following


def _begin(factory: sessionmaker[Session], job_id: int, total: int) -> None:
    """Record the file's size on the job before its rows are checked."""
    with unit_of_work(factory) as session:
        job = repo.job_for_update(session, job_id)
        assert job is not None
        job.total_rows = total
        session.flush()


def _advance(job: ImportJob, run: _Run, written: int, total: int) -> None:
    """The job's cursor and counts, committed with the rows they count."""
    job.processed_rows = written
    job.total_rows = total
    job.created_count = run.counts["created"]
    job.updated_count = run.counts["updated"] + run.counts["pending"]
    job.duplicate_count = run.counts["duplicate"]
    job.invalid_rows = run.counts["invalid"]
    if len(job.errors or []) < min(len(run.errors), MAX_ERRORS_KEPT):
        job.errors = [e.as_dict() for e in run.errors[:MAX_ERRORS_KEPT]]


def _stopped_partway(written: int, total: int) -> ValidationFailed:
    return ValidationFailed(
        f"the import stopped after {written} of {total} rows were written (those stay); send "
        "the same file again to import the rest: the rows already imported are recognised "
        "and change nothing",
        code="import_interrupted_partway",
    )


INTERRUPTED = (
    "the import was interrupted before it finished (its process stopped); nothing from it "
    "was imported: run it again"
)


def reap_interrupted(factory: sessionmaker[Session], *, grace_seconds: float = 60.0) -> list[int]:
    """Mark the jobs recorded as running whose process is gone; their ids.

    An import writes in short transactions, each with the job's cursor (rows written), so a
    lost one wrote exactly that many rows: none (it died while checking: "failed"), some
    ("interrupted", with the count; sending the same file again imports the rest once), or
    all ("done", but for the report it had no time to record). A job counts as lost when no
    process holds its lease and it is older than the grace (a new job's runner may not have
    taken its lease yet) and this process is not about to start it.
    """
    bind = factory.kw["bind"]
    with factory() as session:
        running = [(j.id, j.created_at) for j in repo.running_jobs(session)]
    if not running:
        return []
    cutoff = utcnow() - dt.timedelta(seconds=grace_seconds)
    with _PROGRESS_LOCK:
        here = _STARTING | set(_PROGRESS)
    lost = [
        job_id
        for job_id, created in running
        if job_id not in here and created <= cutoff and not repo.lease_held(bind, job_id)
    ]
    if not lost:
        return []
    with unit_of_work(factory) as session:
        for job in repo.running_jobs(session):  # re-read: one may have finished meanwhile
            if job.id not in lost:
                continue
            if not job.processed_rows:
                _mark(job, "failed", None, ValidationFailed(INTERRUPTED, code="import_interrupted"))
            elif job.processed_rows >= job.total_rows:
                _mark(job, "done", None, None)
            else:
                _mark(
                    job, "interrupted", None, _stopped_partway(job.processed_rows, job.total_rows)
                )
        session.flush()
    log.warning("imports %s were interrupted and are marked", lost)
    return lost


def _detached(factory: sessionmaker[Session], job_id: int) -> ImportJob:
    with factory() as session:
        job = session.get(ImportJob, job_id)
        assert job is not None
        session.expunge(job)
        return job


def _finish(
    factory: sessionmaker[Session],
    job_id: int,
    status: str,
    report: IntakeReport | None,
    error: RiskdeskError | None,
) -> ImportJob:
    with unit_of_work(factory) as session:
        job = session.get(ImportJob, job_id)
        assert job is not None
        _mark(job, status, report, error)
        session.flush()
        session.expunge(job)
        return job


def _mark(
    job: ImportJob, status: str, report: IntakeReport | None, error: RiskdeskError | None
) -> None:
    job.status = status
    job.finished_at = utcnow()
    if report is None and error is None:
        return  # the counts and errors are the ones committed with the rows
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
    if report is None and job.errors and error is not None and not error.details:
        # Stopped part way: the rows skipped so far keep their errors, the reason comes first.
        errors = [errors[0], *job.errors][:MAX_ERRORS_KEPT]
    job.errors = errors
    job.message = error.message[:500] if error is not None else None
