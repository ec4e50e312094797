"""Warnings are judged on a consistent state: a backlog imported file by file in its natural
order (orders, invoices, payments) leaves no alert open for a customer who paid, and the alerts
left open do not depend on the order the files came in."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from riskdesk.alerts import playbooks
from riskdesk.alerts import service as alert_service
from riskdesk.customers import repository as customer_repo
from riskdesk.db import unit_of_work
from riskdesk.kit.intake import Item
from riskdesk.kit.tabular import ColumnMapping
from riskdesk.kit.timeutil import today
from riskdesk.models import Alert, AlertAction, AlertCase, AuditEntry
from riskdesk.pipeline import intake
from tests.conftest import principal, processed, processed_import
from tests.factories import company

COLUMNS = {
    "orders": ("source", "external_id", "customer_external_id", "ordered_at", "amount",
               "currency", "category", "line_amount"),
    "invoices": ("source", "external_id", "customer_external_id", "order_external_id", "amount",
                 "currency", "issue_date", "due_date"),
    "payments": ("source", "external_id", "invoice_external_id", "amount", "currency", "paid_on"),
    "returns": ("source", "external_id", "order_external_id", "amount", "currency",
                "returned_on", "reason"),
}  # fmt: skip
NATURAL = ("orders", "invoices", "payments", "returns")
# What each kind's rows point at: an invoice at its order, a payment at its invoice, a return
# at its order. A file can only be imported once the files it points into are.
POINTS_AT = {
    "invoices": ("order_external_id", "orders"),
    "payments": ("invoice_external_id", "invoices"),
    "returns": ("order_external_id", "orders"),
}


def day(days_ago: int) -> str:
    return (today() - dt.timedelta(days=days_ago)).isoformat()


def import_rows(factory: sessionmaker[Session], kind: str, rows: Sequence[dict[str, str]]) -> None:
    """Import rows as a CSV file, through the file import a user starts."""
    content = pl.DataFrame([[r[c] for c in COLUMNS[kind]] for r in rows], schema=COLUMNS[kind],
                           orient="row").write_csv().encode()  # fmt: skip
    result = intake.import_file(
        factory,
        lambda s: principal(s, "manager"),
        kind=kind,
        content=content,
        filename=f"{kind}.csv",
        mapping=ColumnMapping.from_yaml("defaults: {source: erp}"),
        skip_invalid=False,
    )
    assert result.job.status == "done", (kind, result.job.errors)
    processed_import(factory, result)


def add_customers(factory: sessionmaker[Session], external_ids: Sequence[str]) -> None:
    """The default rules and playbooks, and companies with a limit and 30-day terms."""
    with unit_of_work(factory) as session:
        alert_service.install_default_pack(session)
        intake.ingest_items(
            session,
            principal(session, "manager"),
            "customers",
            [Item(row=n, raw=company(x)) for n, x in enumerate(external_ids, start=1)],
            skip_invalid=False,
            channel="test",
        )
        processed(session)


def open_alerts(session: Session, external_ids: Sequence[str]) -> set[tuple[str, str]]:
    """(customer external id, rule code) of every alert not yet closed."""
    refs = customer_repo.customer_ids_by_ref(session, {("erp", x) for x in external_ids})
    names = {cid: ext for (_, ext), cid in refs.items()}
    rows = session.execute(
        select(Alert.customer_id, Alert.rule_code).where(Alert.status.not_in(alert_service.CLOSED))
    )
    return {(names[cid], code) for cid, code in rows}


# ---------------------------------------------------------------- the natural order


def test_a_backlog_in_natural_order_leaves_no_alert_for_a_customer_who_paid(
    factory: sessionmaker[Session], db: Session
) -> None:
    add_customers(factory, ["PAID"])
    cid = customer_repo.customer_ids_by_ref(db, {("erp", "PAID")})[("erp", "PAID")]
    due = 50  # days ago: more than 30 days past due until the payment file says otherwise
    order = {"source": "erp", "external_id": "O-PAID", "customer_external_id": "PAID",
             "ordered_at": day(due + 30), "amount": "5000.00", "currency": "CNY",
             "category": "office", "line_amount": "5000.00"}  # fmt: skip
    invoice = {"source": "erp", "external_id": "I-PAID", "customer_external_id": "PAID",
               "order_external_id": "O-PAID", "amount": "5000.00", "currency": "CNY",
               "issue_date": day(due + 30), "due_date": day(due)}  # fmt: skip
    payment = {"source": "erp", "external_id": "P-PAID", "invoice_external_id": "I-PAID",
               "amount": "5000.00", "currency": "CNY", "paid_on": day(due - 2)}  # fmt: skip
    audited = db.scalar(select(func.max(AuditEntry.id))) or 0

    import_rows(factory, "orders", [order])
    import_rows(factory, "invoices", [invoice])
    # Half loaded: the invoices say 50 days past due, and the collection playbook starts.
    (raised,) = db.scalars(
        select(Alert).where(Alert.customer_id == cid, Alert.rule_code == "new_overdue")
    ).all()
    assert (raised.status, raised.evidence) == (
        "open",
        {"dpd_max": float(due), "late_days_usual_p90": None},
    )
    steps = {a.action: a for a in db.scalars(
        select(AlertAction).where(AlertAction.alert_id == raised.id))}  # fmt: skip
    assert steps["start_collection"].auto and steps["start_collection"].status == "open"
    assert steps["hold_orders"].status == "offered"

    import_rows(factory, "payments", [payment])
    db.expire_all()
    assert open_alerts(db, ["PAID"]) == set()
    cleared = db.get(Alert, raised.id)
    assert cleared is not None
    assert (cleared.status, cleared.outcome, cleared.cleared_reason) == (
        "resolved", None, "invoice_paid",
    )  # fmt: skip
    assert cleared.evidence == {
        "dpd_max": float(due),
        "late_days_usual_p90": None,
        "cleared_with": {"dpd_max": 0.0, "late_days_usual_p90": None},
    }
    assert cleared.closed_at is not None
    assert cleared.closed_by_id == playbooks.system_principal(db).user_id
    # The automatic collection task nobody carried out is cancelled, and so is the offer.
    after = {a.action: a for a in db.scalars(
        select(AlertAction).where(AlertAction.alert_id == raised.id))}  # fmt: skip
    assert after["start_collection"].status == "cancelled"
    assert after["start_collection"].completed_at is not None
    assert after["hold_orders"].status == "cancelled"
    case = db.get(AlertCase, cleared.case_id)
    assert case is not None and case.status == "closed"
    # Measured apart from what people judged.
    live = {e["rule_code"]: e for e in alert_service.live_effectiveness(db)}["new_overdue"]
    assert (live["cleared"], live["confirmed"], live["false_alarm"], live["open"]) == (1, 0, 0, 0)
    assert live["cleared_by_reason"] == {"invoice_paid": 1} and live["precision"] is None
    # In the payments import's audit entry, like any move of an alert.
    changes = [
        c
        for e in db.scalars(select(AuditEntry).where(AuditEntry.id > audited))
        for c in e.detail.get("changes", [])
        if c["table"] == "alerts" and c["op"] == "update"
    ]
    assert any(
        raised.id in c.get("ids", []) and "cleared_reason" in c.get("fields", []) for c in changes
    ), changes


# ---------------------------------------------------------------- any order


@dataclass(frozen=True)
class Backlog:
    """A small history of a few customers, cut into files."""

    customers: tuple[str, ...]
    files: tuple[tuple[str, tuple[dict[str, str], ...]], ...]  # (kind, rows)

    def rows(self, kind: str) -> list[dict[str, str]]:
        return [r for k, rows in self.files if k == kind for r in rows]

    def needs(self) -> list[set[int]]:
        """For each file, the files holding what its rows point at."""
        where = {
            (kind, r["external_id"]): i for i, (kind, rows) in enumerate(self.files) for r in rows
        }
        out: list[set[int]] = []
        for kind, rows in self.files:
            field, target = POINTS_AT.get(kind, ("", ""))
            out.append({where[(target, r[field])] for r in rows if field and r.get(field)})
        return out

    def runnable(self, wish: Sequence[int]) -> list[int]:
        """The files in the wished order, each put off only until what it points at is in."""
        needs, done, out, waiting = self.needs(), set[int](), [], list(wish)
        while waiting:
            ready = next(f for f in waiting if needs[f] <= done)
            waiting.remove(ready)
            out.append(ready)
            done.add(ready)
        return out


@st.composite
def backlogs(draw: st.DrawFn) -> Backlog:
    customers = tuple(f"H{i}" for i in range(draw(st.integers(2, 3))))
    rows: dict[str, list[dict[str, str]]] = {k: [] for k in NATURAL}
    for c in customers:
        for k in range(draw(st.integers(1, 3))):
            ago = draw(st.integers(35, 150))
            amount = draw(st.sampled_from(["800.00", "6000.00", "45000.00"]))
            oid, iid = f"O-{c}-{k}", f"I-{c}-{k}"
            rows["orders"].append({
                "source": "erp", "external_id": oid, "customer_external_id": c,
                "ordered_at": day(ago), "amount": amount, "currency": "CNY",
                "category": "office", "line_amount": amount})  # fmt: skip
            if draw(st.integers(0, 4)) == 0:
                rows["returns"].append({
                    "source": "erp", "external_id": f"R-{c}-{k}", "order_external_id": oid,
                    "amount": amount, "currency": "CNY",
                    "returned_on": day(ago - draw(st.integers(1, 20))),
                    "reason": draw(st.sampled_from(["defective", "no_reason"]))})  # fmt: skip
            if draw(st.integers(0, 5)) == 0:
                continue  # never invoiced
            due = ago - 30
            rows["invoices"].append({
                "source": "erp", "external_id": iid, "customer_external_id": c,
                "order_external_id": oid, "amount": amount, "currency": "CNY",
                "issue_date": day(ago), "due_date": day(due)})  # fmt: skip
            late = draw(st.one_of(st.none(), st.integers(-10, 60)))
            if late is not None:  # paid, early, on time or late, in full
                paid = min(max(due - late, 0), ago)
                rows["payments"].append({
                    "source": "erp", "external_id": f"P-{c}-{k}", "invoice_external_id": iid,
                    "amount": amount, "currency": "CNY", "paid_on": day(paid)})  # fmt: skip
    files: list[tuple[str, tuple[dict[str, str], ...]]] = []
    for kind in NATURAL:
        if not rows[kind]:
            continue
        parts = draw(st.integers(1, min(3, len(rows[kind]))))
        where = [draw(st.integers(0, parts - 1)) for _ in rows[kind]]
        for p in range(parts):
            mine = tuple(r for r, w in zip(rows[kind], where, strict=True) if w == p)
            if mine:
                files.append((kind, mine))
    return Backlog(customers, tuple(files))


@contextmanager
def fresh(connection: Connection) -> Iterator[None]:
    """A database as it was: everything done inside is rolled back afterwards."""
    savepoint = connection.begin_nested()
    try:
        yield
    finally:
        savepoint.rollback()


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(backlog=backlogs(), data=st.data())
def test_the_alerts_left_open_do_not_depend_on_the_order_files_came_in(
    connection: Connection, factory: sessionmaker[Session], backlog: Backlog, data: st.DataObject
) -> None:
    def left_open(files: Sequence[tuple[str, Sequence[dict[str, str]]]]) -> set[tuple[str, str]]:
        with fresh(connection):
            add_customers(factory, backlog.customers)
            for kind, rows in files:
                import_rows(factory, kind, rows)
            with factory() as session:
                return open_alerts(session, backlog.customers)

    # Everything at once, one file per kind in the natural order...
    at_once = left_open([(k, backlog.rows(k)) for k in NATURAL if backlog.rows(k)])
    # ...and the same files cut into pieces, in orders as shuffled as the references allow.
    for _ in range(2):
        wish = data.draw(st.permutations(range(len(backlog.files))), label="wished order")
        order = backlog.runnable(wish)
        assert left_open([backlog.files[i] for i in order]) == at_once, order
