"""An import's outcome as a person reads it, in their language: what stopped the file (and what
to do), and each row's problems with the row, the field's name and the reason."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from riskdesk.models import ImportJob
from riskdesk.pipeline import guide
from riskdesk.ui.i18n import Translator

# Row errors whose reason is "not one of the allowed values": the page lists them.
_CHOICE_CODES = frozenset({"enum", "literal_error", "string_pattern_mismatch"})
# What stopped a whole file, told by the code of its first detail (the job keeps the details).
_MAPPING_NEEDED = frozenset({"unknown_column", "required_column"})


@dataclass(frozen=True)
class RowProblem:
    """One problem of one row (or of the file, row None)."""

    row: int | None
    field: str
    reason: str


@dataclass(frozen=True)
class ImportOutcome:
    """The banner of a stopped import, and its problems."""

    banner: str | None
    unknown_columns: tuple[str, ...]
    missing_fields: tuple[str, ...]
    problems: tuple[RowProblem, ...]


def _label(kind: str, field: str | None, t: Translator) -> str:
    if not field:
        return ""
    if field in {g.name for g in guide.fields_of(kind)}:
        name = guide.field_label(field, t.locale)
        return name if name == field else f"{name} ({field})"
    return field


def _reason(kind: str, error: dict[str, Any], t: Translator) -> str:
    code = str(error.get("code") or "invalid")
    reason = str(error.get("reason") or "")
    if t.locale != "en":
        reason = t.messages.get(f"error.reason.{code}") or t("error.reason.invalid")
    field = error.get("field")
    if code in _CHOICE_CODES and field:
        found = next((g for g in guide.fields_of(kind) if g.name == field), None)
        if found is not None and found.choices:
            reason = t("imports.allowed", reason=reason, values=guide.choices_text(found, t.locale))
    return reason


def outcome(job: ImportJob, t: Translator) -> ImportOutcome:
    """What the job page says of a finished import."""
    errors = list(job.errors or [])
    codes = {e.get("code") for e in errors}
    kind = job.kind
    banner: str | None = None
    unknown: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    if job.status == "rejected":
        banner = t(
            "imports.rejected",
            invalid=f"{job.invalid_rows:,}",
            total=f"{job.total_rows:,}",
            control=t("imports.skip_invalid"),
        )
    elif job.message and codes & _MAPPING_NEEDED and not any(e.get("row") for e in errors):
        banner = t("imports.failure.mapping_needed")
        unknown = tuple(str(e["field"]) for e in errors if e.get("code") == "unknown_column")
        missing = tuple(
            _label(kind, e.get("field"), t) for e in errors if e.get("code") == "required_column"
        )
        return ImportOutcome(banner, unknown, missing, ())
    elif job.message:
        first = str(errors[0].get("code")) if errors else ""
        banner = t.messages.get(f"imports.failure.{first}")
        if (
            banner is None
            and not any(e.get("row") for e in errors)
            and first
            in (
                "missing_column",
                "unknown_field",
            )
        ):
            banner = t("imports.failure.bad_mapping")
        if banner is None:
            banner = job.message if t.locale == "en" else t("imports.failure.other")
        if not any(e.get("row") for e in errors) and t.messages.get(f"imports.failure.{first}"):
            return ImportOutcome(banner, (), (), ())  # said whole above
    problems = tuple(
        RowProblem(e.get("row"), _label(kind, e.get("field"), t), _reason(kind, e, t))
        for e in errors[:500]
    )
    return ImportOutcome(banner, unknown, missing, problems)
