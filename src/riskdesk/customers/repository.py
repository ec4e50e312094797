"""SQL of the credit file."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Float, Select, and_, case, cast, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from riskdesk.db import stream_columns
from riskdesk.kit.pagination import PageParams
from riskdesk.models import (
    Alert,
    Contact,
    CreditExposure,
    CreditFileChange,
    CreditFileVersion,
    CreditProfile,
    CreditReport,
    Customer,
    CustomerExternalRef,
    CustomerGroup,
    Document,
    ExposureCategory,
    FinancialStatement,
    PendingChange,
    PendingChangeItem,
    User,
)
from riskdesk.models.customers import BLIND_INDEXES
from riskdesk.models.customers import customer_code as customer_code
from riskdesk.security import keys

CHUNK = 5000


def chunks(values: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    """Slices small enough for an IN list on every database."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def rows_in(session: Session, stmt: Any, column: Any, ids: Sequence[int] | None) -> list[Any]:
    """The rows of ``stmt`` whose ``column`` is one of ``ids`` (None: every row), queried in
    IN-list slices."""
    if ids is None:
        return list(session.execute(stmt))
    rows: list[Any] = []
    for part in chunks(list(ids)):
        rows.extend(session.execute(stmt.where(column.in_(part))))
    return rows


def key_chunks(pairs: Iterable[tuple[str, str]]) -> Iterable[tuple[str, Sequence[str]]]:
    """(source, external ids) slices of idempotency keys.

    One source and a plain IN list per query: PostgreSQL evaluates a row-value IN list row by
    row, without the unique index, which made duplicate checks quadratic on large tables.
    """
    by_source: dict[str, list[str]] = {}
    for source, external_id in pairs:
        by_source.setdefault(source, []).append(external_id)
    for source, ids in sorted(by_source.items()):
        for part in chunks(sorted(ids)):
            yield source, part


@dataclass(frozen=True)
class CustomerFilter:
    """What the customer list is narrowed to."""

    q: str | None = None
    kind: str | None = None
    segment: str | None = None
    region: str | None = None
    status: str | None = None
    risk_tier: str | None = None
    blocked: bool | None = None
    owner_ids: tuple[int, ...] | None = None  # None: everyone's customers
    include_merged: bool = False
    industry: str | None = None
    owner_id: int | None = None
    group_code: str | None = None
    # A SELECT of customer ids a higher domain worked out (the portfolio's utilisation band,
    # ageing bucket): the list keeps to those.
    within: Any = None


UNRATED = "unrated"  # the risk tier filter's word for "no tier yet"


def conditions(flt: CustomerFilter) -> list[Any]:
    """The WHERE terms of a filter, over Customer joined to its CreditProfile."""
    terms: list[Any] = []
    if not flt.include_merged:
        terms.append(Customer.status != "merged")
    if flt.kind:
        terms.append(Customer.kind == flt.kind)
    if flt.segment:
        terms.append(Customer.segment == flt.segment)
    if flt.region:
        terms.append(Customer.region == flt.region)
    if flt.industry:
        terms.append(Customer.industry == flt.industry)
    if flt.owner_id is not None:
        terms.append(Customer.owner_id == flt.owner_id)
    if flt.group_code:
        group = select(CustomerGroup.id).where(CustomerGroup.code == flt.group_code)
        terms.append(Customer.group_id.in_(group))
    if flt.status:
        terms.append(Customer.status == flt.status)
    if flt.risk_tier == UNRATED:
        terms.append(CreditProfile.risk_tier.is_(None))
    elif flt.risk_tier:
        terms.append(CreditProfile.risk_tier == flt.risk_tier)
    if flt.blocked is not None:
        terms.append(CreditProfile.blocked == flt.blocked)
    if flt.q:
        terms.append(_search_condition(flt.q))
    if flt.within is not None:
        terms.append(Customer.id.in_(flt.within))
    if flt.owner_ids is not None:
        terms.append(Customer.owner_id.in_(flt.owner_ids))
    return terms


def matching_ids(flt: CustomerFilter) -> Select[Any]:
    """The ids of the customers a filter matches, to narrow other lists by (held orders,
    limit requests, reviews, alerts)."""
    return (
        select(Customer.id)
        .join(CreditProfile, CreditProfile.customer_id == Customer.id)
        .where(*conditions(flt))
    )


def _visible(stmt: Select[Any], owner_ids: tuple[int, ...] | None) -> Select[Any]:
    if owner_ids is None:
        return stmt
    return stmt.where(Customer.owner_id.in_(owner_ids))


def get_customer(session: Session, customer_id: int) -> Customer | None:
    """A customer by id."""
    return session.get(Customer, customer_id)


def get_profile(session: Session, customer_id: int) -> CreditProfile | None:
    """A customer's credit profile."""
    return session.get(CreditProfile, customer_id)


def is_visible(session: Session, customer_id: int, owner_ids: tuple[int, ...] | None) -> bool:
    """True when the customer exists and the caller may see it."""
    stmt = _visible(select(Customer.id).where(Customer.id == customer_id), owner_ids)
    return session.scalar(stmt) is not None


# The list's sorts: a key, and "-key" for the other way round; ties go by id, so pages never
# overlap. A person's name is encrypted and cannot be sorted by the database: by name,
# people come after the companies, by id.
SORTS = ("name", "score", "utilisation", "exposure", "alerts")
OPEN_ALERT_STATUSES = ("open", "acknowledged", "in_progress")


def _counted_exposure(ids: list[int] | None = None, *, exact: bool = True) -> Any:
    """Each customer's stored exposure counted in the limit (a grouped subquery). The list
    reads the credit and alert tables through the models, the floor below every domain: the
    customer list is where the credit file's figures meet, and sorting needs them in SQL.
    ``exact=False`` sums in floating point, for sorting only: over a whole book, PostgreSQL's
    numeric sums and divisions took about half the time of the deepest page."""
    amount = CreditExposure.amount if exact else cast(CreditExposure.amount, Float)
    return (
        select(
            CreditExposure.customer_id.label("customer_id"),
            func.sum(amount).label("exposure"),
        )
        .where(
            CreditExposure.category.in_(
                select(ExposureCategory.code).where(ExposureCategory.counts_in_limit.is_(True))
            )
        )
        .where(*([CreditExposure.customer_id.in_(ids)] if ids is not None else []))
        .group_by(CreditExposure.customer_id)
        .subquery()
    )


def _open_alerts(ids: list[int] | None = None) -> Any:
    """Each customer's open alerts (a grouped subquery)."""
    return (
        select(Alert.customer_id.label("customer_id"), func.count().label("alerts"))
        .where(Alert.status.in_(OPEN_ALERT_STATUSES), Alert.customer_id.is_not(None))
        .where(*([Alert.customer_id.in_(ids)] if ids is not None else []))
        .group_by(Alert.customer_id)
        .subquery()
    )


def _utilisation(exposure: Any) -> Any:
    """Exposure over the limit in floating point (a sort key, never shown)."""
    return case(
        (
            CreditProfile.credit_limit > 0,
            func.coalesce(exposure, 0) / cast(CreditProfile.credit_limit, Float),
        ),
        else_=None,
    )


def list_customers(
    session: Session, flt: CustomerFilter, page: PageParams, sort: str = ""
) -> tuple[list[tuple[Customer, CreditProfile, User | None, Any, Any]], int]:
    """A page of customers with their profile, owner, counted exposure and open alerts, and
    the total count. The page's ids are sorted and cut first over narrow columns; the rows
    are then read for those ids only."""
    key = sort.removeprefix("-")
    descending = sort.startswith("-")
    ids = (
        select(Customer.id)
        .join(CreditProfile, CreditProfile.customer_id == Customer.id)
        .where(*conditions(flt))
    )
    total = session.scalar(select(func.count()).select_from(ids.subquery())) or 0
    order: list[Any] = []
    if key in ("exposure", "utilisation"):
        exp = _counted_exposure(exact=False)
        ids = ids.outerjoin(exp, exp.c.customer_id == Customer.id)
        value = (
            func.coalesce(exp.c.exposure, 0) if key == "exposure" else _utilisation(exp.c.exposure)
        )
        order.append((value.desc() if descending else value.asc()).nulls_last())
    elif key == "alerts":
        opened = _open_alerts()
        ids = ids.outerjoin(opened, opened.c.customer_id == Customer.id)
        value = func.coalesce(opened.c.alerts, 0)
        order.append(value.desc() if descending else value.asc())
    elif key == "score":
        order.append(
            (CreditProfile.score.desc() if descending else CreditProfile.score.asc()).nulls_last()
        )
    elif key == "name":
        name = Customer.company_name
        order.append((name.desc() if descending else name.asc()).nulls_last())
    order.append(Customer.id)
    page_ids = list(session.scalars(ids.order_by(*order).offset(page.offset).limit(page.size)))
    if not page_ids:
        return [], total
    owner = aliased(User)
    exp = _counted_exposure(page_ids)
    opened = _open_alerts(page_ids)
    stmt = (
        select(
            Customer,
            CreditProfile,
            owner,
            func.coalesce(exp.c.exposure, 0),
            func.coalesce(opened.c.alerts, 0),
        )
        .join(CreditProfile, CreditProfile.customer_id == Customer.id)
        .outerjoin(owner, owner.id == Customer.owner_id)
        .outerjoin(exp, exp.c.customer_id == Customer.id)
        .outerjoin(opened, opened.c.customer_id == Customer.id)
        .where(Customer.id.in_(page_ids))
    )
    by_id = {row[0].id: tuple(row) for row in session.execute(stmt)}
    found: list[Any] = [by_id[i] for i in page_ids if i in by_id]
    return found, total


# The columns of the list as a file: plain columns, no entities (100,000 ORM objects would
# cost seconds), and personal data only where the list shows it (an individual's name).
EXPORT_COLUMNS = (
    Customer.id,
    Customer.kind,
    Customer.company_name,
    Customer.person_name,
    Customer.tax_id,
    Customer.segment,
    Customer.industry,
    Customer.region,
    Customer.status,
    Customer.erased_at,
    CreditProfile.risk_tier,
    CreditProfile.rating,
    CreditProfile.rating_override,
    CreditProfile.score,
    CreditProfile.credit_limit,
    CreditProfile.limit_currency,
    CreditProfile.blocked,
    CreditProfile.next_review_date,
)


def count_customers(session: Session, flt: CustomerFilter) -> int:
    """How many customers a filter matches."""
    stmt = (
        select(func.count())
        .select_from(Customer)
        .join(CreditProfile, CreditProfile.customer_id == Customer.id)
        .where(*conditions(flt))
    )
    return session.scalar(stmt) or 0


def stream_customers(session: Session, flt: CustomerFilter, chunk: int) -> Iterator[Any]:
    """The filtered customers' list columns and owner name, by id, read ``chunk`` rows at a
    time (a server-side cursor on PostgreSQL)."""
    owner = aliased(User)
    stmt = (
        select(*EXPORT_COLUMNS, owner.display_name.label("owner"))
        .join(CreditProfile, CreditProfile.customer_id == Customer.id)
        .outerjoin(owner, owner.id == Customer.owner_id)
        .where(*conditions(flt))
        .order_by(Customer.id)
    )
    return stream_columns(session, stmt, chunk)


def _search_condition(q: str) -> Any:
    text = q.strip()
    like = f"%{text.replace('%', '').replace('_', '')}%"
    options: list[Any] = [
        Customer.company_name.ilike(like),
        Customer.tax_id == text.upper(),
        Customer.id.in_(
            select(CustomerExternalRef.customer_id).where(CustomerExternalRef.external_id == text)
        ),
    ]
    # Personal data is encrypted: it matches exactly, through its blind index.
    for index, (kind, _source) in BLIND_INDEXES[Customer].items():
        digest = keys.blind_index(kind, text)
        if digest is not None:
            options.append(getattr(Customer, index) == digest)
    code = text.upper()
    if code.startswith("C") and code[1:].isdigit() and len(code) <= 10:
        options.append(Customer.id == int(code[1:]))
    return or_(*options)


def owners_of(session: Session, ids: Iterable[int]) -> dict[int, User]:
    """Users by id."""
    ids = list(set(ids))
    if not ids:
        return {}
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids)))}


def get_group(session: Session, group_id: int) -> CustomerGroup | None:
    """A group by id."""
    return session.get(CustomerGroup, group_id)


def groups_by_code(session: Session, codes: set[str]) -> dict[str, CustomerGroup]:
    """Groups keyed by code."""
    if not codes:
        return {}
    rows = session.scalars(select(CustomerGroup).where(CustomerGroup.code.in_(codes)))
    return {g.code: g for g in rows}


def refs_of(session: Session, customer_id: int) -> list[CustomerExternalRef]:
    """A customer's ids in source systems."""
    stmt = select(CustomerExternalRef).where(CustomerExternalRef.customer_id == customer_id)
    return list(session.scalars(stmt.order_by(CustomerExternalRef.source)))


def customer_ids_by_ref(
    session: Session, pairs: set[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """Customer ids keyed by (source, external_id)."""
    result: dict[tuple[str, str], int] = {}
    for source, part in key_chunks(pairs):
        stmt = select(
            CustomerExternalRef.source,
            CustomerExternalRef.external_id,
            CustomerExternalRef.customer_id,
        ).where(CustomerExternalRef.source == source, CustomerExternalRef.external_id.in_(part))
        for source, external_id, customer_id in session.execute(stmt):
            result[(source, external_id)] = customer_id
    return result


def live_customer_ids(session: Session, ids: set[int]) -> dict[int, int]:
    """For each existing id, the id of the live customer (a merged one points to its survivor)."""
    result: dict[int, int] = {}
    for part in chunks(sorted(ids)):
        stmt = select(Customer.id, Customer.merged_into_id).where(Customer.id.in_(part))
        for cid, merged_into in session.execute(stmt):
            result[cid] = merged_into or cid
    return result


def customers_by_tax_id(session: Session, tax_ids: set[str]) -> dict[str, int]:
    """Live customers' ids keyed by tax id."""
    result: dict[str, int] = {}
    for part in chunks(sorted(tax_ids)):
        stmt = select(Customer.tax_id, Customer.id).where(
            Customer.tax_id.in_(part), Customer.status != "merged"
        )
        for tax_id, cid in session.execute(stmt):
            if tax_id is not None:
                result.setdefault(tax_id, cid)
    return result


def customers_with_profiles(
    session: Session, ids: Sequence[int]
) -> dict[int, tuple[Customer, CreditProfile]]:
    """Customers and profiles keyed by id."""
    result: dict[int, tuple[Customer, CreditProfile]] = {}
    for part in chunks(list(ids)):
        stmt = (
            select(Customer, CreditProfile)
            .join(CreditProfile, CreditProfile.customer_id == Customer.id)
            .where(Customer.id.in_(part))
        )
        for customer, profile in session.execute(stmt):
            result[customer.id] = (customer, profile)
    return result


def add(session: Session, *objs: Any) -> None:
    """Stage rows and flush them so they get ids."""
    session.add_all(objs)
    session.flush()


def add_version(
    session: Session,
    version: CreditFileVersion,
    changes: Sequence[tuple[str, str | None, str | None]],
) -> None:
    """Store a history entry and its field changes."""
    session.add(version)
    session.flush()
    session.add_all(
        CreditFileChange(version_id=version.id, field=f, old_value=o, new_value=n)
        for f, o, n in changes
    )
    session.flush()


def history(
    session: Session, customer_id: int, limit: int = 200
) -> list[tuple[CreditFileVersion, list[CreditFileChange]]]:
    """Newest versions first, each with its changes."""
    versions = list(
        session.scalars(
            select(CreditFileVersion)
            .where(CreditFileVersion.customer_id == customer_id)
            .order_by(CreditFileVersion.version.desc())
            .limit(limit)
        )
    )
    changes: dict[int, list[CreditFileChange]] = {v.id: [] for v in versions}
    if versions:
        stmt = select(CreditFileChange).where(CreditFileChange.version_id.in_(list(changes)))
        for change in session.scalars(stmt.order_by(CreditFileChange.id)):
            changes[change.version_id].append(change)
    return [(v, changes[v.id]) for v in versions]


def get_pending(session: Session, change_id: int) -> PendingChange | None:
    """A pending change by id."""
    return session.get(PendingChange, change_id)


def pending_items(
    session: Session, change_ids: Sequence[int]
) -> dict[int, list[PendingChangeItem]]:
    """Items of pending changes keyed by change id."""
    result: dict[int, list[PendingChangeItem]] = {cid: [] for cid in change_ids}
    if change_ids:
        stmt = (
            select(PendingChangeItem)
            .where(PendingChangeItem.pending_change_id.in_(list(change_ids)))
            .order_by(PendingChangeItem.id)
        )
        for item in session.scalars(stmt):
            result[item.pending_change_id].append(item)
    return result


# The approval queue's orders: when asked (oldest first waits longest), by customer number.
PENDING_SORTS = ("requested", "customer")


def list_pending(
    session: Session,
    *,
    status: str | None,
    customer_id: int | None,
    owner_ids: tuple[int, ...] | None,
    limit: int = 500,
    offset: int = 0,
    sort: str = "requested",
) -> list[PendingChange]:
    """Pending changes, oldest first unless ``sort`` (one of ``PENDING_SORTS``, ``-``:
    descending) says otherwise, the id breaking ties."""
    stmt = _pending_query(select(PendingChange), status, customer_id, owner_ids)
    descending = sort.startswith("-")
    keys: list[Any] = (
        [PendingChange.customer_id, PendingChange.requested_at]
        if sort.removeprefix("-") == "customer"
        else [PendingChange.requested_at]
    )
    keys.append(PendingChange.id)
    stmt = stmt.order_by(*(k.desc() if descending else k.asc() for k in keys))
    return list(session.scalars(stmt.offset(offset).limit(limit)))


def count_pending_changes(
    session: Session,
    *,
    status: str | None,
    customer_id: int | None,
    owner_ids: tuple[int, ...] | None,
) -> int:
    """How many changes ``list_pending`` would narrow to, without its limit."""
    stmt = _pending_query(select(func.count(PendingChange.id)), status, customer_id, owner_ids)
    return session.scalar(stmt) or 0


def _pending_query(
    stmt: Any, status: str | None, customer_id: int | None, owner_ids: tuple[int, ...] | None
) -> Any:
    stmt = stmt.join(Customer, Customer.id == PendingChange.customer_id)
    if status:
        stmt = stmt.where(PendingChange.status == status)
    if customer_id is not None:
        stmt = stmt.where(PendingChange.customer_id == customer_id)
    return _visible(stmt, owner_ids)


def pending_change_ids(session: Session, *, channel: str) -> list[int]:
    """Ids of the changes still waiting that came in through one channel, oldest first."""
    stmt = select(PendingChange.id).where(
        PendingChange.status == "pending", PendingChange.channel == channel
    )
    return list(session.scalars(stmt.order_by(PendingChange.id)))


def count_pending(session: Session, customer_id: int) -> int:
    """Number of changes of a customer awaiting approval."""
    stmt = (
        select(func.count())
        .select_from(PendingChange)
        .where(PendingChange.customer_id == customer_id, PendingChange.status == "pending")
    )
    return session.scalar(stmt) or 0


def open_pending_values(
    session: Session, customer_ids: Sequence[int]
) -> set[tuple[int, str, str | None]]:
    """(customer, field, proposed value) of every open pending change: resends stay single."""
    result: set[tuple[int, str, str | None]] = set()
    for part in chunks(list(customer_ids)):
        stmt = (
            select(PendingChange.customer_id, PendingChangeItem.field, PendingChangeItem.new_value)
            .join(PendingChangeItem, PendingChangeItem.pending_change_id == PendingChange.id)
            .where(PendingChange.status == "pending", PendingChange.customer_id.in_(part))
        )
        result.update((cid, field, value) for cid, field, value in session.execute(stmt))
    return result


def contacts_of(session: Session, customer_id: int) -> list[Contact]:
    """A customer's contacts, primary first."""
    stmt = select(Contact).where(Contact.customer_id == customer_id)
    return list(session.scalars(stmt.order_by(Contact.is_primary.desc(), Contact.id)))


def get_contact(session: Session, contact_id: int) -> Contact | None:
    """A contact by id."""
    return session.get(Contact, contact_id)


def statements_of(session: Session, customer_id: int) -> list[FinancialStatement]:
    """A customer's statements, newest period first."""
    stmt = select(FinancialStatement).where(FinancialStatement.customer_id == customer_id)
    return list(session.scalars(stmt.order_by(FinancialStatement.period_end.desc())))


def statements_by_key(
    session: Session, keys: set[tuple[int, Any, str]]
) -> dict[tuple[int, Any, str], FinancialStatement]:
    """Statements keyed by (customer, period_end, period_type)."""
    result: dict[tuple[int, Any, str], FinancialStatement] = {}
    customer_ids = sorted({k[0] for k in keys})
    for part in chunks(customer_ids):
        stmt = select(FinancialStatement).where(FinancialStatement.customer_id.in_(part))
        for row in session.scalars(stmt):
            key = (row.customer_id, row.period_end, row.period_type)
            if key in keys:
                result[key] = row
    return result


def reports_of(session: Session, customer_id: int) -> list[CreditReport]:
    """A customer's bureau reports, newest first."""
    stmt = select(CreditReport).where(CreditReport.customer_id == customer_id)
    return list(session.scalars(stmt.order_by(CreditReport.report_date.desc(), CreditReport.id)))


def reports_by_key(
    session: Session, pairs: set[tuple[str, str]]
) -> dict[tuple[str, str], CreditReport]:
    """Bureau reports keyed by (source, external_id)."""
    result: dict[tuple[str, str], CreditReport] = {}
    for source, part in key_chunks(pairs):
        stmt = select(CreditReport).where(
            CreditReport.source == source, CreditReport.external_id.in_(part)
        )
        for row in session.scalars(stmt):
            result[(row.source, row.external_id)] = row
    return result


def documents_of(session: Session, customer_id: int) -> list[Document]:
    """A customer's documents, newest first."""
    stmt = select(Document).where(Document.customer_id == customer_id)
    return list(session.scalars(stmt.order_by(Document.uploaded_at.desc(), Document.id.desc())))


def get_document(session: Session, document_id: int) -> Document | None:
    """A document by id."""
    return session.get(Document, document_id)


def duplicate_name_pool(session: Session) -> list[tuple[int, str, str | None, str]]:
    """(id, company name, tax id, kind) of every live company, for duplicate detection."""
    stmt = (
        select(Customer.id, Customer.company_name, Customer.tax_id, Customer.kind)
        .where(
            Customer.status != "merged",
            Customer.kind == "company",
            Customer.company_name.is_not(None),
        )
        .order_by(Customer.id)
    )
    return [(i, n or "", t, k) for i, n, t, k in session.execute(stmt)]


def duplicate_tax_ids(session: Session) -> list[tuple[str, list[int]]]:
    """Tax ids shared by more than one live customer, with their customer ids."""
    shared = (
        select(Customer.tax_id)
        .where(Customer.tax_id.is_not(None), Customer.status != "merged")
        .group_by(Customer.tax_id)
        .having(func.count() > 1)
    )
    stmt = (
        select(Customer.tax_id, Customer.id)
        .where(Customer.tax_id.in_(shared), Customer.status != "merged")
        .order_by(Customer.tax_id, Customer.id)
    )
    grouped: dict[str, list[int]] = {}
    for tax_id, cid in session.execute(stmt):
        grouped.setdefault(tax_id or "", []).append(cid)
    return list(grouped.items())


def reassign_customer(session: Session, tables: Sequence[Any], *, from_id: int, to_id: int) -> int:
    """Point every row of ``tables`` from one customer to another; returns rows moved."""
    moved = 0
    for table in tables:
        result = session.execute(
            update(table)
            .where(table.customer_id == from_id)
            .values(customer_id=to_id)
            .execution_options(synchronize_session=False)
        )
        moved += int(getattr(result, "rowcount", 0) or 0)
    return moved


def repoint_merged(session: Session, *, from_id: int, to_id: int) -> None:
    """Customers merged into ``from_id`` earlier are now merged into ``to_id``."""
    session.execute(
        update(Customer)
        .where(Customer.merged_into_id == from_id)
        .values(merged_into_id=to_id)
        .execution_options(synchronize_session=False)
    )


def conflicting_statement_keys(session: Session, *, from_id: int, to_id: int) -> list[int]:
    """Statements of ``from_id`` whose period the survivor already has (kept on the duplicate)."""
    a, b = aliased(FinancialStatement), aliased(FinancialStatement)
    stmt = (
        select(a.id)
        .join(
            b,
            and_(
                b.customer_id == to_id, b.period_end == a.period_end, b.period_type == a.period_type
            ),
        )
        .where(a.customer_id == from_id)
    )
    return list(session.scalars(stmt))


def owner_ids_of(session: Session, ids: set[int]) -> dict[int, int | None]:
    """Owner id of each customer."""
    result: dict[int, int | None] = {}
    for part in chunks(sorted(ids)):
        stmt = select(Customer.id, Customer.owner_id).where(Customer.id.in_(part))
        result.update((cid, owner) for cid, owner in session.execute(stmt))
    return result


def demo_worklist_customers(
    session: Session, owner_ids: Sequence[int], count: int
) -> list[tuple[Customer, Decimal, str, int]]:
    """Active companies with a credit limit, taken in turn from each owner (in id order):
    (customer, limit, currency, owner id), at most ``count``. The demo's day-one work."""
    per_owner: list[list[tuple[Customer, Decimal, str, int]]] = []
    for owner_id in owner_ids:
        stmt = (
            select(Customer, CreditProfile.credit_limit, CreditProfile.limit_currency)
            .join(CreditProfile, CreditProfile.customer_id == Customer.id)
            .where(
                Customer.owner_id == owner_id,
                Customer.status == "active",
                Customer.kind == "company",
                CreditProfile.credit_limit > 0,
            )
            .order_by(Customer.id)
            .limit(count)
        )
        per_owner.append(
            [(c, limit, currency, owner_id) for c, limit, currency in session.execute(stmt)]
        )
    picked: list[tuple[Customer, Decimal, str, int]] = []
    for turn in range(count):
        for rows in per_owner:
            if turn < len(rows) and len(picked) < count:
                picked.append(rows[turn])
    return picked
