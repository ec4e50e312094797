"""What the pages' forms share: the posted form read up front, its filled fields, and a
refused form's status and field errors."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import ValidationError
from starlette.datastructures import FormData

from riskdesk.kit.errors import RiskdeskError
from riskdesk.kit.validation import details_from_validation_error
from riskdesk.ui.render import Reason


async def form_data(request: Request) -> FormData:
    """The posted form, read before a (thread-pool) page handler runs."""
    return await request.form()


FormDep = Annotated[FormData, Depends(form_data)]


FormErrors = list[tuple[str | None, str]]


def filled(form: FormData, names: tuple[str, ...]) -> dict[str, Any]:
    """The named fields the user filled in, trimmed (an empty field is no value)."""
    return {k: v.strip() for k in names if isinstance(v := form.get(k), str) and v.strip()}


def form_failure(session: Any, exc: Exception) -> tuple[int, FormErrors]:
    """Status and field errors of a refused form: invalid input, or a refusal by the service
    (rolled back, so nothing is half-written)."""
    if isinstance(exc, ValidationError):
        return 422, [(d.field, Reason.of_detail(d)) for d in details_from_validation_error(exc)]
    assert isinstance(exc, RiskdeskError)
    session.rollback()
    return exc.status_code, [(exc.field, Reason.of_error(exc))]
