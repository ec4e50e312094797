"""Lists as files: typed columns written as CSV (for spreadsheets) or .xlsx, both streamed.

A list is a tuple of :class:`Column` (a key into each row, the translation key of its header,
a kind) over rows (mappings key -> value) read a chunk at a time from the database. Headers and
enumerated values are written in the caller's language through ``translate``, the UI's own
catalogue, so a file reads like the screen it came from.

CSV is UTF-8 with a byte order mark (Excel otherwise reads it as the local code page) and
neutralises cells that a spreadsheet would run as a formula (OWASP "CSV injection"). .xlsx is
written by xlsxwriter in constant-memory mode to a temporary file, then streamed from it: a
zip's directory comes last, so the file cannot go out before it is finished, but memory stays
bounded whatever the number of rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import quote

import xlsxwriter

ColumnKind = Literal[
    "text", "money", "integer", "decimal", "percent", "date", "datetime", "enum", "boolean"
]
Translate = Callable[[str], str]
ExportFormat = Literal["csv", "xlsx"]

CHUNK_ROWS = 1000  # rows read from the database per round trip (yield_per)
CSV_FLUSH_BYTES = 64 * 1024
FILE_CHUNK_BYTES = 64 * 1024
BOM = "\ufeff"
# Cells starting with these run as formulas in Excel, LibreOffice and Google Sheets (OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
XLSX_MAX_ROWS = 1_048_576  # Excel's sheet limit, header included
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
NUMBER_FORMATS = {
    "money": "#,##0.00",
    "integer": "0",
    "decimal": "0.00##",
    "percent": "0.00%",
    "date": "yyyy-mm-dd",
    "datetime": "yyyy-mm-dd hh:mm:ss",
}
# Widths (in characters) a kind's values need, whatever the header.
KIND_WIDTHS = {
    "money": 16,
    "integer": 10,
    "decimal": 12,
    "percent": 10,
    "date": 12,
    "datetime": 20,
    "enum": 12,
    "boolean": 6,
    "text": 16,
}


@dataclass(frozen=True)
class Column:
    """One column of an exported list."""

    key: str  # the row's key
    label: str  # translation key of the header
    kind: ColumnKind = "text"
    enum: str | None = None  # translation key prefix of the values ("status." + value)
    width: int | None = None  # characters; by kind and header when None


def neutralise(text: str) -> str:
    """A text cell a spreadsheet will not run as a formula (a leading apostrophe, per OWASP)."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def label_of(column: Column, value: Any, translate: Translate) -> str:
    """An enumerated value in the caller's language (the value itself when unknown)."""
    if value is None or value == "":
        return ""
    if column.kind == "boolean":
        return translate("common.yes" if value else "common.no")
    return translate(f"{column.enum}{value}") if column.enum else str(value)


def _plain(value: Decimal | float | int) -> str:
    # Never scientific notation: Decimal("1E+3") and 1e-7 both print positionally.
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return format(value, ".6f").rstrip("0").rstrip(".")
    return str(value)


def _utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC) if value.tzinfo else value


def csv_text(column: Column, value: Any, translate: Translate) -> str:
    """A value as a CSV cell: numbers plain, dates ISO, times UTC, text neutralised."""
    if value is None:
        return ""
    kind = column.kind
    if kind in ("enum", "boolean"):
        return neutralise(label_of(column, value, translate))
    if kind == "percent":
        return _plain(round(Decimal(str(value)) * 100, 2)) + "%"
    if kind in ("money", "integer", "decimal"):
        return _plain(value)
    if kind == "datetime" and isinstance(value, dt.datetime):
        return _utc(value).strftime("%Y-%m-%d %H:%M:%S")
    if kind == "date" and isinstance(value, dt.date):
        return value.isoformat()
    return neutralise(str(value))


def headers(columns: Iterable[Column], translate: Translate) -> list[str]:
    """The header row in the caller's language."""
    return [translate(c.label) for c in columns]


def csv_chunks(
    columns: tuple[Column, ...], rows: Iterable[Mapping[str, Any]], translate: Translate
) -> Iterator[bytes]:
    """The list as UTF-8 CSV with a BOM, in chunks of about 64 KiB."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write(BOM)
    writer.writerow([neutralise(h) for h in headers(columns, translate)])
    for row in rows:
        writer.writerow([csv_text(c, row.get(c.key), translate) for c in columns])
        if buffer.tell() > CSV_FLUSH_BYTES:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def display_width(text: str) -> int:
    """Columns a text takes in a spreadsheet: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


class _Sheets:
    """Writes rows into as many worksheets as Excel's row limit needs."""

    def __init__(
        self, book: Any, columns: tuple[Column, ...], translate: Translate, title: str
    ) -> None:
        self.book = book
        self.columns = columns
        self.translate = translate
        self.title = title
        self.header = book.add_format({"bold": True, "bg_color": "#EEF2F7", "bottom": 1})
        self.formats = {
            kind: book.add_format({"num_format": f}) for kind, f in NUMBER_FORMATS.items()
        }
        self.sheet: Any = None
        self.count = 0
        self.row = 0

    def _new_sheet(self) -> None:
        self.count += 1
        name = self.title if self.count == 1 else f"{self.title} ({self.count})"
        sheet = self.book.add_worksheet(name[:31])
        labels = headers(self.columns, self.translate)
        for i, (column, label) in enumerate(zip(self.columns, labels, strict=True)):
            width = column.width or max(KIND_WIDTHS[column.kind], display_width(label) + 2)
            sheet.set_column(i, i, width)  # before any row: constant memory writes in order
            sheet.write_string(0, i, label, self.header)
        sheet.freeze_panes(1, 0)
        self.sheet = sheet
        self.row = 1

    def write(self, row: Mapping[str, Any]) -> None:
        if self.sheet is None or self.row >= XLSX_MAX_ROWS:
            self._finish_sheet()
            self._new_sheet()
        for i, column in enumerate(self.columns):
            self._cell(self.row, i, column, row.get(column.key))
        self.row += 1

    def _cell(self, r: int, c: int, column: Column, value: Any) -> None:
        if value is None:
            return
        kind = column.kind
        sheet = self.sheet
        if kind in ("money", "integer", "decimal", "percent"):
            sheet.write_number(r, c, float(value), self.formats[kind])
        elif kind == "datetime" and isinstance(value, dt.datetime):
            sheet.write_datetime(r, c, _utc(value).replace(tzinfo=None), self.formats[kind])
        elif kind == "date" and isinstance(value, dt.date):
            sheet.write_datetime(r, c, dt.datetime.combine(value, dt.time()), self.formats["date"])
        elif kind in ("enum", "boolean"):
            sheet.write_string(r, c, label_of(column, value, self.translate))
        else:
            # Written as a string cell, never parsed: no formula can sneak in through .xlsx.
            sheet.write_string(r, c, str(value))

    def _finish_sheet(self) -> None:
        if self.sheet is not None:
            self.sheet.autofilter(0, 0, max(self.row - 1, 0), len(self.columns) - 1)

    def close(self) -> None:
        if self.sheet is None:
            self._new_sheet()
        self._finish_sheet()


def write_xlsx(
    target: Any,
    columns: tuple[Column, ...],
    rows: Iterable[Mapping[str, Any]],
    translate: Translate,
    *,
    title: str,
) -> int:
    """Write the list as an .xlsx workbook into ``target`` (a binary file); the rows written."""
    book = xlsxwriter.Workbook(
        target,
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    sheets = _Sheets(book, columns, translate, _sheet_name(title))
    written = 0
    for row in rows:
        sheets.write(row)
        written += 1
    sheets.close()
    book.close()
    return written


def xlsx_chunks(
    columns: tuple[Column, ...],
    rows: Iterable[Mapping[str, Any]],
    translate: Translate,
    *,
    title: str,
) -> Iterator[bytes]:
    """The list as an .xlsx workbook, built in a temporary file and then read out in chunks."""
    with tempfile.TemporaryFile(prefix="riskdesk-export-") as target:
        write_xlsx(target, columns, rows, translate, title=title)
        target.seek(0)
        while chunk := target.read(FILE_CHUNK_BYTES):
            yield chunk


def file_chunks(
    fmt: ExportFormat,
    columns: tuple[Column, ...],
    rows: Iterable[Mapping[str, Any]],
    translate: Translate,
    *,
    title: str,
) -> Iterator[bytes]:
    """The list in the format asked for."""
    if fmt == "xlsx":
        return xlsx_chunks(columns, rows, translate, title=title)
    return csv_chunks(columns, rows, translate)


def _sheet_name(title: str) -> str:
    # Excel refuses these characters in a sheet's name, and names over 31 characters.
    cleaned = "".join("_" if ch in "[]:*?/\\" else ch for ch in title).strip("'")
    return cleaned[:31] or "Sheet1"


def content_disposition(name: str, title: str, day: dt.date, fmt: ExportFormat) -> str:
    """An attachment header naming the list and the day: an ASCII ``filename`` for old clients
    and the caller's-language ``filename*`` (RFC 5987) for the rest."""
    ascii_name = f"{name}-{day.isoformat()}.{fmt}"
    local = f"{title}-{day.isoformat()}.{fmt}"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(local, safe='')}"
