"""Files checked whole, then written in short transactions (issue 14, deliverable 5).

Phase 1 checks every row on a read snapshot and writes nothing; phase 2 writes chunks of
``intake.WRITE_ROWS`` file rows, each in its own transaction with the job's cursor. A runner
stopped between two chunks leaves exactly the rows of the chunks committed, and the job marked
``interrupted`` with that count; sending the same file again imports the rest once.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from riskdesk.credit import service as credit_service
from riskdesk.db import make_sessionmaker, unit_of_work
from riskdesk.kit.intake import Item
from riskdesk.models import (
    Complaint,
    Contract,
    CreditReport,
    Customer,
    FinancialStatement,
    ImportJob,
    Interaction,
    Invoice,
    Order,
    Payment,
    Return,
    SurveyResponse,
)
from riskdesk.pipeline import intake
from tests.conftest import principal
from tests.factories import company, invoice, order, uscc

MODELS: dict[str, Any] = {
    "customers": Customer,
    "statements": FinancialStatement,
    "credit_reports": CreditReport,
    "orders": Order,
    "invoices": Invoice,
    "payments": Payment,
    "returns": Return,
    "complaints": Complaint,
    "surveys": SurveyResponse,
    "interactions": Interaction,
    "contracts": Contract,
}
ROWS = 7


def _rows(kind: str, prefix: str) -> list[dict[str, str]]:
    """ROWS valid file rows of a kind, against the base records of ``_base``."""
    out = []
    for i in range(ROWS):
        ext = f"{prefix}{i}"
        event = {"source": "erp", "external_id": ext, "customer_external_id": f"{prefix}-C"}
        row: dict[str, str] = {
            "customers": {
                "source": "erp",
                "external_id": ext,
                "kind": "company",
                "name": f"分块客户有限公司{ext}",
                "tax_id": uscc(),
            },
            "statements": {
                "customer_external_id": f"{prefix}-C",
                "customer_source": "erp",
                "source": "erp",
                "period_end": f"{2015 + i}-12-31",
                "revenue": "1000.00",
            },
            "credit_reports": {
                "customer_external_id": f"{prefix}-C",
                "customer_source": "erp",
                "source": "bureau",
                "external_id": ext,
                "report_date": f"2026-01-0{i + 1}",
                "score": "600",
            },
            "orders": {
                **event,
                "ordered_at": "2026-01-05T10:00:00+00:00",
                "amount": "100.00",
                "currency": "CNY",
                "category": "office",
            },
            "invoices": {
                **event,
                "amount": "100.00",
                "currency": "CNY",
                "issue_date": "2026-01-10",
                "due_date": "2026-02-09",
            },
            "payments": {
                "source": "erp",
                "external_id": ext,
                "invoice_external_id": f"{prefix}-INV",
                "amount": "100.00",
                "currency": "CNY",
                "paid_on": "2026-02-01",
                "method": "bank_transfer",
            },
            "returns": {
                "source": "erp",
                "external_id": ext,
                "order_external_id": f"{prefix}-ORD",
                "amount": "100.00",
                "currency": "CNY",
                "returned_on": "2026-02-01",
                "reason": "defective",
            },
            "complaints": {
                **event,
                "category": "delivery",
                "severity": "low",
                "opened_at": "2026-02-01T08:00:00+00:00",
                "description": "late",
            },
            "surveys": {
                **event,
                "survey_type": "csat",
                "score": "4",
                "responded_at": "2026-02-01T08:00:00+00:00",
            },
            "interactions": {
                **event,
                "occurred_at": "2026-02-01T08:00:00+00:00",
                "channel": "phone",
                "kind": "sales_call",
            },
            "contracts": {**event, "signed_on": "2026-01-01"},
        }[kind]
        out.append(row)
    return out


def _csv(rows: list[dict[str, str]]) -> bytes:
    columns = list(rows[0])
    lines = [",".join(columns)] + [",".join(r.get(c, "") for c in columns) for r in rows]
    return ("\n".join(lines) + "\n").encode()


def _ingest(factory: sessionmaker[Session], kind: str, records: list[dict[str, Any]]) -> None:
    with unit_of_work(factory) as session:
        intake.ingest_items(
            session,
            principal(session, "manager"),
            kind,
            [Item(row=n, raw=r) for n, r in enumerate(records, start=1)],
            skip_invalid=False,
            channel="test",
        )


def _base(factory: sessionmaker[Session], prefix: str) -> None:
    """A customer, an order of 10,000 and an invoice of 10,000 that the rows name."""
    _ingest(factory, "customers", [company(f"{prefix}-C")])
    _ingest(factory, "orders", [order(f"{prefix}-ORD", f"{prefix}-C", "10000.00")])
    _ingest(factory, "invoices", [invoice(f"{prefix}-INV", f"{prefix}-C", "10000.00")])


def _import(
    factory: sessionmaker[Session],
    kind: str,
    content: bytes,
    *,
    skip_invalid: bool = False,
    progress: Any = None,
) -> intake.FileImportResult:
    return intake.import_file(
        factory,
        lambda s: principal(s, "manager"),
        kind=kind,
        content=content,
        filename=f"{kind}.csv",
        mapping=None,
        skip_invalid=skip_invalid,
        progress=progress,
    )


def _count(factory: sessionmaker[Session], model: Any) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


class ProcessDied(BaseException):
    """As if the process running the import stopped (not an error it could record)."""


def _die_after(chunks: int) -> Any:
    seen = 0

    def progress(_: int) -> None:
        nonlocal seen
        seen += 1
        if seen == chunks:
            raise ProcessDied

    return progress


@pytest.mark.parametrize("kind", list(MODELS))
def test_an_import_stopped_between_chunks_is_interrupted_and_a_resend_completes_it_once(
    factory, monkeypatch, kind
) -> None:
    monkeypatch.setattr(intake, "WRITE_ROWS", 2)
    prefix = f"IR{kind[:3].upper()}"
    _base(factory, prefix)
    content = _csv(_rows(kind, prefix))
    model = MODELS[kind]
    before = _count(factory, model)

    with pytest.raises(ProcessDied):
        _import(factory, kind, content, progress=_die_after(2))  # two chunks committed
    assert _count(factory, model) == before + 4
    with factory() as session:
        job = session.scalars(select(ImportJob).order_by(ImportJob.id.desc())).first()
        assert job is not None and job.status == "running"
        job_id = job.id
    assert intake.reap_interrupted(factory, grace_seconds=0) == [job_id]
    with factory() as session:
        job = session.get(ImportJob, job_id)
        assert job is not None and job.status == "interrupted"
        assert (job.processed_rows, job.total_rows, job.created_count) == (4, ROWS, 4)
        assert job.errors[0]["code"] == "import_interrupted_partway"

    again = _import(factory, kind, content)
    assert again.job.status == "done", again.job.errors
    assert (again.job.created_count, again.job.duplicate_count) == (ROWS - 4, 4)
    assert _count(factory, model) == before + ROWS  # every row exactly once
    with factory() as session:
        assert credit_service.verify(session) == []  # exposure moved once per row
    third = _import(factory, kind, content)
    assert (third.job.created_count, third.job.duplicate_count) == (0, ROWS)
    assert _count(factory, model) == before + ROWS


def test_a_late_invalid_row_stops_the_file_before_any_chunk_is_written(
    factory, monkeypatch
) -> None:
    monkeypatch.setattr(intake, "WRITE_ROWS", 2)
    monkeypatch.setattr(intake, "CHUNK_ROWS", 3)
    _base(factory, "LI")
    rows = _rows("orders", "LI")
    rows[-1]["amount"] = "-1"
    before = _count(factory, Order)
    result = _import(factory, "orders", _csv(rows))
    assert result.job.status == "rejected"
    assert {e["row"] for e in result.job.errors} == {ROWS + 1}
    assert result.job.created_count == 0
    assert _count(factory, Order) == before


@pytest.mark.parametrize("same", [True, False])
def test_a_key_repeated_in_another_chunk_is_caught_before_writing(
    factory, monkeypatch, same
) -> None:
    monkeypatch.setattr(intake, "CHUNK_ROWS", 2)
    monkeypatch.setattr(intake, "WRITE_ROWS", 2)
    _base(factory, "RP")
    rows = _rows("invoices", "RP")  # (an order's rows with one key are its lines)
    rows[6] = {**rows[0], "amount": "100.00" if same else "999.00"}
    before = _count(factory, Invoice)
    result = _import(factory, "invoices", _csv(rows))
    if same:
        assert result.job.status == "done"
        assert (result.job.created_count, result.job.duplicate_count) == (6, 1)
        assert _count(factory, Invoice) == before + 6
    else:
        assert result.job.status == "rejected"
        assert result.job.errors[0]["row"] == 8
        assert result.job.errors[0]["code"] == "idempotency_conflict"
        assert "row 2" in result.job.errors[0]["reason"]
        assert _count(factory, Invoice) == before


def test_a_customer_repeated_with_other_content_in_another_chunk_is_refused(
    factory, monkeypatch
) -> None:
    monkeypatch.setattr(intake, "CHUNK_ROWS", 2)
    rows = _rows("customers", "RC")
    rows[5] = {**rows[0], "name": "另一个名字有限公司"}
    before = _count(factory, Customer)
    result = _import(factory, "customers", _csv(rows))
    assert result.job.status == "rejected"
    assert (result.job.errors[0]["row"], result.job.errors[0]["field"]) == (7, "external_id")
    assert _count(factory, Customer) == before


def test_payments_in_later_chunks_count_against_the_invoice_before_any_is_written(
    factory, monkeypatch
) -> None:
    monkeypatch.setattr(intake, "CHUNK_ROWS", 1)
    _ingest(factory, "customers", [company("PA-C")])
    _ingest(factory, "invoices", [invoice("PA-INV", "PA-C", "1000.00")])
    rows = _rows("payments", "PA")[:3]
    for row in rows:
        row["amount"] = "400.00"
    before = _count(factory, Payment)
    result = _import(factory, "payments", _csv(rows))
    assert result.job.status == "rejected"
    assert [(e["row"], e["field"]) for e in result.job.errors] == [(4, "amount")]
    assert _count(factory, Payment) == before


def test_a_change_the_service_would_refuse_stops_the_file_before_writing(
    factory, monkeypatch
) -> None:
    monkeypatch.setattr(intake, "CHUNK_ROWS", 1)
    monkeypatch.setattr(intake, "WRITE_ROWS", 1)
    _ingest(factory, "customers", [company("KC-C")])
    changed = {"source": "erp", "external_id": "KC-C", "kind": "individual", "name": "张三"}
    rows = [*_rows("customers", "KC")[:2], {**changed, "tax_id": ""}]
    before = _count(factory, Customer)
    result = _import(factory, "customers", _csv(rows))
    assert result.job.status == "rejected", result.job.errors
    assert (result.job.errors[0]["row"], result.job.errors[0]["code"]) == (4, "kind_mismatch")
    assert _count(factory, Customer) == before


def test_a_group_created_in_an_earlier_chunk_may_be_named_later(factory, monkeypatch) -> None:
    monkeypatch.setattr(intake, "CHUNK_ROWS", 1)
    rows = _rows("customers", "GC")[:3]
    rows[0] |= {"group_code": "GC-GROUP", "group_name": "分块集团"}
    rows[1] |= {"group_code": "GC-GROUP", "group_name": ""}
    rows[2] |= {"group_code": "GC-GROUP", "group_name": ""}
    result = _import(factory, "customers", _csv(rows))
    assert result.job.status == "done", result.job.errors
    assert result.job.created_count == 3


@pytest.mark.parametrize("skip_invalid", [False, True])
def test_a_key_written_elsewhere_after_the_check_stops_the_file_naming_the_row(
    factory, monkeypatch, skip_invalid
) -> None:
    """The race the check cannot see: each chunk resolves its keys again in its transaction."""
    monkeypatch.setattr(intake, "WRITE_ROWS", 2)
    _base(factory, "RA")
    rows = _rows("orders", "RA")
    before = _count(factory, Order)

    def meanwhile(_: int) -> None:
        if _count(factory, Order) == before + 2:  # after the first chunk: row 5 taken
            _ingest(factory, "orders", [order("RA3", "RA-C", "555.00")])

    result = _import(factory, "orders", _csv(rows), skip_invalid=skip_invalid, progress=meanwhile)
    if skip_invalid:
        assert result.job.status == "done"
        assert (result.job.created_count, result.job.invalid_rows) == (ROWS - 1, 1)
        assert _count(factory, Order) == before + ROWS
        return
    assert result.job.status == "interrupted"
    assert (result.job.processed_rows, result.job.created_count) == (2, 2)
    assert (result.job.errors[0]["row"], result.job.errors[0]["field"]) == (5, "external_id")
    assert result.job.errors[0]["code"] == "idempotency_conflict"
    assert result.job.message and "row 5" in result.job.message and "2 of 7" in result.job.message
    assert _count(factory, Order) == before + 3  # two of the file, one of the other source
    again = _import(factory, "orders", _csv(rows))
    assert again.job.status == "rejected"  # the conflict stays; nothing more is written
    assert _count(factory, Order) == before + 3


def test_between_chunks_another_writer_goes_first(own_backend, monkeypatch) -> None:
    """The import holds no transaction between its chunks: an order posted from another thread
    while it runs commits at once (it waited for the whole file before, and here, in the
    import's own thread, would never have got the write lock)."""
    monkeypatch.setattr(intake, "WRITE_ROWS", 2)
    factory = make_sessionmaker(own_backend.engine)
    _base(factory, "BW")
    done: list[bool] = []

    def post(_: int) -> None:
        if done:
            return
        writer = threading.Thread(
            target=lambda: (
                _ingest(factory, "orders", [order("BW-OTHER", "BW-C")]),
                done.append(True),
            )
        )
        writer.start()
        writer.join(timeout=20)
        assert done, "the order waited for the import"

    result = _import(factory, "orders", _csv(_rows("orders", "BW")), progress=post)
    assert result.job.status == "done" and done == [True]
    assert _count(factory, Order) == 1 + ROWS + 1


def test_an_imports_parts_join_each_customers_waiting_queue_row(factory, monkeypatch) -> None:
    """A file written in parts queues a customer once while its row waits, not once a part;
    the row names every event the parts wrote. A row a worker took between parts is gone,
    and the next part queues a new one, which the later parts join."""
    from riskdesk.models import CustomerExternalRef, IndicatorSnapshot, QueuedWork
    from tests.conftest import processed

    monkeypatch.setattr(intake, "WRITE_ROWS", 2)
    _base(factory, "QW")
    with unit_of_work(factory) as session:
        processed(session)
        customer = session.scalar(
            select(CustomerExternalRef.customer_id).where(CustomerExternalRef.external_id == "QW-C")
        )

    def queue() -> list[tuple[int, list[int] | None]]:
        with factory() as session:
            stmt = select(QueuedWork.id, QueuedWork.refs).where(QueuedWork.customer_id == customer)
            return [(int(q), r) for q, r in session.execute(stmt.order_by(QueuedWork.id))]

    def orders(*external_ids: str) -> list[int]:
        with factory() as session:
            stmt = select(Order.id).where(Order.external_id.in_(external_ids))
            return sorted(session.scalars(stmt))

    result = _import(factory, "orders", _csv(_rows("orders", "QW")))  # 4 parts
    assert result.job.status == "done"
    [(row, refs)] = queue()
    assert refs == orders(*(f"QW{i}" for i in range(ROWS)))
    assert result.queued == (row,)

    # A worker processes the row after the first part: the second part queues anew.
    def worker_after_first_part(_: int) -> None:
        if len(seen) == 0:
            with unit_of_work(factory) as session:
                processed(session)
        seen.append(1)

    seen: list[int] = []
    second = intake.import_file(
        factory, lambda s: principal(s, "manager"), kind="orders",
        content=_csv(_rows("orders", "QX")).replace(b"QX-C", b"QW-C"), filename="o.csv",
        mapping=None, skip_invalid=False, progress=worker_after_first_part,
    )  # fmt: skip
    assert second.job.status == "done"
    # The first part's row went with its two orders (and the first import's row); one new
    # row names the later parts' five (SQLite may give it a processed row's id again).
    [(_, refs)] = queue()
    assert refs == orders(*(f"QX{i}" for i in range(2, ROWS)))
    with unit_of_work(factory) as session:
        assert processed(session) == 1
    with factory() as session:
        snap = session.get(IndicatorSnapshot, customer)
        stored = session.scalar(select(func.count()).where(Order.customer_id == customer))
        assert snap is not None and snap.values["orders_count_365d"] == stored


def _two_customers_file(first: str, second: str) -> bytes:
    """Orders of ``first``, then ``second``, then ``first`` again: with WRITE_ROWS = 2, one
    customer a part."""
    rows = _rows("orders", "TC")[:6]
    for row, owner in zip(rows, (first, first, second, second, first, first), strict=True):
        row["customer_external_id"] = f"{owner}-C"
    return _csv(rows)


def test_a_reused_queue_id_is_never_joined_by_another_customer(factory, monkeypatch) -> None:
    """SQLite gives a processed row's id to the next row once the queue has emptied: the
    first part's row of A is processed, the second part's row of B gets its id, and the third
    part (A again) must queue A anew rather than join B's row (A's events would be lost)."""
    from riskdesk.models import CustomerExternalRef, QueuedWork
    from tests.conftest import processed

    monkeypatch.setattr(intake, "WRITE_ROWS", 2)
    for prefix in ("RA", "RB"):
        _base(factory, prefix)
    with unit_of_work(factory) as session:
        processed(session)
        ids = dict(
            session.execute(
                select(CustomerExternalRef.external_id, CustomerExternalRef.customer_id).where(
                    CustomerExternalRef.external_id.in_(("RA-C", "RB-C"))
                )
            ).all()
        )
    parts: list[int] = []

    def worker_after_first_part(_: int) -> None:
        if not parts:
            with unit_of_work(factory) as session:
                assert processed(session) == 1  # A's row: the queue is empty again
        parts.append(1)

    result = intake.import_file(
        factory, lambda s: principal(s, "manager"), kind="orders",
        content=_two_customers_file("RA", "RB"), filename="o.csv", mapping=None,
        skip_invalid=False, progress=worker_after_first_part,
    )  # fmt: skip
    assert result.job.status == "done"
    with factory() as session:
        queued = session.execute(
            select(QueuedWork.customer_id, QueuedWork.refs).order_by(QueuedWork.id)
        ).all()
        tc_orders = [f"TC{i}" for i in range(6)]
        orders = {
            cid: sorted(
                session.scalars(
                    select(Order.id).where(
                        Order.customer_id == cid,
                        Order.external_id.in_(tc_orders),
                    )
                )
            )
            for cid in ids.values()
        }
    a, b = ids["RA-C"], ids["RB-C"]
    assert sorted((int(c), r) for c, r in queued) == sorted(
        [(b, orders[b]), (a, orders[a][2:])]  # A's first two went with the processed row
    )


def test_a_partition_a_worker_owns_is_not_waited_for(own_backend, monkeypatch) -> None:
    """PostgreSQL: while a worker owns the partition of a customer's waiting row (its fence,
    taken here after the first part and held to the end), a later part neither waits for it
    nor changes the row: it queues the customer anew."""
    if own_backend.name != "postgresql":
        pytest.skip("SQLite has one writer: its write lock is the fence")
    from sqlalchemy import text

    from riskdesk.models import QueuedWork
    from riskdesk.pipeline import repository as queue_repo

    monkeypatch.setattr(intake, "WRITE_ROWS", 2)
    factory = make_sessionmaker(own_backend.engine)
    _base(factory, "PF")
    with unit_of_work(factory) as session:
        session.execute(text("DELETE FROM event_queue"))
    worker = own_backend.engine.connect()
    owned: list[int] = []

    def worker_takes_the_partition(_: int) -> None:
        if owned:
            return
        with factory() as session:
            row = session.execute(select(QueuedWork.partition_no)).scalar_one()
        worker.begin()
        with Session(bind=worker) as held:
            assert queue_repo.fence(held, row)
        owned.append(row)

    try:
        started = threading.Event()
        result = _import(
            factory, "orders", _csv(_rows("orders", "PF")), progress=worker_takes_the_partition
        )
        started.set()
    finally:
        worker.rollback()
        worker.close()
    assert result.job.status == "done"
    with factory() as session:
        rows = session.execute(select(QueuedWork.refs).order_by(QueuedWork.id)).all()
    # The worker owned the partition throughout: the first part's row was left as it was, and
    # each later part queued its own (the import never waited for the worker).
    assert [len(r or ()) for (r,) in rows] == [2, 2, 2, 1]


@pytest.mark.parametrize("kind", sorted(MODELS))
@pytest.mark.parametrize("keep", [True, False])
def test_a_small_file_validates_each_row_once_and_imports_the_same(
    factory, monkeypatch, kind, keep
) -> None:
    monkeypatch.setattr(intake, "WRITE_ROWS", 2)
    monkeypatch.setattr(intake, "CHUNK_ROWS", 3)
    if not keep:  # as a file over the limit: validated again as it is written
        monkeypatch.setattr(intake, "KEEP_CHECKED_ROWS", ROWS - 1)
    validated: list[int] = []
    real = intake.validate_items

    def counted(handler: Any, items: Any) -> None:
        validated.extend(i.row for i in items)
        real(handler, items)

    monkeypatch.setattr(intake, "validate_items", counted)
    prefix = f"KV{kind[:3].upper()}{int(keep)}"
    _base(factory, prefix)
    validated.clear()
    rows = _rows(kind, prefix)
    rows[3]["source"] = "x" * 500  # invalid in every kind: skipped, and reported with its reason
    model = MODELS[kind]
    before = _count(factory, model)
    result = _import(factory, kind, _csv(rows), skip_invalid=True)
    assert result.job.status == "done", result.job.errors
    assert (result.job.created_count, result.job.invalid_rows) == (ROWS - 1, 1)
    assert [(e["row"], e["field"]) for e in result.job.errors] == [(5, "source")]
    assert _count(factory, model) == before + ROWS - 1
    rows_seen = sorted(validated)
    every = list(range(2, ROWS + 2))
    # The invalid row is validated again (its errors are not kept); the others once when kept.
    assert rows_seen == (sorted([*every, 5]) if keep else sorted(every * 2))
    with factory() as session:
        assert credit_service.verify(session) == []
