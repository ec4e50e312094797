"""Column mappings saved per source system ("ERP-金蝶"), one per kind of file, to be reused."""

from __future__ import annotations

from sqlalchemy.orm import Session

from riskdesk.kit.errors import ErrorDetail, NotFound, ValidationFailed
from riskdesk.kit.tabular import ColumnMapping
from riskdesk.kit.timeutil import utcnow
from riskdesk.models import ImportMapping
from riskdesk.pipeline import intake
from riskdesk.pipeline import repository as repo
from riskdesk.security.service import Principal

MAX_NAME = 64


def checked(kind: str, text: str) -> ColumnMapping:
    """A mapping's text read and checked against the kind's fields (unknown ones named)."""
    handler = intake.handler_for(kind)
    mapping = ColumnMapping.from_yaml(text)
    fields = set(handler.file_fields)
    unknown = [
        ErrorDetail(
            field=name, code="unknown_field", reason=f"mapping names {name!r}, which {kind} lacks"
        )
        for name in dict.fromkeys([*mapping.columns, *mapping.defaults, *mapping.values])
        if name not in fields
    ]
    if unknown:
        raise ValidationFailed(
            f"the mapping names fields that {kind} lacks: "
            + ", ".join(str(u.field) for u in unknown),
            field="mapping",
            code="bad_mapping",
            details=unknown,
        )
    return mapping


def save(
    session: Session, principal: Principal, *, name: str, kind: str, text: str
) -> ImportMapping:
    """Save (or replace) the mapping of a source for a kind; saving the same text again changes
    nothing."""
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise ValidationFailed(
            f"a mapping's name takes 1 to {MAX_NAME} characters", field="mapping_name"
        )
    if not text.strip():
        raise ValidationFailed("the mapping to save is empty", field="mapping", code="missing")
    checked(kind, text)
    found = repo.mapping_named(session, name, kind)
    if found is None:
        return repo.add_mapping(
            session,
            ImportMapping(name=name, kind=kind, mapping=text, created_by_id=principal.user_id),
        )
    if found.mapping != text:
        found.mapping = text
        found.updated_at = utcnow()
        session.flush()
    return found


def get_or_raise(session: Session, mapping_id: int) -> ImportMapping:
    """A saved mapping, or NotFound."""
    found = repo.get_mapping(session, mapping_id)
    if found is None:
        raise NotFound(f"no saved mapping {mapping_id}", field="mapping_id")
    return found


def named(session: Session, name: str, kind: str) -> ImportMapping:
    """The mapping saved under a name for a kind, or a ValidationFailed naming the field."""
    found = repo.mapping_named(session, name.strip(), kind)
    if found is None:
        raise ValidationFailed(
            f"no mapping is saved as {name!r} for {kind}",
            field="mapping_name",
            code="unknown_mapping",
        )
    return found


def delete(session: Session, mapping_id: int) -> None:
    """Forget a saved mapping; one already gone is no error (a repeated delete changes
    nothing)."""
    found = repo.get_mapping(session, mapping_id)
    if found is not None:
        repo.delete_mapping(session, found)
