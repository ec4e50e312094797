"""The credit file's privacy panel: record consent, legal holds, data-subject export, erasure."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from riskdesk.db import SessionDep
from riskdesk.kit.errors import RiskdeskError
from riskdesk.kit.validation import PathId
from riskdesk.privacy import service as privacy_service
from riskdesk.privacy.schemas import ConsentIn, ErasureIn, HoldIn
from riskdesk.security.deps import CanCustomersWrite, CanPrivacyManage
from riskdesk.ui.pages import FormDep, _credit_file, _form_failure, filled

router = APIRouter(include_in_schema=False)


def _back(customer_id: int, done: str) -> Response:
    return RedirectResponse(f"/customers/{customer_id}?done={done}#privacy-panel", status_code=303)


def _refused(
    request: Request, session: SessionDep, principal: object, customer_id: int, exc: Exception
) -> Response:
    status, errors = _form_failure(session, exc)
    return _credit_file(
        request, session, principal, customer_id, status_code=status, form_errors=errors
    )


@router.post("/customers/{customer_id}/consents")
def record_consent(
    request: Request,
    customer_id: PathId,
    session: SessionDep,
    principal: CanCustomersWrite,
    form: FormDep,
) -> Response:
    """Record a consent given or withdrawn."""
    try:
        body = ConsentIn.model_validate(
            filled(form, ("purpose", "granted", "notice_version", "evidence"))
        )
        privacy_service.record_consent(session, principal, customer_id, body, channel="ui")
    except (ValidationError, RiskdeskError) as exc:
        return _refused(request, session, principal, customer_id, exc)
    return _back(customer_id, "consent")


@router.post("/customers/{customer_id}/legal-holds")
def place_hold(
    request: Request,
    customer_id: PathId,
    session: SessionDep,
    principal: CanPrivacyManage,
    form: FormDep,
) -> Response:
    """Put a legal hold on the customer's data."""
    try:
        body = HoldIn.model_validate(filled(form, ("reason",)))
        privacy_service.place_hold(session, principal, customer_id, body.reason)
    except (ValidationError, RiskdeskError) as exc:
        return _refused(request, session, principal, customer_id, exc)
    return _back(customer_id, "hold")


@router.post("/customers/{customer_id}/legal-holds/{hold_id}/release")
def release_hold(
    request: Request,
    customer_id: PathId,
    hold_id: PathId,
    session: SessionDep,
    principal: CanPrivacyManage,
) -> Response:
    """Release a legal hold."""
    try:
        privacy_service.release_hold(session, principal, customer_id, hold_id)
    except RiskdeskError as exc:
        return _refused(request, session, principal, customer_id, exc)
    return _back(customer_id, "released")


@router.post("/customers/{customer_id}/erasure")
def erase(
    request: Request,
    customer_id: PathId,
    session: SessionDep,
    principal: CanPrivacyManage,
    form: FormDep,
) -> Response:
    """Erase the person's data (refused under a legal hold)."""
    try:
        body = ErasureIn.model_validate(filled(form, ("reason",)))
        privacy_service.erase(session, principal, customer_id, body.reason)
    except (ValidationError, RiskdeskError) as exc:
        return _refused(request, session, principal, customer_id, exc)
    return _back(customer_id, "erased")


@router.get("/customers/{customer_id}/personal-data.json")
def subject_export(
    customer_id: PathId, session: SessionDep, principal: CanPrivacyManage
) -> Response:
    """Everything held about the person, as a JSON file (logged)."""
    export = privacy_service.subject_export(session, principal, customer_id)
    name = f"{export.customer_code}-personal-data.json"
    return Response(
        privacy_service.export_json(export),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
