"""The credit file's privacy panel: record consent, legal holds, data-subject export, erasure."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from riskdesk.customers import service as customer_service
from riskdesk.db import SessionDep
from riskdesk.kit.errors import RiskdeskError, ValidationFailed
from riskdesk.kit.validation import PathId
from riskdesk.privacy import service as privacy_service
from riskdesk.privacy.schemas import ConsentIn, ErasureIn, HoldIn
from riskdesk.security.deps import CanCustomersWrite, CanPrivacyManage
from riskdesk.ui.customer_pages import credit_file
from riskdesk.ui.forms import FormDep, filled, form_failure

router = APIRouter(include_in_schema=False)


def _do(
    request: Request,
    session: SessionDep,
    principal: object,
    customer_id: int,
    done: str,
    action: Callable[[], object],
) -> Response:
    """Run one form's action: back to the privacy panel, or the credit file with the reason
    it was refused (rolled back, nothing half-done)."""
    try:
        action()
    except (ValidationError, RiskdeskError) as exc:
        status, errors = form_failure(session, exc)
        return credit_file(
            request, session, principal, customer_id, status_code=status, form_errors=errors
        )
    return RedirectResponse(f"/customers/{customer_id}?done={done}#privacy-panel", status_code=303)


@router.post("/customers/{customer_id}/consents")
def record_consent(
    request: Request,
    customer_id: PathId,
    session: SessionDep,
    principal: CanCustomersWrite,
    form: FormDep,
) -> Response:
    """Record a consent given or withdrawn."""
    fields = ("purpose", "granted", "notice_version", "evidence")
    return _do(
        request, session, principal, customer_id, "consent",
        lambda: privacy_service.record_consent(
            session, principal, customer_id, ConsentIn.model_validate(filled(form, fields)),
            channel="ui",
        ),
    )  # fmt: skip


@router.post("/customers/{customer_id}/legal-holds")
def place_hold(
    request: Request,
    customer_id: PathId,
    session: SessionDep,
    principal: CanPrivacyManage,
    form: FormDep,
) -> Response:
    """Put a legal hold on the customer's data."""
    return _do(
        request, session, principal, customer_id, "hold",
        lambda: privacy_service.place_hold(
            session, principal, customer_id, HoldIn.model_validate(filled(form, ("reason",))).reason
        ),
    )  # fmt: skip


@router.post("/customers/{customer_id}/legal-holds/{hold_id}/release")
def release_hold(
    request: Request,
    customer_id: PathId,
    hold_id: PathId,
    session: SessionDep,
    principal: CanPrivacyManage,
) -> Response:
    """Release a legal hold (a colleague of whoever placed it)."""
    return _do(
        request, session, principal, customer_id, "released",
        lambda: privacy_service.release_hold(session, principal, customer_id, hold_id),
    )  # fmt: skip


@router.post("/customers/{customer_id}/erasure")
def erase(
    request: Request,
    customer_id: PathId,
    session: SessionDep,
    principal: CanPrivacyManage,
    form: FormDep,
) -> Response:
    """Erase the person's data (refused under a legal hold), once the customer's code has
    been typed to confirm it: erasure cannot be undone, so one stray click must not do it."""
    data = filled(form, ("reason", "confirm_code"))

    def confirmed_erasure() -> object:
        body = ErasureIn.model_validate({k: v for k, v in data.items() if k == "reason"})
        customer = customer_service.get_customer_or_raise(session, principal, customer_id)
        if data.get("confirm_code", "").upper() != customer.code.upper():
            raise ValidationFailed(
                f"type the customer's code ({customer.code}) to confirm the erasure",
                field="confirm_code",
                code="confirmation_mismatch",
            )
        return privacy_service.erase(session, principal, customer_id, body.reason)

    return _do(request, session, principal, customer_id, "erased", confirmed_erasure)


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
