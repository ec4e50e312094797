"""The shape every intake follows, whatever the kind of record and the channel.

1. Each raw record is validated by the kind's pydantic model (types, ranges, cross-field rules).
2. The kind's handler resolves references and idempotency keys against the database in bulk.
3. Keys repeated within the batch are caught here.
4. If any record is invalid and the caller did not ask to skip invalid ones, nothing is written.
5. The handler writes the rest in bulk and says what became of each.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from riskdesk.kit.errors import ErrorDetail
from riskdesk.kit.validation import blank_to_none, details_from_validation_error

Progress = Callable[[int], None]


@dataclass
class Item:
    """One record on its way in."""

    row: int
    raw: dict[str, Any]
    record: Any = None
    customer_id: int | None = None
    existing_id: int | None = None
    status: str = "new"  # new -> created | updated | pending | duplicate; or invalid
    result_id: int | None = None
    refs: dict[str, Any] = field(default_factory=dict)
    content_hash: str = ""
    errors: list[ErrorDetail] = field(default_factory=list)

    def fail(self, field_name: str | None, reason: str, code: str = "invalid") -> None:
        """Mark the record invalid with a reason naming the field."""
        self.errors.append(ErrorDetail(field=field_name, reason=reason, code=code, row=self.row))
        self.status = "invalid"

    @property
    def ok(self) -> bool:
        """Still good to write."""
        return not self.errors


@dataclass(frozen=True)
class WriteContext:
    """Who and what channel is writing."""

    principal: Any
    channel: str
    import_job_id: int | None = None
    progress: Progress | None = None
    # A file being checked before anything of it is written (pipeline.intake, phase 1): what
    # its earlier chunks leave for the later ones to be checked against, by name (amounts paid
    # per invoice, tax ids given, ...). None: the records are written as they are checked, and
    # what earlier chunks wrote is in the database.
    carry: dict[str, Any] | None = None


class Handler(Protocol):
    """What a kind of record brings to the intake."""

    kind: str
    schema: type[BaseModel]
    file_fields: tuple[str, ...]

    def key(self, record: Any) -> tuple[Any, ...] | None:
        """The idempotency key of a validated record."""

    # Fields whose equal values make file rows one record (empty: one row, one record).
    group_fields: tuple[str, ...]

    def group_rows(self, rows: list[dict[str, Any]], numbers: Sequence[int]) -> list[Item]:
        """Turn file rows (with their row numbers in the file) into records."""

    def resolve(self, session: Session, items: Sequence[Item], ctx: WriteContext) -> None:
        """Check references and keys against the database; mark duplicates and errors."""

    def write(self, session: Session, items: Sequence[Item], ctx: WriteContext) -> None:
        """Write the good records and set each one's status and result id."""


def content_hash(record: BaseModel) -> str:
    """A stable hash of a record's content, to tell a resend from a reused key."""
    data = record.model_dump(mode="json")
    # Fields a kind gained later count only when given: a record stored before them, sent
    # again, still hashes as it did (and is a duplicate, not a conflict).
    for name in getattr(type(record), "later_fields", ()):
        if data.get(name) is None:
            data.pop(name, None)
    payload = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def validate_items(handler: Handler, items: Sequence[Item]) -> None:
    """Run the kind's model over every record, keeping all errors.

    A kind whose records arrive flatter than its model (a customer's consents, a column per
    purpose) reshapes them first with its ``prepare``, which names the fields it refuses.
    """
    prepare: Callable[[dict[str, Any]], tuple[dict[str, Any], list[ErrorDetail]]] | None = getattr(
        handler, "prepare", None
    )
    for item in items:
        if item.errors:
            continue
        raw = blank_to_none(item.raw)
        if prepare is not None:
            raw, problems = prepare(raw)
            for problem in problems:
                item.fail(problem.field, problem.reason, problem.code)
        try:
            record = handler.schema.model_validate(raw)
        except ValidationError as exc:
            item.errors.extend(details_from_validation_error(exc, row=item.row))
            item.status = "invalid"
            continue
        if item.errors:  # the model took the rest, but what prepare refused stays refused
            continue
        item.record = record
        item.content_hash = content_hash(item.record)


def mark_repeats(
    handler: Handler, items: Sequence[Item], earlier: dict[int, int] | None = None
) -> None:
    """A key twice in one batch: the same content is a duplicate, other content an error.

    ``earlier`` carries the keys of a file's earlier chunks (a hash of each key with its
    content and row), for a file that is checked whole before any of it is written."""
    seen: dict[tuple[Any, ...], Item] = {}
    for item in items:
        if not item.ok or item.status == "duplicate":
            continue
        key = handler.key(item.record)
        if key is None:
            continue
        first = seen.get(key)
        if first is None and earlier is not None and _earlier_repeat(earlier, key, item):
            continue
        if first is None:
            seen[key] = item
        elif first.content_hash == item.content_hash:
            item.status = "duplicate"
            item.existing_id = first.existing_id
            item.refs["same_as_row"] = first.row
        else:
            item.fail(
                "external_id",
                f"this key is used by row {first.row} with other content",
                "idempotency_conflict",
            )


def _key64(key: tuple[Any, ...]) -> int:
    return int.from_bytes(hashlib.blake2b(repr(key).encode(), digest_size=8).digest(), "big")


def _earlier_repeat(earlier: dict[int, int], key: tuple[Any, ...], item: Item) -> bool:
    """Whether the key was in an earlier chunk (the item then marked); else note it.

    A key is kept as a 64-bit hash, its content as the first 64 bits of its hash, with the row
    packed beside it: about 100 bytes a record, where the key's text would cost three times
    that for a million rows. Two keys sharing a hash (about 1 in 10^7 for a million records)
    would make the later one a false repeat, never a silent duplicate of other content."""
    hashed = _key64(key)
    content = int(item.content_hash[:16], 16) if item.content_hash else 0
    packed = earlier.get(hashed)
    if packed is None:
        earlier[hashed] = (content << 32) | item.row
        return False
    row = packed & 0xFFFFFFFF
    if packed >> 32 == content:
        item.status = "duplicate"
    else:
        item.fail(
            "external_id",
            f"this key is used by row {row} with other content",
            "idempotency_conflict",
        )
    return True


def default_group_rows(rows: list[dict[str, Any]], numbers: Sequence[int]) -> list[Item]:
    """One row, one record."""
    return [Item(row=n, raw=row) for n, row in zip(numbers, rows, strict=True)]
