"""What an export is asked with and answers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from riskdesk.kit.exports import Column

ExportLocale = Literal["zh-CN", "en"]


@dataclass(frozen=True)
class ListExport:
    """One list that exports: its name (file name, audit record), its title (translation key:
    the localised file name and the sheet's name) and its columns."""

    name: str
    title: str
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class ExportFile:
    """A file on its way out: the bytes as they are produced, and what to call them."""

    chunks: Iterator[bytes]
    media_type: str
    disposition: str
    rows: int
