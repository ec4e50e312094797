"""Masking personal data for roles that may not see it in full, and logging full views.

Roles with ``personal_data:view`` see values in full, and each time they do, the view is noted
in the audit log. The others (sales, customer service, admin) see masked identifiers such as
``+86138****5678``; those with ``personal_data:reveal`` can reveal one value at a time, with a
reason, and that is logged too.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session

from riskdesk.audit import trail
from riskdesk.security.permissions import Permission
from riskdesk.security.service import Principal

# The identifiers that are masked; a person's name is not (people must know whom they call).
MASKED_FIELDS = frozenset({"national_id", "phone", "email", "address", "bank_account"})


def mask(field: str, value: str) -> str:
    """A value with its identifying middle hidden."""
    if field == "email" and "@" in value:
        local, domain = value.rsplit("@", 1)
        return f"{local[:2]}***@{domain}"
    if field == "address":
        return value[:6] + "****" if len(value) > 6 else "****"
    if field == "phone":
        prefix = "+" if value.startswith("+") else ""
        digits = value.lstrip("+")
        if len(digits) >= 11:  # +86 138 **** 5678: country code and the operator prefix stay
            return f"{prefix}{digits[:-8]}****{digits[-4:]}"
        return f"{prefix}{'*' * max(len(digits) - 4, 0)}{digits[-4:]}"
    if field == "national_id":
        return value[:3] + "*" * max(len(value) - 7, 0) + value[-4:]
    if field == "bank_account":
        digits = value.replace(" ", "").replace("-", "")
        return "*" * max(len(digits) - 4, 0) + digits[-4:]
    return "****"


def sees_in_full(principal: Principal) -> bool:
    """Whether the principal's role shows personal data unmasked."""
    return principal.can(Permission.PII_VIEW)


def disclose(
    session: Session,
    principal: Principal,
    values: Mapping[str, str | None],
    *,
    object_type: str,
    object_id: object,
    prefix: str = "",
) -> tuple[dict[str, str | None], list[str]]:
    """The values as this principal may see them, and which were masked; a full view of any
    personal value is noted in the audit log."""
    present = [k for k, v in values.items() if k in MASKED_FIELDS and v]
    result = dict(values)
    if sees_in_full(principal):
        trail.viewed(
            session,
            object_type=object_type,
            object_id=object_id,
            fields=[prefix + k for k in present],
        )
        return result, []
    for name in present:
        value = values[name]
        assert value is not None
        result[name] = mask(name, value)
    return result, present
