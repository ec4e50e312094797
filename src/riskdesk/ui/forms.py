"""What the pages' forms share: the posted form read up front, its filled fields, a refused
form's status and field errors, and the template context that shows them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, NamedTuple

from fastapi import Depends, Request
from pydantic import ValidationError
from starlette.datastructures import FormData

from riskdesk.kit.errors import ErrorDetail, RiskdeskError
from riskdesk.kit.validation import details_from_validation_error
from riskdesk.ui.render import Reason


async def form_data(request: Request) -> FormData:
    """The posted form, read before a (thread-pool) page handler runs."""
    return await request.form()


FormDep = Annotated[FormData, Depends(form_data)]


FormErrors = list[tuple[str | None, str]]


class Refusal(NamedTuple):
    """A refused form: the page's status and its errors (field None: the whole form's)."""

    status_code: int
    errors: FormErrors


def filled(form: FormData, names: tuple[str, ...]) -> dict[str, Any]:
    """The named fields the user filled in, trimmed (an empty field is no value)."""
    return {k: v.strip() for k in names if isinstance(v := form.get(k), str) and v.strip()}


def form_failure(
    session: Any, exc: Exception, cross_field: Mapping[str, tuple[str, str]] | None = None
) -> Refusal:
    """Status and field errors of a refused form: invalid input, or a refusal by the service
    (rolled back, so nothing is half-written).

    ``cross_field`` maps a phrase of a schema's cross-field check (a model validator names no
    field) to the field it is about and the code each language says it from."""
    if isinstance(exc, ValidationError):
        errors: FormErrors = []
        for d in details_from_validation_error(exc):
            if not d.field and cross_field:
                found = next((v for k, v in cross_field.items() if k in d.reason), None)
                if found is not None:
                    d = ErrorDetail(field=found[0], reason=d.reason, code=found[1])
            errors.append((d.field, Reason.of_detail(d)))
        return Refusal(422, errors)
    assert isinstance(exc, RiskdeskError)
    session.rollback()
    return Refusal(exc.status_code, [(exc.field, Reason.of_error(exc))])


def form_context(form: Mapping[str, Any] | None, refused: Refusal | None) -> dict[str, Any]:
    """A form page's status and context: what was typed, and a refusal's errors, in a summary
    (``form_errors``) and by field (``field_errors``)."""
    errors = refused.errors if refused else []
    return {
        "status_code": refused.status_code if refused else 200,
        "form": form or {},
        "form_errors": errors,
        "field_errors": {f: r for f, r in errors if f},
    }
