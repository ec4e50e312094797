"""Pagination shared by list endpoints and pages: offset pages, and keyset cursors."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel

from riskdesk.kit.errors import ValidationFailed

T = TypeVar("T")

MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class PageParams:
    """Which slice of a list to return (1-based page)."""

    page: int = 1
    size: int = 25

    @property
    def offset(self) -> int:
        """Rows to skip."""
        return (self.page - 1) * self.size


class Page(BaseModel, Generic[T]):
    """One page of results with the total count."""

    items: list[T]
    total: int
    page: int
    size: int

    @property
    def pages(self) -> int:
        """Number of pages."""
        return max(1, -(-self.total // self.size))


# -- Keyset cursors --------------------------------------------------------------------------
#
# A cursor names the last row of a page (by id) in an opaque token. It grants nothing: the
# rows after it are narrowed by the caller's filters and visibility again, so a forged cursor
# can only skip rows, never show more.

_CURSOR_PREFIX = "id:"
_CURSOR_MAX_ID = 2_147_483_647  # ids are 32-bit on every database


def encode_cursor(last_id: int) -> str:
    """The opaque cursor that continues after the row with ``last_id``."""
    raw = f"{_CURSOR_PREFIX}{last_id}".encode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The row id a cursor continues after; ValidationFailed (field ``cursor``) when it was
    not made by ``encode_cursor``."""
    bad = ValidationFailed("the cursor is not one this API handed out", field="cursor")
    if not _CURSOR_TEXT.fullmatch(cursor):
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        raise bad from None
    digits = raw.removeprefix(_CURSOR_PREFIX)
    if raw == digits or not _CURSOR_ID.fullmatch(digits) or int(digits) > _CURSOR_MAX_ID:
        raise bad
    if encode_cursor(int(digits)) != cursor:  # one spelling per id: no padding, no slack bits
        raise bad
    return int(digits)


_CURSOR_TEXT = re.compile(r"[A-Za-z0-9_-]{4,24}")
_CURSOR_ID = re.compile(r"[1-9][0-9]{0,9}")
