"""What the audit API returns."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class AuditEntryRead(BaseModel):
    """One entry of the log."""

    model_config = ConfigDict(from_attributes=True)

    seq: int
    at: dt.datetime
    actor: str
    actor_id: int | None
    channel: str
    ip: str | None
    action: str
    request: str | None
    object_type: str | None
    object_id: str | None
    detail: dict[str, Any]
    hash: str


class FindingRead(BaseModel):
    """One break in the chain."""

    kind: Literal["edited", "inserted", "deleted", "head"]
    seq: int | None
    entry_id: int | None
    message: str


class VerificationRead(BaseModel):
    """The result of checking the whole chain."""

    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    findings: list[FindingRead]
