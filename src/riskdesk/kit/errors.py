"""Domain errors, each with an HTTP status and a stable code.

RiskdeskError
 ├── NotAuthenticated     401 not_authenticated
 ├── PermissionDenied     403 permission_denied
 │    └── PasswordChangeRequired  403 password_change_required
 ├── NotFound             404 not_found
 ├── Conflict             409 conflict (and subclasses with their own codes)
 ├── ValidationFailed     422 validation_failed (carries per-row/per-field details)
 └── PayloadTooLarge      413 payload_too_large

One handler renders all of them as {"error": {"code", "message", "field", "details"?}}.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ErrorDetail:
    """One problem in one field of one row (row is None for single records)."""

    field: str | None
    reason: str
    code: str = "invalid"
    row: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        data: dict[str, Any] = {"field": self.field, "code": self.code, "reason": self.reason}
        if self.row is not None:
            data["row"] = self.row
        return data


@dataclass(frozen=True)
class ErrorAnswer:
    """An error as answered: drawn as JSON for the API and as a page for the browser."""

    status: int
    code: str
    message: str
    field: str | None = None
    details: tuple[ErrorDetail, ...] = ()
    headers: dict[str, str] | None = None


class RiskdeskError(Exception):
    """Base of all domain errors."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        details: list[ErrorDetail] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code
        self.details = details or []

    def as_dict(self) -> dict[str, Any]:
        """The body of the error response."""
        body: dict[str, Any] = {"code": self.code, "message": self.message, "field": self.field}
        if self.details:
            body["details"] = [d.as_dict() for d in self.details]
        return {"error": body}


class NotAuthenticated(RiskdeskError):
    """No valid session or token."""

    status_code = 401
    code = "not_authenticated"


class PermissionDenied(RiskdeskError):
    """Authenticated, but not allowed to do this."""

    status_code = 403
    code = "permission_denied"


class PasswordChangeRequired(PermissionDenied):
    """Signed in with a password an administrator set: nothing but choosing one's own until
    done."""

    code = "password_change_required"


class NotFound(RiskdeskError):
    """The object does not exist or is not visible to the caller."""

    status_code = 404
    code = "not_found"


class Conflict(RiskdeskError):
    """The request clashes with the current state."""

    status_code = 409
    code = "conflict"


class ValidationFailed(RiskdeskError):
    """Input that is well-formed but wrong: bad values, missing references, broken rules."""

    status_code = 422
    code = "validation_failed"


class PayloadTooLarge(RiskdeskError):
    """Too many records or too large a file."""

    status_code = 413
    code = "payload_too_large"
