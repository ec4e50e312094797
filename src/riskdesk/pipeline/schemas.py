"""Import jobs as the API shows them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict

from riskdesk.events.schemas import IntakeReport


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
