"""What the audit API returns."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class AuditEntryRead(BaseModel):
    """One entry of the log."""

    model_config = ConfigDict(from_attributes=True)

    chain: int = Field(description="The chain the entry is in (the log is kept in several).")
    seq: int = Field(description="The entry's number in its chain.")
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
    """One break in a chain (``checkpoint``: a checkpoint that is forged, or that the log
    contradicts)."""

    kind: Literal["edited", "inserted", "deleted", "replayed", "head", "checkpoint"]
    chain: int | None = Field(description="The chain; null for the log as a whole.")
    seq: int | None
    entry_id: int | None
    message: str


class AnchorRead(BaseModel):
    """The checkpoint a chain was held against, and whether the chain holds it."""

    chain: int
    seq: int
    hash: str
    source: str
    at: dt.datetime | None
    held: bool


class ChainRead(BaseModel):
    """One chain: how many entries it has, its head, and whether anything vouched for it."""

    chain: int
    entries: int
    head_seq: int
    head_hash: str
    anchored: bool


class VerificationRead(BaseModel):
    """The result of checking every chain."""

    ok: bool = Field(description="No finding: every chain is whole as far as it goes.")
    unanchored: bool = Field(
        description="A chain has entries but no checkpoint vouches for its end: an emptied "
        "chain or a cut-off tail cannot be ruled out."
    )
    entries: int
    chains: list[ChainRead] = Field(description="The chains that have entries.")
    findings: list[FindingRead]
    anchors: list[AnchorRead]
    checkpoint_files: list[str] = Field(description="Where checkpoints were looked for.")
