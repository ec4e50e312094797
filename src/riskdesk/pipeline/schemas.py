"""Import jobs as the API shows them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from riskdesk.events.schemas import IntakeReport
from riskdesk.kit.validation import InputModel


class ImportJobRead(BaseModel):
    """An import and what came of it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    filename: str
    file_sha256: str
    status: str
    skip_invalid: bool
    total_rows: int
    processed_rows: int
    invalid_rows: int
    created_count: int
    updated_count: int
    duplicate_count: int
    errors: list[dict[str, Any]]
    message: str | None
    created_at: dt.datetime
    finished_at: dt.datetime | None


class ImportResult(BaseModel):
    """A finished import: the job and, when rows were read, the per-row report."""

    job: ImportJobRead
    report: IntakeReport | None


class FieldChoice(BaseModel):
    """One allowed value of a field: its code and its label in each language."""

    code: str
    labels: dict[str, str]


class FieldGuideRead(BaseModel):
    """One field a file of a kind may have."""

    name: str
    labels: dict[str, str]
    required: bool
    type: str
    choices: list[FieldChoice]


class KindGuideRead(BaseModel):
    """The fields of one kind of file, and where its templates are."""

    kind: str
    fields: list[FieldGuideRead]
    templates: dict[str, str]


class MappingSave(InputModel):
    """A column mapping to save under a source's name for a kind."""

    name: str = Field(min_length=1, max_length=64, description='the source system, e.g. "ERP-金蝶"')
    kind: str = Field(max_length=32)
    mapping: str = Field(min_length=1, max_length=20000, description="as POST /imports takes it")


class MappingRead(BaseModel):
    """A saved column mapping."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: str
    mapping: str
    created_at: dt.datetime
    updated_at: dt.datetime
