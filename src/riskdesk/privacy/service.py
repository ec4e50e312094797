"""Consent, data-subject export, erasure under legal hold, and retention.

Consent concerns individuals (a company's data is not personal data). Processing that needs a
consent (``RISKDESK_CONSENT_REQUIRED``) checks for it: scoring and early-warning runs leave out
individuals without it, and an order credit check for one is refused with ``consent_missing``.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from riskdesk.audit import trail
from riskdesk.config import get_settings
from riskdesk.customers import service as customer_service
from riskdesk.customers.service import get_customer_or_raise as get_customer_or_raise
from riskdesk.kit import signals
from riskdesk.kit.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from riskdesk.kit.timeutil import utcnow
from riskdesk.models import Consent, Erasure, LegalHold
from riskdesk.models.customers import customer_code
from riskdesk.models.privacy import PURPOSES
from riskdesk.privacy import consent
from riskdesk.privacy import repository as repo
from riskdesk.privacy.consent import required
from riskdesk.privacy.schemas import (
    ConsentIn,
    ConsentRead,
    ConsentStatus,
    RetentionReport,
    SubjectExport,
)
from riskdesk.security.permissions import Permission
from riskdesk.security.service import Principal, ensure_second_person

ERASED_NAME = "(erased)"


# ---------------------------------------------------------------- consent


def record_consent(
    session: Session, principal: Principal, customer_id: int, body: ConsentIn, *, channel: str
) -> tuple[Consent, bool]:
    """Record a consent given or withdrawn (records are never changed, only added); the record
    in force afterwards, and whether this one was new."""
    if not (principal.can(Permission.CUSTOMERS_WRITE) or principal.can(Permission.PRIVACY_MANAGE)):
        raise PermissionDenied("recording consent needs 'customers:write'")
    customer = get_customer_or_raise(session, principal, customer_id)
    if customer.kind != "individual":
        raise ValidationFailed("consent is recorded for individuals", field="customer_id")
    if customer.erased_at is not None:
        raise Conflict(f"{customer.code} was erased", code="customer_erased")
    added = consent.record_many(
        session, [(customer.id, body)], recorded_by=principal.user_id, channel=channel
    )
    return repo.latest_consents(session, [customer.id])[(customer.id, body.purpose)], bool(added)


def consent_status(session: Session, principal: Principal, customer_id: int) -> ConsentStatus:
    """The consent in force for each purpose, and whether processing may go on."""
    customer = get_customer_or_raise(session, principal, customer_id)
    history = repo.consent_history(session, customer.id)
    current: dict[str, ConsentRead | None] = {p: None for p in PURPOSES}
    for record in reversed(history):  # oldest first: the last one seen wins
        current[record.purpose] = ConsentRead.model_validate(record)
    individual = customer.kind == "individual"
    allowed = {
        p: (not individual) or (not required(p)) or bool(current[p] and current[p].granted)  # type: ignore[union-attr]
        for p in PURPOSES
    }
    return ConsentStatus(
        customer_id=customer.id,
        applies=individual,
        current=current,
        allowed=allowed,
        history=[ConsentRead.model_validate(r) for r in history],
    )


# ---------------------------------------------------------------- data-subject rights


def _require_privacy(principal: Principal) -> None:
    if not principal.can(Permission.PRIVACY_MANAGE):
        raise PermissionDenied("this needs 'privacy:manage'")


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def subject_export(session: Session, principal: Principal, customer_id: int) -> SubjectExport:
    """Everything held about one person, as JSON-ready tables (the export is logged)."""
    _require_privacy(principal)
    customer = get_customer_or_raise(session, principal, customer_id)
    tables = repo.subject_rows(session, customer.id)
    plain = {
        name: [{k: _plain(v) for k, v in row.items()} for row in rows]
        for name, rows in tables.items()
    }
    trail.viewed(
        session,
        object_type="customer",
        object_id=customer.id,
        fields=sorted(plain),
        action="export",
        reason="data-subject access request",
    )
    return SubjectExport(generated_at=utcnow(), customer_code=customer.code, tables=plain)


def place_hold(session: Session, principal: Principal, customer_id: int, reason: str) -> LegalHold:
    """Put a legal hold on a customer's data."""
    _require_privacy(principal)
    customer = get_customer_or_raise(session, principal, customer_id)
    for active in repo.active_holds(session, [customer.id]):
        if active.reason == reason:
            return active  # sent twice
    hold = LegalHold(customer_id=customer.id, reason=reason, placed_by_id=principal.user_id)
    session.add(hold)
    session.flush()
    return hold


def release_hold(
    session: Session, principal: Principal, customer_id: int, hold_id: int
) -> LegalHold:
    """Release a legal hold."""
    _require_privacy(principal)
    customer = get_customer_or_raise(session, principal, customer_id)
    hold = repo.get_hold(session, hold_id)
    if hold is None or hold.customer_id != customer.id:
        raise NotFound(f"no legal hold {hold_id} on {customer.code}", field="hold_id")
    if hold.released_at is not None:
        raise Conflict("this hold was already released", code="hold_released")
    # Four eyes: whoever placed the hold cannot lift it alone (and then erase at once).
    ensure_second_person(principal, hold.placed_by_id, "a colleague must release your hold")
    hold.released_at = utcnow()
    hold.released_by_id = principal.user_id
    session.flush()
    return hold


def _delete_files_after_commit(session: Session, digests: list[str]) -> None:
    if not digests:
        return
    data_dir = get_settings().data_dir
    paths = [customer_service.document_path(Path(data_dir), d) for d in digests]

    def remove(_session: Session) -> None:
        for path in paths:
            path.unlink(missing_ok=True)

    event.listen(session, "after_commit", remove, once=True)


def _erase(
    session: Session, ids: list[int], *, reason: str, origin: str, by: int | None
) -> list[int]:
    digests = repo.erase_personal_data(session, ids, ERASED_NAME)
    session.add_all(
        Erasure(customer_id=cid, reason=reason, origin=origin, erased_by_id=by) for cid in ids
    )
    session.flush()
    for cid in ids:
        trail.viewed(
            session, object_type="customer", object_id=cid, fields=["personal_data"], action="erase"
        )
    _delete_files_after_commit(session, digests)
    return ids


def erase(session: Session, principal: Principal, customer_id: int, reason: str) -> Erasure:
    """Erase an individual's personal data; the anonymous credit history stays."""
    _require_privacy(principal)
    customer = get_customer_or_raise(session, principal, customer_id)
    if customer.kind != "individual":
        raise ValidationFailed(
            "a company's data is not personal data; erase its contacts instead",
            field="customer_id",
        )
    if customer.erased_at is not None:
        raise Conflict(f"{customer.code} was already erased", code="customer_erased")
    holds = repo.active_holds(session, [customer.id])
    if holds:
        raise Conflict(
            f"{customer.code} is under legal hold ({holds[0].reason}); release it first",
            code="legal_hold",
        )
    _erase(session, [customer.id], reason=reason, origin="request", by=principal.user_id)
    session.refresh(customer)
    found = repo.erasure_of(session, customer.id)
    assert found is not None
    return found


def run_retention(
    session: Session, *, dry_run: bool, now: dt.datetime | None = None
) -> RetentionReport:
    """Apply the retention periods: erase individuals inactive for too long (unless held),
    delete read notifications, finished deliveries and ended sessions past theirs."""
    now = now or utcnow()
    periods = get_settings().retention

    def cut(key: str) -> dt.datetime | None:
        days = periods.get(key)
        return now - dt.timedelta(days=days) if days else None

    inactive_before = cut("personal_data_inactive_days")
    ids = repo.inactive_individuals(session, inactive_before) if inactive_before else []
    held = repo.inactive_held(session, inactive_before) if inactive_before else 0
    before = {
        "notifications": cut("notifications_days"),
        "deliveries": cut("deliveries_days"),
        "sessions": cut("sessions_days"),
    }
    if dry_run:
        return RetentionReport(
            dry_run=True,
            erased_customers=ids,
            held_back=held,
            purged=repo.count_old(session, before=before),
        )
    if ids:
        _erase(session, ids, reason="retention period ended", origin="retention", by=None)
    purged = repo.purge_old(session, before=before)
    return RetentionReport(dry_run=False, erased_customers=ids, held_back=held, purged=purged)


def export_json(export: SubjectExport) -> str:
    """The export as a JSON document."""
    return json.dumps(export.model_dump(mode="json"), ensure_ascii=False, indent=2)


def _on_customers_merged(session: Session, survivor_id: int, duplicate_id: int, **_: Any) -> None:
    """A merge says both records are one person: what the person consented to or withdrew
    under the duplicate now counts for the survivor (the record given last is in force). A
    legal hold on the duplicate also holds the survivor, which now keeps the held records;
    the duplicate keeps its own hold too."""
    repo.move_consents(session, from_id=duplicate_id, to_id=survivor_id)
    code = customer_code(duplicate_id)
    session.add_all(
        LegalHold(
            customer_id=survivor_id,
            reason=f"{hold.reason} (carried over from {code} on merge)",
            placed_by_id=hold.placed_by_id,
            placed_at=utcnow(),
        )
        for hold in repo.active_holds(session, [duplicate_id])
    )
    session.flush()


signals.subscribe(signals.CUSTOMERS_MERGED, _on_customers_merged)
