"""The consent check that processing runs before it touches an individual's data.

Kept apart from the privacy service so that scoring, early warning and credit checks can use it
without importing the credit file's services.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from riskdesk.config import get_settings
from riskdesk.kit.errors import Conflict
from riskdesk.kit.timeutil import utcnow
from riskdesk.models import Customer
from riskdesk.models.customers import customer_code
from riskdesk.privacy import repository as repo
from riskdesk.privacy.schemas import ConsentIn


def required(purpose: str) -> bool:
    """Whether processing for ``purpose`` checks consent (an operator's setting)."""
    return purpose in get_settings().consent_required


def without_consent(session: Session, purpose: str, ids: Sequence[int] | None) -> set[int]:
    """The individuals among ``ids`` (None: all) that processing for ``purpose`` leaves out."""
    if not required(purpose):
        return set()
    return repo.individuals_without(session, purpose, ids)


def mark(session: Session) -> int:
    """Where the consent record stands now, for withdrawn_since after a long read."""
    return repo.consent_mark(session)


def withdrawn_since(session: Session, purpose: str, since: int) -> set[int]:
    """The individuals that processing for ``purpose`` leaves out because of a consent
    recorded after ``since`` (a mark): what a long batch checks again before it is made
    current, in time set by the records since, not by the customers."""
    if not required(purpose):
        return set()
    changed = repo.recorded_since(session, purpose, since)
    return repo.individuals_without(session, purpose, changed) if changed else set()


def require_consent(session: Session, customer: Customer, purpose: str) -> None:
    """Refuse processing an individual without the consent it needs."""
    require_consent_of(session, customer.id, customer.kind, purpose)


def require_consent_of(session: Session, customer_id: int, kind: str, purpose: str) -> None:
    """The same, for a customer known by id and kind (no object loaded)."""
    if kind == "individual" and without_consent(session, purpose, [customer_id]):
        raise Conflict(
            f"{customer_code(customer_id)} has not consented to {purpose.replace('_', ' ')}; "
            f"record the consent (POST /api/v1/customers/{customer_id}/consents) before "
            "processing",
            field="consent",
            code="consent_missing",
        )


def record_many(
    session: Session,
    given: Sequence[tuple[int, ConsentIn]],
    *,
    recorded_by: int | None,
    channel: str,
) -> int:
    """Record consents, in bulk (those that came with customer records, or one from the API or
    the privacy panel). A record that says what the one in force says, or is older than it,
    changes nothing and is skipped: sent twice, or arriving late, it adds nothing. Returns
    how many were added."""
    if not given:
        return 0
    now = utcnow()
    latest = repo.latest_consents(session, sorted({cid for cid, _ in given}))
    rows = []
    for cid, body in given:
        current = latest.get((cid, body.purpose))
        given_at = body.given_at or now  # the schema accepts only times with a zone
        if current is not None and (
            (current.granted, current.notice_version) == (body.granted, body.notice_version)
            or given_at < current.given_at  # older than what is in force: changes nothing
        ):
            continue
        rows.append(
            {
                "customer_id": cid,
                "purpose": body.purpose,
                "granted": body.granted,
                "notice_version": body.notice_version,
                "given_at": given_at,
                "recorded_at": now,
                "recorded_by_id": recorded_by,
                "channel": channel,
                "evidence": body.evidence,
            }
        )
    repo.insert_consents(session, rows)
    return len(rows)
