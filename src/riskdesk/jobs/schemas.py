"""Schemas of background jobs."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel

JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]


class JobProgress(BaseModel):
    """How far a job is: its phase and the steps done of those known."""

    phase: str
    done: int
    total: int


class JobError(BaseModel):
    """Why a job failed, as the synchronous request would have answered."""

    code: str
    message: str


class JobRead(BaseModel):
    """A job: what it runs, how far it is, and what came of it."""

    id: int
    kind: str
    status: JobStatus
    parameters: dict[str, Any]
    progress: JobProgress
    result: dict[str, Any] | None
    error: JobError | None
    cancel_requested: bool
    attempts: int
    created_by_id: int
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
