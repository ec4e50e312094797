"""What the audit API returns."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


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
    """One break in the chain (``checkpoint``: a checkpoint that is forged, or that the log
    contradicts)."""

    kind: Literal["edited", "inserted", "deleted", "replayed", "head", "checkpoint"]
    seq: int | None
    entry_id: int | None
    message: str


class AnchorRead(BaseModel):
    """The checkpoint the chain was held against, and whether the chain holds it."""

    seq: int
    hash: str
    source: str
    at: dt.datetime | None
    held: bool


class VerificationRead(BaseModel):
    """The result of checking the whole chain."""

    ok: bool = Field(description="No finding: the chain is whole as far as it goes.")
    unanchored: bool = Field(
        description="The log has entries but no checkpoint vouches for its end: an emptied "
        "log or a cut-off tail cannot be ruled out."
    )
    entries: int
    head_seq: int
    head_hash: str
    findings: list[FindingRead]
    anchors: list[AnchorRead]
    checkpoint_files: list[str] = Field(description="Where checkpoints were looked for.")
