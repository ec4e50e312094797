"""SQL for consent, legal holds, erasure, data-subject export and retention."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table, and_, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from riskdesk.customers.repository import chunks
from riskdesk.db import Base
from riskdesk.models import (
    Alert,
    AlertComment,
    Complaint,
    Consent,
    Contact,
    CreditDecision,
    CreditExposure,
    CreditFileChange,
    CreditFileVersion,
    CreditReport,
    CreditReview,
    Customer,
    CustomerExternalRef,
    Delivery,
    Document,
    Erasure,
    Interaction,
    Invoice,
    InvoiceAdjustment,
    LegalHold,
    LimitRequest,
    Notification,
    Order,
    OrderCancellation,
    OrderLine,
    Payment,
    PaymentReversal,
    PendingChange,
    PendingChangeItem,
    Return,
    SurveyResponse,
    UserSession,
)
from riskdesk.models.customers import BLIND_INDEXES


def consent_history(session: Session, customer_id: int) -> list[Consent]:
    """Every consent record of a customer, newest first."""
    stmt = select(Consent).where(Consent.customer_id == customer_id)
    return list(session.scalars(stmt.order_by(Consent.given_at.desc(), Consent.id.desc())))


def _in_force(*where: Any) -> Any:
    """Consents ranked per customer and purpose: the one given last is in force (a record
    that arrives late with an older date does not override a later withdrawal)."""
    rank = (
        func.row_number()
        .over(
            partition_by=(Consent.customer_id, Consent.purpose),
            order_by=(Consent.given_at.desc(), Consent.id.desc()),
        )
        .label("rank")
    )
    return select(Consent.id, rank).where(*where).subquery()


def latest_consents(
    session: Session, customer_ids: Sequence[int]
) -> dict[tuple[int, str], Consent]:
    """The consent in force per (customer, purpose)."""
    found: dict[tuple[int, str], Consent] = {}
    for part in chunks(list(customer_ids)):
        ranked = _in_force(Consent.customer_id.in_(part))
        ids = select(ranked.c.id).where(ranked.c.rank == 1)
        for row in session.scalars(select(Consent).where(Consent.id.in_(ids))):
            found[(row.customer_id, row.purpose)] = row
    return found


def move_consents(session: Session, *, from_id: int, to_id: int) -> None:
    """Give one customer's consent records to another (a merge)."""
    session.execute(
        update(Consent)
        .where(Consent.customer_id == from_id)
        .values(customer_id=to_id)
        .execution_options(synchronize_session=False)
    )


def insert_consents(session: Session, rows: list[dict[str, Any]]) -> None:
    """Bulk insert consent records."""
    if rows:
        session.execute(insert(Consent), rows)


def _latest_granted(purpose: str) -> Any:
    ranked = _in_force(Consent.purpose == purpose)
    in_force = select(ranked.c.id).where(ranked.c.rank == 1)
    return select(Consent.customer_id).where(Consent.id.in_(in_force), Consent.granted.is_(True))


def individuals_without(
    session: Session, purpose: str, ids: Iterable[int] | None = None
) -> set[int]:
    """Individuals (of ``ids``, or all) whose consent for ``purpose`` is missing or withdrawn."""
    base = select(Customer.id).where(
        Customer.kind == "individual", Customer.id.not_in(_latest_granted(purpose))
    )
    if ids is None:
        return set(session.scalars(base))
    found: set[int] = set()
    for part in chunks(sorted(set(ids))):
        found |= set(session.scalars(base.where(Customer.id.in_(part))))
    return found


def consent_mark(session: Session) -> int:
    """The newest consent record's id (0: none): what was recorded after it is new."""
    return int(session.scalar(select(func.max(Consent.id))) or 0)


def recorded_since(session: Session, purpose: str, mark: int) -> set[int]:
    """The customers with a consent record for ``purpose`` newer than ``mark`` (by the
    primary key: a range read of the few new records, not a scan)."""
    return set(
        session.scalars(
            select(Consent.customer_id).where(Consent.id > mark, Consent.purpose == purpose)
        )
    )


def active_holds(session: Session, customer_ids: Sequence[int]) -> list[LegalHold]:
    """Holds not yet released on these customers."""
    if not customer_ids:
        return []
    stmt = select(LegalHold).where(
        LegalHold.customer_id.in_(customer_ids), LegalHold.released_at.is_(None)
    )
    return list(session.scalars(stmt.order_by(LegalHold.id)))


def holds_of(session: Session, customer_id: int) -> list[LegalHold]:
    """Every hold of a customer, newest first."""
    stmt = select(LegalHold).where(LegalHold.customer_id == customer_id)
    return list(session.scalars(stmt.order_by(LegalHold.id.desc())))


def get_hold(session: Session, hold_id: int) -> LegalHold | None:
    """A hold by id."""
    return session.get(LegalHold, hold_id)


def erasure_of(session: Session, customer_id: int) -> Erasure | None:
    """The erasure record of a customer, if erased."""
    return session.scalars(select(Erasure).where(Erasure.customer_id == customer_id)).first()


# Free text people write about a customer may name them; erasure clears it (or, where the
# column must hold something, replaces it).
ERASED_TEXT = "(erased)"
FREE_TEXT: tuple[tuple[Any, dict[str, Any]], ...] = (
    (Complaint, {"description": None, "response": None}),
    (Interaction, {"note": None, "next_step": None}),
    (SurveyResponse, {"comment": None}),
    (Return, {"note": None}),
    (OrderCancellation, {"reason": None}),
    (InvoiceAdjustment, {"reason": None}),
    (PaymentReversal, {"reason": None}),
    (CreditFileVersion, {"reason": None}),
    (PendingChange, {"reason": None, "decision_comment": None}),
    (LimitRequest, {"reason": ERASED_TEXT, "decision_comment": None}),
    (CreditReview, {"comment": None}),
    (CreditDecision, {"resolution_reason": None}),
    (CreditReport, {"payload": None}),
)
PERSONAL_CHANGE_FIELDS = (
    "name", "national_id", "phone", "email", "address", "bank_account",
    "contact.name", "contact.phone", "contact.email", "document",
)  # fmt: skip


def erase_personal_data(session: Session, ids: Sequence[int], placeholder: str) -> list[str]:
    """Remove the personal data of these individuals, set-based; returns the document digests
    no other customer still uses (their files are deleted once the transaction commits)."""
    digests: list[str] = []
    now = dt.datetime.now(dt.UTC)
    for part in chunks(sorted(ids)):
        cleared: dict[str, Any] = {
            c: None for c in ("national_id", "phone", "email", "address", "bank_account")
        }
        cleared.update({index: None for index in BLIND_INDEXES[Customer]})
        session.execute(
            update(Customer)
            .where(Customer.id.in_(part))
            .values(person_name=placeholder, erased_at=now, **cleared)
            .execution_options(synchronize_session=False)
        )
        session.execute(delete(Contact).where(Contact.customer_id.in_(part)))
        session.execute(
            delete(CustomerExternalRef).where(CustomerExternalRef.customer_id.in_(part))
        )
        versions = select(CreditFileVersion.id).where(CreditFileVersion.customer_id.in_(part))
        session.execute(
            update(CreditFileChange)
            .where(
                CreditFileChange.version_id.in_(versions),
                CreditFileChange.field.in_(PERSONAL_CHANGE_FIELDS),
            )
            .values(old_value=None, new_value=None)
            .execution_options(synchronize_session=False)
        )
        pending = select(PendingChange.id).where(PendingChange.customer_id.in_(part))
        session.execute(
            update(PendingChangeItem)
            .where(
                PendingChangeItem.pending_change_id.in_(pending),
                PendingChangeItem.field.in_(PERSONAL_CHANGE_FIELDS),
            )
            .values(old_value=None, new_value=None)
            .execution_options(synchronize_session=False)
        )
        for model, values in FREE_TEXT:
            session.execute(
                update(model)
                .where(model.customer_id.in_(part))
                .values(values)
                .execution_options(synchronize_session=False)
            )
        alerts = select(Alert.id).where(Alert.customer_id.in_(part))
        session.execute(
            update(AlertComment)
            .where(AlertComment.alert_id.in_(alerts))
            .values(body=ERASED_TEXT)
            .execution_options(synchronize_session=False)
        )
        docs = list(session.scalars(select(Document.sha256).where(Document.customer_id.in_(part))))
        session.execute(delete(Document).where(Document.customer_id.in_(part)))
        if docs:
            still = set(session.scalars(select(Document.sha256).where(Document.sha256.in_(docs))))
            digests.extend(sorted(set(docs) - still))
    return digests


# ---------------------------------------------------------------- data-subject export

CHILD_TABLES: dict[str, tuple[Any, Any, Any]] = {
    # child table: (model, its key to the parent, the parent's customer-owned id column)
    "credit_file_changes": (CreditFileChange, CreditFileChange.version_id, CreditFileVersion),
    "pending_change_items": (PendingChangeItem, PendingChangeItem.pending_change_id, PendingChange),
    "order_lines": (OrderLine, OrderLine.order_id, Order),
}


DERIVED = frozenset(
    {
        "audit_log",
        "indicator_states",
        "invoice_balances",
        "receivable_month_ends",
        "receivable_month_stale",
    }
)


def _tables_with_customer_id() -> list[Table]:
    found = []
    for table in Base.metadata.sorted_tables:
        # The indicator state is a derived copy of the event rows exported here themselves
        # (amounts, dates, categories: nothing personal), in a binary form; so are the
        # dashboard's kept balances and month ends.
        if "customer_id" in table.c and table.name not in DERIVED:
            found.append(table)
    return found


def subject_rows(session: Session, customer_id: int) -> dict[str, list[dict[str, Any]]]:
    """Every row about one customer, table by table (personal data decrypted)."""
    result: dict[str, list[dict[str, Any]]] = {}
    customer = Base.metadata.tables["customers"]
    result["customers"] = [
        dict(r)
        for r in session.execute(select(customer).where(customer.c.id == customer_id)).mappings()
    ]
    for table in _tables_with_customer_id():
        order = table.primary_key.columns.values()
        stmt = select(table).where(table.c.customer_id == customer_id).order_by(*order)
        rows = [dict(r) for r in session.execute(stmt).mappings()]
        if rows:
            result[table.name] = rows
    for name, (model, key, parent) in CHILD_TABLES.items():
        owned = select(parent.id).where(parent.customer_id == customer_id)
        rows = [
            {c.name: getattr(obj, c.key) for c in model.__table__.columns}
            for obj in session.scalars(select(model).where(key.in_(owned)).order_by(model.id))
        ]
        if rows:
            result[name] = rows
    # Blind indexes are keyed hashes, not data about the person: left out of the export.
    for model, indexes in BLIND_INDEXES.items():
        for row in result.get(model.__tablename__, []):
            for index in indexes:
                row.pop(index, None)
    return result


# ---------------------------------------------------------------- retention


def _inactive(before: dt.datetime) -> Any:
    """Individuals with nothing recent and nothing open: no order, invoice or payment since
    ``before``, no amount owed or reserved, no open alert."""
    day = before.date()
    recent = (
        select(Order.customer_id).where(Order.ordered_at >= before),
        select(Invoice.customer_id).where(Invoice.issue_date >= day),
        select(Payment.customer_id).where(Payment.paid_on >= day),
        select(CreditExposure.customer_id).where(CreditExposure.amount != 0),
        select(Alert.customer_id).where(
            Alert.status.not_in(("resolved", "dismissed")), Alert.customer_id.is_not(None)
        ),
    )
    return select(Customer.id).where(
        Customer.kind == "individual",
        Customer.erased_at.is_(None),
        Customer.updated_at < before,
        Customer.created_at < before,
        *(Customer.id.not_in(q) for q in recent),
    )


_HELD = select(LegalHold.customer_id).where(LegalHold.released_at.is_(None))


def inactive_individuals(session: Session, before: dt.datetime) -> list[int]:
    """Individuals not yet erased, unchanged and without orders since ``before``, not held."""
    stmt = _inactive(before).where(Customer.id.not_in(_HELD))
    return list(session.scalars(stmt.order_by(Customer.id)))


def inactive_held(session: Session, before: dt.datetime) -> int:
    """How many such individuals a legal hold keeps."""
    stmt = _inactive(before).where(Customer.id.in_(_HELD))
    return session.scalar(select(func.count()).select_from(stmt.subquery())) or 0


def _old(before: dict[str, dt.datetime | None]) -> dict[str, tuple[Any, Any]]:
    found: dict[str, tuple[Any, Any]] = {}
    if (cut := before.get("notifications")) is not None:
        found["notifications"] = (
            Notification,
            and_(Notification.read_at.is_not(None), Notification.created_at < cut),
        )
    if (cut := before.get("deliveries")) is not None:
        found["deliveries"] = (
            Delivery,
            and_(Delivery.status.in_(("delivered", "dead")), Delivery.created_at < cut),
        )
    if (cut := before.get("sessions")) is not None:
        found["sessions"] = (
            UserSession,
            or_(
                UserSession.expires_at < cut,
                and_(UserSession.revoked_at.is_not(None), UserSession.revoked_at < cut),
            ),
        )
    return found


def count_old(session: Session, *, before: dict[str, dt.datetime | None]) -> dict[str, int]:
    """Rows past their retention, per kind."""
    return {
        kind: session.scalar(select(func.count()).select_from(model).where(cond)) or 0
        for kind, (model, cond) in _old(before).items()
    }


def purge_old(session: Session, *, before: dict[str, dt.datetime | None]) -> dict[str, int]:
    """Delete read notifications, finished deliveries and ended sessions past their
    retention; returns rows deleted per kind."""
    done: dict[str, int] = {}
    for kind, (model, cond) in _old(before).items():
        result = session.execute(delete(model).where(cond))
        done[kind] = int(getattr(result, "rowcount", 0) or 0)
    return done
