"""Lists as files: typed columns written as CSV (for spreadsheets) or .xlsx, both streamed.

A list is a tuple of :class:`Column` (a key into each row, the translation key of its header,
a kind) over rows (mappings key -> value) read a chunk at a time from the database. Headers and
enumerated values are written in the caller's language through ``translate``, the UI's own
catalogue, so a file reads like the screen it came from.

CSV is UTF-8 with a byte order mark (Excel otherwise reads it as the local code page) and
neutralises cells that a spreadsheet would run as a formula (OWASP "CSV injection"). .xlsx is
written row by row as Office Open XML into a zip in a temporary file, then streamed from it: a
zip's directory comes last, so the file cannot go out before it is finished, but memory stays
bounded whatever the number of rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import quote

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
FORMULA_STARTS = frozenset(("=", "+", "-", "@", "\t", "\r"))
XLSX_MAX_ROWS = 1_048_576  # Excel's sheet limit, header included
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
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
    return "'" + text if text[:1] in FORMULA_STARTS else text


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
    return "" if value is None else _csv_encoder(column, translate)(value)


def _csv_encoder(column: Column, translate: Translate) -> Callable[[Any], str]:
    """A function writing one (present) value of the column as CSV text."""
    kind = column.kind
    if kind in ("enum", "boolean"):
        labels: dict[Any, str] = {}

        def label(value: Any) -> str:
            if value not in labels:
                labels[value] = neutralise(label_of(column, value, translate))
            return labels[value]

        return label
    if kind == "percent":
        return lambda value: _plain(round(Decimal(str(value)) * 100, 2)) + "%"
    if kind in ("money", "integer", "decimal"):
        return _plain
    if kind == "datetime":
        return lambda v: (
            _utc(v).strftime("%Y-%m-%d %H:%M:%S")
            if isinstance(v, dt.datetime)
            else neutralise(str(v))
        )
    if kind == "date":
        return lambda v: v.isoformat() if isinstance(v, dt.date) else neutralise(str(v))
    return lambda value: neutralise(str(value))


def headers(columns: Iterable[Column], translate: Translate) -> list[str]:
    """The header row in the caller's language; a column of instants says they are UTC.

    Files keep UTC whatever zone the pages show: a file is joined with others, loaded into BI
    tools and read next to the API and the audit log, which are all UTC, and it must mean the
    same after an administrator changes the display zone. The header names the zone, so a
    reader never takes 01:30 for Shanghai's clock."""
    return [
        _named_utc(translate(c.label)) if c.kind == "datetime" else translate(c.label)
        for c in columns
    ]


def _named_utc(label: str) -> str:
    return label if "UTC" in label else f"{label} (UTC)"


def csv_chunks(
    columns: tuple[Column, ...], rows: Iterable[Mapping[str, Any]], translate: Translate
) -> Iterator[bytes]:
    """The list as UTF-8 CSV with a BOM, in chunks of about 64 KiB."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write(BOM)
    writer.writerow([neutralise(h) for h in headers(columns, translate)])
    cells = [(c.key, _csv_encoder(c, translate)) for c in columns]
    for row in rows:
        writer.writerow(["" if (v := row.get(k)) is None else encode(v) for k, encode in cells])
        if buffer.tell() > CSV_FLUSH_BYTES:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def display_width(text: str) -> int:
    """Columns a text takes in a spreadsheet: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


# The workbook's fixed parts (Office Open XML, ECMA-376), written once per file.
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
# Cell styles (cellXfs, by position): 0 plain, 1 header, then one per number format.
_STYLE = {"money": 2, "integer": 3, "decimal": 4, "percent": 5, "date": 6, "datetime": 7}
_STYLES = (
    _XML + f'<styleSheet xmlns="{_MAIN}">'
    '<numFmts count="4"><numFmt numFmtId="164" formatCode="#,##0.00"/>'
    '<numFmt numFmtId="165" formatCode="0.00##"/><numFmt numFmtId="166" formatCode="yyyy-mm-dd"/>'
    '<numFmt numFmtId="167" formatCode="yyyy-mm-dd hh:mm:ss"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="3"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill>'
    '<fill><patternFill patternType="solid"><fgColor rgb="FFEEF2F7"/></patternFill></fill></fills>'
    '<borders count="2"><border><left/><right/><top/><bottom/><diagonal/></border>'
    '<border><left/><right/><top/><bottom style="thin"/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="8"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="2" borderId="1" xfId="0" applyFont="1" applyFill="1"'
    ' applyBorder="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="1" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="10" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="166" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="167" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
    "</cellStyles></styleSheet>"
)
_EPOCH = dt.datetime(1899, 12, 30)  # Excel's day 0 (1900 date system)
# Characters XML 1.0 cannot carry at all; a spreadsheet cell shows nothing for them anyway.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
XLSX_MAX_TEXT = 32_767  # characters in one cell


_XML_SPECIAL = re.compile("[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: str) -> str:
    if len(text) > XLSX_MAX_TEXT:
        text = text[:XLSX_MAX_TEXT]
    if _XML_SPECIAL.search(text) is None:  # most cells: nothing to escape
        return text
    text = _INVALID_XML.sub("", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _column_letters(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _xlsx_encoder(column: Column, translate: Translate) -> Callable[[Any], str]:
    """A function writing one (present) value of the column as a cell. Cells carry no
    reference: a row lists all its cells in order (an absent value is an empty ``<c/>``)."""
    kind = column.kind
    if kind in ("money", "integer", "decimal", "percent"):
        open_cell = f'<c s="{_STYLE[kind]}"><v>'

        def number(value: Any) -> str:
            text = format(value, "f") if isinstance(value, Decimal) else repr(value)
            return f"{open_cell}{text}</v></c>"

        return number
    if kind in ("date", "datetime"):
        day_cell = f'<c s="{_STYLE[kind]}"><v>'

        def day(value: Any) -> str:
            if isinstance(value, dt.datetime):
                delta = _utc(value).replace(tzinfo=None) - _EPOCH
                serial = repr(delta.days + delta.seconds / 86400 + delta.microseconds / 8.64e10)
            elif isinstance(value, dt.date):
                serial = str((value - _EPOCH.date()).days)
            else:
                return _inline(value)
            return f"{day_cell}{serial}</v></c>"

        return day
    if kind in ("enum", "boolean"):
        labels: dict[Any, str] = {}

        def label(value: Any) -> str:
            if value not in labels:
                labels[value] = _inline(label_of(column, value, translate))
            return labels[value]

        return label
    return _inline


def _inline(value: Any) -> str:
    # An inline string is text, never a formula: nothing can sneak in through .xlsx.
    text = _xml_text(value if isinstance(value, str) else str(value))
    return f'<c t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'


class _Workbook:
    """Writes tables into a zip as their rows come, one worksheet part after another (a new
    sheet past Excel's row limit), then the parts that name the sheets."""

    def __init__(self, archive: zipfile.ZipFile, translate: Translate) -> None:
        self.archive = archive
        self.translate = translate
        self.sheets: list[tuple[str, int, str]] = []  # (name, rows with header, last column)
        self.part: Any = None
        self.row = 0

    def _open_sheet(self, columns: tuple[Column, ...], labels: list[str], title: str) -> None:
        number = len(self.sheets) + 1
        # A table past Excel's row limit goes on: "title (2)"; names are unique per workbook.
        taken = {name for name, _, _ in self.sheets}
        name, more = title[:31], 1
        while name in taken:
            more += 1
            name = f"{title[:26]} ({more})"[:31]
        letters = [_column_letters(i) for i in range(len(columns))]
        self.sheets.append((name, 0, letters[-1]))
        self.part = io.TextIOWrapper(
            self.archive.open(f"xl/worksheets/sheet{number}.xml", "w", force_zip64=True),
            encoding="utf-8",
        )
        widths = "".join(
            f'<col min="{i}" max="{i}" width="{w}" customWidth="1"/>'
            for i, w in enumerate(
                (
                    c.width or max(KIND_WIDTHS[c.kind], display_width(label) + 2)
                    for c, label in zip(columns, labels, strict=True)
                ),
                start=1,
            )
        )
        self.part.write(
            f'{_XML}<worksheet xmlns="{_MAIN}" xmlns:r="{_REL}"><sheetViews>'
            '<sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2"'
            ' activePane="bottomLeft" state="frozen"/><selection pane="bottomLeft"/>'
            "</sheetView></sheetViews>"
            f'<sheetFormatPr defaultRowHeight="15"/><cols>{widths}</cols><sheetData>'
            '<row r="1">'
            + "".join(
                f'<c r="{letter}1" s="1" t="inlineStr"><is><t>{_xml_text(label)}</t></is></c>'
                for letter, label in zip(letters, labels, strict=True)
            )
            + "</row>"
        )
        self.row = 1

    def _close_sheet(self) -> None:
        name, _, last_column = self.sheets[-1]
        self.part.write(
            f'</sheetData><autoFilter ref="A1:{last_column}{max(self.row, 1)}"/></worksheet>'
        )
        self.part.close()
        self.sheets[-1] = (name, self.row, last_column)

    def write(
        self, columns: tuple[Column, ...], rows: Iterable[Mapping[str, Any]], title: str
    ) -> int:
        """Write a table on a sheet of its own (more past the row limit); how many rows."""
        written = 0
        encoders = [_xlsx_encoder(c, self.translate) for c in columns]
        labels = headers(columns, self.translate)
        cells = [(c.key, encode) for c, encode in zip(columns, encoders, strict=True)]
        self._open_sheet(columns, labels, title)
        buffer: list[str] = []
        for values in rows:
            if self.row >= XLSX_MAX_ROWS:
                self.part.write("".join(buffer))
                buffer.clear()
                self._close_sheet()
                self._open_sheet(columns, labels, title)
            self.row += 1
            n = self.row
            buffer.append(
                f'<row r="{n}">'
                + "".join(
                    [
                        "<c/>" if (value := values.get(key)) is None else encode(value)
                        for key, encode in cells
                    ]
                )
                + "</row>"
            )
            written += 1
            if len(buffer) >= 256:
                self.part.write("".join(buffer))
                buffer.clear()
        self.part.write("".join(buffer))
        self._close_sheet()
        return written

    def finish(self) -> None:
        """Write the parts naming the sheets: the workbook, its relations, the styles."""
        sheets = "".join(
            f'<sheet name="{_xml_text(name).replace(chr(34), "&quot;")}" sheetId="{i}"'
            f' r:id="rId{i}"/>'
            for i, (name, _, _) in enumerate(self.sheets, start=1)
        )
        filters = "".join(
            f'<definedName name="_xlnm._FilterDatabase" localSheetId="{i}" hidden="1">'
            f"'{_xml_text(name).replace(chr(39), chr(39) * 2)}'!$A$1:${last}${rows}"
            "</definedName>"
            for i, (name, rows, last) in enumerate(self.sheets)
        )
        parts = [f"/xl/worksheets/sheet{i}.xml" for i in range(1, len(self.sheets) + 1)]
        files = {
            "[Content_Types].xml": _XML
            + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{_CT}.sheet.main+xml"/>'
            f'<Override PartName="/xl/styles.xml" ContentType="{_CT}.styles+xml"/>'
            + "".join(
                f'<Override PartName="{p}" ContentType="{_CT}.worksheet+xml"/>' for p in parts
            )
            + "</Types>",
            "_rels/.rels": _XML + f'<Relationships xmlns="{_PKG}"><Relationship Id="rId1" '
            f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
            "xl/workbook.xml": _XML + f'<workbook xmlns="{_MAIN}" xmlns:r="{_REL}">'
            f"<sheets>{sheets}</sheets><definedNames>{filters}</definedNames></workbook>",
            "xl/_rels/workbook.xml.rels": _XML
            + f'<Relationships xmlns="{_PKG}">'
            + "".join(
                f'<Relationship Id="rId{i}" Type="{_REL}/worksheet"'
                f' Target="worksheets/sheet{i}.xml"/>'
                for i in range(1, len(self.sheets) + 1)
            )
            + f'<Relationship Id="rId{len(self.sheets) + 1}" Type="{_REL}/styles"'
            ' Target="styles.xml"/></Relationships>',
            "xl/styles.xml": _STYLES,
        }
        for name, text in files.items():
            self.archive.writestr(name, text)


def write_xlsx(
    target: Any,
    columns: tuple[Column, ...],
    rows: Iterable[Mapping[str, Any]],
    translate: Translate,
    *,
    title: str,
) -> int:
    """Write the list as an .xlsx workbook into ``target`` (a binary file); the rows written.

    The sheet is written straight as Office Open XML into the zip, a row at a time: typed cells
    (numbers and dates as numbers with a number format, text as inline strings), a bold frozen
    header with a filter, widths by kind and header. xlsxwriter (constant-memory mode) wrote the
    same file with 7.7 times the CPU (bench/export_bench.py), past the 10 s a 100,000-row export
    may take."""
    return write_workbook(target, [Sheet(title, columns, rows)], translate)


@dataclass(frozen=True)
class Sheet:
    """One table of a workbook: its sheet's title, columns and rows."""

    title: str
    columns: tuple[Column, ...]
    rows: Iterable[Mapping[str, Any]]


def write_workbook(target: Any, sheets: Iterable[Sheet], translate: Translate) -> int:
    """Write several tables as the sheets of one .xlsx workbook into ``target``, in order; the
    rows written in all."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        book = _Workbook(archive, translate)
        written = sum(book.write(s.columns, s.rows, _sheet_name(s.title)) for s in sheets)
        book.finish()
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
