"""Intake handlers for customers, financial statements and bureau reports."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import BaseModel
from sqlalchemy import insert
from sqlalchemy.orm import Session

from riskdesk.customers import repository as repo
from riskdesk.customers import service
from riskdesk.customers.schemas import (
    CONSENT_FILE_FIELDS,
    CONSENT_PREFIX,
    STATEMENT_FIGURES,
    CreditReportCreate,
    CustomerCreate,
    StatementCreate,
    consents_from_columns,
)
from riskdesk.events import repository as event_repo
from riskdesk.kit.errors import ErrorDetail, RiskdeskError
from riskdesk.kit.intake import Item, WriteContext, default_group_rows
from riskdesk.kit.timeutil import utcnow
from riskdesk.models import (
    CreditFileVersion,
    CreditProfile,
    CreditReport,
    Customer,
    CustomerExternalRef,
    CustomerGroup,
    FinancialStatement,
    PendingChange,
    PendingChangeItem,
)
from riskdesk.models.customers import blind_indexes
from riskdesk.privacy import consent
from riskdesk.security import repository as users_repo
from riskdesk.security.permissions import Permission

WRITE_CHUNK = 2000
_PROFILE_INPUTS = (
    "credit_limit",
    "limit_currency",
    "limit_valid_from",
    "limit_valid_to",
    "payment_terms_days",
    "prepayment_required",
    "rating_override",
    "blocked",
    "blocked_reason",
    "last_review_date",
    "next_review_date",
)


class _Base:
    kind: ClassVar[str]
    group_fields: ClassVar[tuple[str, ...]] = ()
    schema: ClassVar[type[BaseModel]]

    @property
    def file_fields(self) -> tuple[str, ...]:
        """Fields a file may map."""
        return tuple(self.schema.model_fields)

    def group_rows(self, rows: list[dict[str, Any]], numbers: Sequence[int]) -> list[Item]:
        """One row, one record."""
        return default_group_rows(rows, numbers)


class CustomerHandler(_Base):
    """New customers are created; known ones (same source and external id) are updated, with
    critical fields going to dual review."""

    kind = "customers"
    schema = CustomerCreate
    # Unknown consent columns reach prepare(), which refuses them by name.
    file_prefixes = (CONSENT_PREFIX,)

    @property
    def file_fields(self) -> tuple[str, ...]:
        """Fields a file may map: the record's, and the consent columns."""
        fields = tuple(f for f in CustomerCreate.model_fields if f != "reason")
        return (*fields, *CONSENT_FILE_FIELDS)

    def prepare(self, raw: dict[str, Any]) -> tuple[dict[str, Any], list[ErrorDetail]]:
        """Consents given as a column per purpose, or as JSON, become the record's list."""
        return consents_from_columns(raw)

    def key(self, record: CustomerCreate) -> tuple[str, str]:
        """(source, external_id)."""
        return (record.source, record.external_id)

    def resolve(self, session: Session, items: Sequence[Item], ctx: WriteContext) -> None:
        """Known customers, owners, groups, tax ids and permissions, all in bulk."""
        principal = ctx.principal
        good = [i for i in items if i.ok]
        known = repo.customer_ids_by_ref(session, {self.key(i.record) for i in good})
        owners = users_repo.users_by_usernames(
            session, {i.record.owner for i in good if i.record.owner}
        )
        groups = repo.groups_by_code(
            session, {i.record.group_code for i in good if i.record.group_code}
        )
        tax_holders = repo.customers_by_tax_id(
            session, {i.record.tax_id for i in good if i.record.tax_id}
        )
        # Whose customers the caller may see: a key held by another team's customer is
        # refused without naming it (docs/security.md, "What an error may reveal").
        visible = service.visible_among(
            session, principal, set(known.values()) | set(tax_holders.values())
        )
        # Tax ids given by earlier records of the batch (of the whole file while it is checked
        # before being written), and groups that earlier records create (group_name).
        carry = ctx.carry if ctx.carry is not None else {}
        batch_tax: dict[str, tuple[tuple[str, str], int]] = carry.setdefault("tax_ids", {})
        planned: set[str] = carry.setdefault("groups", set())
        may_set_profile = principal.can(Permission.CREDIT_PROFILE_WRITE)
        for item in good:
            rec: CustomerCreate = item.record
            item.existing_id = known.get(self.key(rec))
            if item.existing_id is not None and item.existing_id not in visible:
                item.fail(
                    "external_id",
                    f"external id {rec.external_id!r} of source {rec.source!r} already belongs "
                    f"to {service.HIDDEN_HOLDER}",
                    "duplicate_external_id",
                )
                continue
            if rec.owner and rec.owner not in owners:
                item.fail("owner", f"no user {rec.owner!r}", "unknown_reference")
            if (
                rec.group_code
                and rec.group_code not in groups
                and rec.group_code not in planned
                and not rec.group_name
            ):
                item.fail(
                    "group_code",
                    f"no customer group {rec.group_code!r}; add group_name to create it",
                    "unknown_reference",
                )
            if rec.tax_id:
                holder = tax_holders.get(rec.tax_id)
                if holder is not None and holder != item.existing_id:
                    item.fail(
                        "tax_id",
                        service.tax_id_taken(holder, holder in visible),
                        "duplicate_tax_id",
                    )
                other = batch_tax.get(rec.tax_id)
                if other is not None and other[0] != self.key(rec):
                    item.fail("tax_id", f"tax id also given in row {other[1]}", "duplicate_tax_id")
                batch_tax.setdefault(rec.tax_id, (self.key(rec), item.row))
            if not may_set_profile:
                for name in _PROFILE_INPUTS:
                    if getattr(rec, name) is not None and item.existing_id is None:
                        item.fail(
                            name,
                            "setting the credit profile needs 'credit_profile:write'",
                            "permission_denied",
                        )
                        break
            if item.ok and rec.group_code and rec.group_name:
                planned.add(rec.group_code)
            if item.existing_id is not None:
                item.status = "existing"

    def check(self, session: Session, items: Sequence[Item], ctx: WriteContext) -> None:
        """What only writing would otherwise find out, for a file checked before any of it is
        written: changes to known customers that the service would refuse."""
        for item in items:
            if not item.ok or item.status != "existing":
                continue
            try:
                customer = service.get_customer_or_raise(
                    session, ctx.principal, item.existing_id or 0
                )
                if customer.kind != item.record.kind.value:
                    raise RiskdeskError(
                        "a customer's kind cannot change", field="kind", code="kind_mismatch"
                    )
                service.check_change(session, ctx.principal, customer, self._requested(item))
            except RiskdeskError as exc:
                item.fail(exc.field, exc.message, exc.code)

    @staticmethod
    def _requested(item: Item) -> dict[str, Any]:
        # An empty cell or a null means "not given": an upsert never clears a field by omission.
        requested: dict[str, Any] = item.record.model_dump(
            exclude_unset=True,
            exclude_none=True,
            exclude={"source", "external_id", "kind", "reason", "consents"},
        )
        return requested

    def write(self, session: Session, items: Sequence[Item], ctx: WriteContext) -> None:
        """Create new customers in bulk; change known ones one by one through the service."""
        new = [i for i in items if i.ok and i.status == "new"]
        groups = self._ensure_groups(session, [i.record for i in items if i.ok])
        owners = users_repo.users_by_usernames(
            session, {i.record.owner for i in new if i.record.owner}
        )
        restricted = ctx.principal.own_customers_only
        # Dual control holds at creation too: credit values beyond the creator's own authority
        # wait for a second person; the customer starts with the safe defaults (limit 0).
        authority = service.creation_authority(session, ctx.principal) if new else None
        now = utcnow()
        for start in range(0, len(new), WRITE_CHUNK):
            part = new[start : start + WRITE_CHUNK]
            rows = []
            for item in part:
                rec: CustomerCreate = item.record
                owner_id = owners[rec.owner].id if rec.owner else None
                if owner_id is None and restricted:
                    owner_id = ctx.principal.user_id  # sales own what they create
                rows.append(
                    {
                        "kind": rec.kind.value,
                        "company_name": rec.name if rec.kind == "company" else None,
                        "person_name": rec.name if rec.kind == "individual" else None,
                        "tax_id": rec.tax_id,
                        "national_id": rec.national_id,
                        "phone": rec.phone,
                        "email": rec.email,
                        "address": rec.address,
                        "bank_account": rec.bank_account,
                        "segment": rec.segment.value if rec.segment else None,
                        "industry": rec.industry,
                        "region": rec.region,
                        "status": rec.status.value if rec.status else "active",
                        "owner_id": owner_id,
                        "group_id": groups[rec.group_code].id if rec.group_code else None,
                        "version": 1,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            rows = [{**row, **blind_indexes(Customer, row)} for row in rows]
            ids = event_repo.insert_rows(session, Customer, rows)
            profiles, refs, versions = [], [], []
            waiting: list[tuple[Item, dict[str, Any]]] = []
            for item, new_id in zip(part, ids, strict=True):
                rec = item.record
                given = {
                    name: getattr(rec, name)
                    for name in _PROFILE_INPUTS
                    if getattr(rec, name) is not None
                }
                profile, later = service.split_creation_profile(given, authority)
                profiles.append({**_profile_defaults(), **profile, "customer_id": new_id})
                if later:
                    waiting.append((item, later))
                refs.append(
                    {
                        "customer_id": new_id,
                        "source": rec.source,
                        "external_id": rec.external_id,
                        "created_at": now,
                    }
                )
                versions.append(
                    {
                        "customer_id": new_id,
                        "version": 1,
                        "changed_by_id": ctx.principal.user_id,
                        "action": "created",
                        "channel": ctx.channel,
                        "reason": rec.reason,
                        "changed_at": now,
                    }
                )
                item.result_id = new_id
                item.status = "created"
            session.execute(insert(CreditProfile), profiles)
            session.execute(insert(CustomerExternalRef), refs)
            session.execute(insert(CreditFileVersion), versions)
            self._queue_creation_values(session, waiting, ctx, now)
            consent.record_many(
                session,
                [(i.result_id, c) for i in part for c in i.record.consents or [] if i.result_id],
                recorded_by=ctx.principal.user_id,
                channel=ctx.channel,
            )
            if ctx.progress:
                ctx.progress(len(part))
        for item in items:
            if item.ok and item.status == "existing":
                self._update(session, item, ctx)

    def _queue_creation_values(
        self,
        session: Session,
        waiting: Sequence[tuple[Item, dict[str, Any]]],
        ctx: WriteContext,
        now: dt.datetime,
    ) -> None:
        """One pending change per new customer whose credit values wait, in bulk; its record
        answers "pending"."""
        if not waiting:
            return
        change_ids = event_repo.insert_rows(
            session,
            PendingChange,
            [
                {
                    "customer_id": item.result_id,
                    "status": "pending",
                    "requested_by_id": ctx.principal.user_id,
                    "requested_at": now,
                    "reason": item.record.reason or "credit values given at creation",
                    "channel": ctx.channel,
                }
                for item, _ in waiting
            ],
        )
        session.execute(
            insert(PendingChangeItem),
            [
                {"pending_change_id": change_id, "field": f, "old_value": o, "new_value": n}
                for change_id, (_, later) in zip(change_ids, waiting, strict=True)
                for f, o, n in service.creation_pending_items(later)
            ],
        )
        for item, _ in waiting:
            item.status = "pending"

    def _update(self, session: Session, item: Item, ctx: WriteContext) -> None:
        rec: CustomerCreate = item.record
        assert item.existing_id is not None
        requested = self._requested(item)
        savepoint = session.begin_nested()
        try:
            customer = service.get_customer_or_raise(session, ctx.principal, item.existing_id)
            if customer.kind != rec.kind.value:
                raise RiskdeskError(
                    "a customer's kind cannot change", field="kind", code="kind_mismatch"
                )
            outcome = service.change_customer(
                session, ctx.principal, customer, requested, reason=rec.reason, channel=ctx.channel
            )
        except RiskdeskError as exc:
            savepoint.rollback()
            item.fail(exc.field, exc.message, exc.code)
            return
        savepoint.commit()
        added = consent.record_many(
            session,
            [(customer.id, c) for c in rec.consents or []],
            recorded_by=ctx.principal.user_id,
            channel=ctx.channel,
        )
        item.result_id = item.existing_id
        if outcome.pending is not None:
            item.status = "pending"
        elif outcome.applied or added:
            item.status = "updated"
        else:
            item.status = "duplicate"
        if ctx.progress:
            ctx.progress(1)

    def _ensure_groups(
        self, session: Session, records: Sequence[CustomerCreate]
    ) -> dict[str, CustomerGroup]:
        codes = {r.group_code for r in records if r.group_code}
        groups = repo.groups_by_code(session, codes)
        for rec in records:
            if rec.group_code and rec.group_code not in groups and rec.group_name:
                group = CustomerGroup(code=rec.group_code, name=rec.group_name)
                repo.add(session, group)
                groups[group.code] = group
        return groups


def _profile_defaults() -> dict[str, Any]:
    return {
        "score": None,
        "rating": None,
        "rating_override": None,
        "risk_tier": None,
        "credit_limit": 0,
        "limit_currency": "CNY",
        "limit_valid_from": None,
        "limit_valid_to": None,
        "payment_terms_days": 0,
        "prepayment_required": False,
        "blocked": False,
        "blocked_reason": None,
        "last_review_date": None,
        "next_review_date": None,
    }


class StatementHandler(_Base):
    """Financial statements: a new period is added; a changed one is corrected, with history."""

    kind = "statements"
    schema = StatementCreate

    def key(self, record: StatementCreate) -> tuple[Any, ...]:
        """The customer reference and the period."""
        return (
            record.customer_code,
            record.customer_source or record.source,
            record.customer_external_id,
            record.period_end,
            record.period_type,
        )

    def resolve(self, session: Session, items: Sequence[Item], ctx: WriteContext) -> None:
        """Customers and stored periods."""
        service.resolve_customer_refs(session, ctx.principal, items)
        stored = repo.statements_by_key(
            session,
            {
                (i.customer_id, i.record.period_end, i.record.period_type)
                for i in items
                if i.ok and i.customer_id is not None
            },
        )
        for item in items:
            if not item.ok:
                continue
            key = (item.customer_id or 0, item.record.period_end, item.record.period_type)
            row = stored.get(key)
            if row is None:
                continue
            item.existing_id = row.id
            same = row.currency == item.record.currency and all(
                getattr(row, f) == getattr(item.record, f) for f in STATEMENT_FIGURES
            )
            item.status = "duplicate" if same else "existing"
            if same:
                item.result_id = row.id
            elif not ctx.principal.can(Permission.CUSTOMERS_WRITE):
                item.fail(
                    "period_end",
                    "correcting a statement needs 'customers:write'",
                    "permission_denied",
                )

    def write(self, session: Session, items: Sequence[Item], ctx: WriteContext) -> None:
        """Add or correct statements; each is a version of the credit file."""
        for item in items:
            if not item.ok or item.status not in ("new", "existing"):
                continue
            rec: StatementCreate = item.record
            customer = repo.get_customer(session, item.customer_id or 0)
            assert customer is not None
            label = f"statement.{rec.period_type}.{rec.period_end.isoformat()}"
            if item.status == "new":
                row = FinancialStatement(
                    customer_id=customer.id,
                    period_end=rec.period_end,
                    period_type=rec.period_type,
                    currency=rec.currency,
                    source=rec.source,
                    **{f: getattr(rec, f) for f in STATEMENT_FIGURES},
                )
                repo.add(session, row)
                added: list[tuple[str, str | None, str | None]] = [
                    (f"{label}.{f}", None, service.to_text(getattr(rec, f)))
                    for f in STATEMENT_FIGURES
                    if getattr(rec, f) is not None
                ]
                service.record_version(
                    session,
                    customer=customer,
                    actor_id=ctx.principal.user_id,
                    action="statement_added",
                    channel=ctx.channel,
                    reason=None,
                    changes=added,
                )
                item.status = "created"
            else:
                existing = session.get(FinancialStatement, item.existing_id)
                assert existing is not None
                changes: list[tuple[str, str | None, str | None]] = []
                for f in (*STATEMENT_FIGURES, "currency"):
                    old, new = getattr(existing, f), getattr(rec, f)
                    if old != new:
                        changes.append((f"{label}.{f}", service.to_text(old), service.to_text(new)))
                        setattr(existing, f, new)
                session.flush()
                service.record_version(
                    session,
                    customer=customer,
                    actor_id=ctx.principal.user_id,
                    action="statement_corrected",
                    channel=ctx.channel,
                    reason=None,
                    changes=changes,
                )
                row = existing
                item.status = "updated"
            item.result_id = row.id
            if ctx.progress:
                ctx.progress(1)


class CreditReportHandler(_Base):
    """Bureau reports, idempotent on (source, external_id)."""

    kind = "credit_reports"
    schema = CreditReportCreate

    def key(self, record: CreditReportCreate) -> tuple[str, str]:
        """(source, external_id)."""
        return (record.source, record.external_id)

    def resolve(self, session: Session, items: Sequence[Item], ctx: WriteContext) -> None:
        """Customers and stored reports."""
        service.resolve_customer_refs(session, ctx.principal, items)
        stored = repo.reports_by_key(session, {self.key(i.record) for i in items if i.ok})
        for item in items:
            if not item.ok:
                continue
            row = stored.get(self.key(item.record))
            if row is None:
                continue
            if row.content_hash == item.content_hash:
                item.status = "duplicate"
                item.result_id = row.id
            else:
                item.fail(
                    "external_id",
                    "this report id was already used with other content",
                    "idempotency_conflict",
                )

    def write(self, session: Session, items: Sequence[Item], ctx: WriteContext) -> None:
        """Store new reports; each is a version of the credit file."""
        for item in items:
            if not item.ok or item.status != "new":
                continue
            rec: CreditReportCreate = item.record
            customer = repo.get_customer(session, item.customer_id or 0)
            assert customer is not None
            row = CreditReport(
                customer_id=customer.id,
                source=rec.source,
                external_id=rec.external_id,
                report_date=rec.report_date,
                score=rec.score,
                recommended_limit=rec.recommended_limit,
                payload=rec.payload,
                content_hash=item.content_hash,
            )
            repo.add(session, row)
            service.record_version(
                session,
                customer=customer,
                actor_id=ctx.principal.user_id,
                action="credit_report_added",
                channel=ctx.channel,
                reason=None,
                changes=[
                    (
                        f"credit_report.{rec.source}",
                        None,
                        # No words in the value: the history shows it in either language.
                        f"{rec.report_date.isoformat()} · "
                        f"{rec.score if rec.score is not None else '-'}",
                    )
                ],
            )
            item.result_id = row.id
            item.status = "created"
            if ctx.progress:
                ctx.progress(1)


CUSTOMER_HANDLERS: dict[str, Any] = {
    h.kind: h for h in (CustomerHandler(), StatementHandler(), CreditReportHandler())
}
