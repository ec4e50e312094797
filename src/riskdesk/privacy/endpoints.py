"""API of consent and data-subject rights."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from riskdesk.db import SessionDep, begin_store, reads_first, snapshot
from riskdesk.kit.validation import PathId
from riskdesk.privacy import repository as repo
from riskdesk.privacy import service
from riskdesk.privacy.schemas import (
    ConsentIn,
    ConsentRead,
    ConsentStatus,
    ErasureIn,
    ErasureRead,
    HoldIn,
    HoldRead,
    RetentionReport,
    SubjectExport,
)
from riskdesk.security.deps import CanCustomersRead, CanCustomersWrite, CanPrivacyManage

router = APIRouter(tags=["privacy"])


@router.get("/customers/{customer_id}/consents", response_model=ConsentStatus)
def consents(
    customer_id: PathId, session: SessionDep, principal: CanCustomersRead
) -> ConsentStatus:
    """The consent in force per purpose, whether processing may go on, and the history."""
    return service.consent_status(session, principal, customer_id)


@router.post(
    "/customers/{customer_id}/consents",
    response_model=ConsentRead,
    status_code=201,
    responses={200: {"model": ConsentRead, "description": "The same consent sent again"}},
)
def record_consent(
    customer_id: PathId,
    body: ConsentIn,
    session: SessionDep,
    principal: CanCustomersWrite,
    response: Response,
) -> ConsentRead:
    """Record a consent given or withdrawn; the same record sent twice is kept once (200)."""
    consent, created = service.record_consent(session, principal, customer_id, body, channel="api")
    if not created:
        response.status_code = 200
    return ConsentRead.model_validate(consent)


@router.get("/customers/{customer_id}/personal-data", response_model=SubjectExport)
def subject_export(
    customer_id: PathId, session: SessionDep, principal: CanPrivacyManage
) -> SubjectExport:
    """Everything held about one person, for a data-subject access request (logged)."""
    return service.subject_export(session, principal, customer_id)


@router.post("/customers/{customer_id}/erasure", response_model=ErasureRead)
def erase(
    customer_id: PathId, body: ErasureIn, session: SessionDep, principal: CanPrivacyManage
) -> ErasureRead:
    """Erase an individual's personal data; refused under a legal hold (409 legal_hold)."""
    return ErasureRead.model_validate(service.erase(session, principal, customer_id, body.reason))


@router.get("/customers/{customer_id}/legal-holds", response_model=list[HoldRead])
def holds(customer_id: PathId, session: SessionDep, principal: CanPrivacyManage) -> list[HoldRead]:
    """Every legal hold of a customer, newest first."""
    service.get_customer_or_raise(session, principal, customer_id)
    return [HoldRead.model_validate(h) for h in repo.holds_of(session, customer_id)]


@router.post("/customers/{customer_id}/legal-holds", response_model=HoldRead, status_code=201)
def place_hold(
    customer_id: PathId, body: HoldIn, session: SessionDep, principal: CanPrivacyManage
) -> HoldRead:
    """Put a legal hold on the customer's data (blocks erasure and retention)."""
    return HoldRead.model_validate(service.place_hold(session, principal, customer_id, body.reason))


@router.post("/customers/{customer_id}/legal-holds/{hold_id}/release", response_model=HoldRead)
def release_hold(
    customer_id: PathId, hold_id: PathId, session: SessionDep, principal: CanPrivacyManage
) -> HoldRead:
    """Release a legal hold."""
    return HoldRead.model_validate(service.release_hold(session, principal, customer_id, hold_id))


@router.post("/privacy/retention-runs", response_model=RetentionReport)
@reads_first
def retention(
    session: SessionDep,
    principal: CanPrivacyManage,
    dry_run: Annotated[bool, Query(description="only report what would be done")] = True,
) -> RetentionReport:
    """Apply the retention periods now (by default a dry run that changes nothing, and takes
    no write lock)."""
    if dry_run:
        with snapshot(session):
            return service.run_retention(session, dry_run=True)
    # Finding whom to erase and erasing them is one write: what is found must still hold
    # when it is erased (inactive, not under a legal hold).
    begin_store(session)
    return service.run_retention(session, dry_run=False)
