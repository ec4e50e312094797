"""Reading CSV and Excel files into rows of text, through a column mapping.

A mapping (YAML) names, for each target field, the column in the file that holds it, and gives
defaults for fields the file lacks::

    columns:
      external_id: 订单号
      amount: 金额
    defaults:
      source: erp
      currency: CNY
    values:
      kind: {"1": company, "2": individual}

Columns named like a target field map to it without being listed. ``values`` turns a column's
values as the source system writes them into the ones the field takes (or their labels). JSON
is YAML too, so a mapping may be written as JSON.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import yaml

from riskdesk.kit.encodings import to_utf8
from riskdesk.kit.errors import ErrorDetail, PayloadTooLarge, RiskdeskError, ValidationFailed

HEADER_ROWS = 1  # data row n is file row n + HEADER_ROWS (1-based, as a spreadsheet shows it)


@dataclass(frozen=True)
class ColumnMapping:
    """Which file column feeds which field, and defaults for the rest."""

    columns: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def from_yaml(cls, text: str) -> ColumnMapping:
        """Parse a mapping file; a malformed one is a ValidationFailed naming the problem."""
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ValidationFailed(f"mapping is not valid YAML: {exc}", field="mapping") from exc
        if not isinstance(data, dict):
            raise ValidationFailed("mapping must be a YAML mapping", field="mapping")
        unknown = set(data) - {"columns", "defaults", "values"}
        if unknown:
            raise ValidationFailed(
                f"unknown mapping keys: {', '.join(sorted(map(str, unknown)))}", field="mapping"
            )
        columns = data.get("columns") or {}
        defaults = data.get("defaults") or {}
        if not isinstance(columns, dict) or not all(
            isinstance(k, str) and isinstance(v, str | int) for k, v in columns.items()
        ):
            raise ValidationFailed(
                "mapping 'columns' must map field names to column names", field="mapping.columns"
            )
        if not isinstance(defaults, dict):
            raise ValidationFailed(
                "mapping 'defaults' must map field names to values", field="mapping.defaults"
            )
        values = data.get("values") or {}
        if not isinstance(values, dict) or not all(
            isinstance(k, str)
            and isinstance(v, dict)
            and all(
                isinstance(a, str | int | bool) and isinstance(b, str | int) for a, b in v.items()
            )
            for k, v in values.items()
        ):
            raise ValidationFailed(
                "mapping 'values' must map field names to {value in the file: value} tables",
                field="mapping.values",
            )
        return cls(
            columns={k: str(v) for k, v in columns.items()},
            defaults={str(k): v for k, v in defaults.items()},
            values={k: {_said(a): str(b) for a, b in v.items()} for k, v in values.items()},
        )

    def to_yaml(self) -> str:
        """The mapping as the text ``from_yaml`` reads."""
        data: dict[str, Any] = {"columns": self.columns}
        if self.defaults:
            data["defaults"] = self.defaults
        if self.values:
            data["values"] = self.values
        return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def _said(value: str | int | bool) -> str:
    # YAML reads an unquoted 1 or yes as a number or a boolean; the file's cell is text.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _cell_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    return text if text.strip() else None


@dataclass(frozen=True)
class FileLimits:
    """How much a file may hold; set by RISKDESK_IMPORT_MAX_ROWS and
    RISKDESK_IMPORT_MAX_UNCOMPRESSED_MB."""

    max_rows: int = 1_000_000
    max_uncompressed_mb: int = 1024


EXCEL_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xls", ".xlsb", ".ods"})
# Large workbooks are read row by row (openpyxl's read-only mode): calamine holds a whole
# sheet's cells at once, about 1 GB for a million rows of ten columns. It is 15 times faster,
# so a sheet that declares fewer cells than this (or none, but is small) still goes to calamine.
STREAMED_SUFFIXES = frozenset({".xlsx", ".xlsm"})
STREAM_CELLS = 2_000_000
_STREAM_BATCH = 50_000
CSV_SUFFIXES = frozenset({".csv", ".txt", ""})


def read_table(
    content: bytes,
    filename: str,
    *,
    encoding: str | None = None,
    limits: FileLimits | None = None,
) -> pl.DataFrame:
    """A file's cells as text columns: CSV (encoding named or recognised) or Excel.

    Files beyond the limits are refused (413) before their rows are read into memory: an Excel
    file by the size its parts unpack to and the extent its sheet declares, a CSV file by
    reading no more than one row past the limit.
    """
    limits = limits or FileLimits()
    suffix = Path(filename).suffix.lower()
    if suffix not in EXCEL_SUFFIXES | CSV_SUFFIXES:
        raise ValidationFailed(
            f"unsupported file type {suffix!r}; use CSV or Excel",
            field="file",
            code="unsupported_file_type",
        )
    try:
        if suffix in EXCEL_SUFFIXES:
            if encoding:
                raise ValidationFailed(
                    "an encoding applies to CSV files only; Excel files carry their own",
                    field="encoding",
                )
            cells = _check_excel_size(content, limits)
            if suffix in STREAMED_SUFFIXES and (cells is None or cells > STREAM_CELLS):
                frame = _stream_workbook(content, limits)
            else:
                frame = _without_blank_tail(
                    pl.read_excel(
                        io.BytesIO(content),
                        infer_schema_length=0,
                        drop_empty_rows=False,  # rows keep their spreadsheet numbers
                        read_options={"n_rows": limits.max_rows + 1},
                    )
                )
        else:
            text = to_utf8(content, encoding).data
            if not text.strip().lstrip(b"\xef\xbb\xbf").strip():
                raise ValidationFailed("the file is empty", field="file", code="empty_file")
            frame = pl.read_csv(
                io.BytesIO(text),
                infer_schema=False,
                encoding="utf8",
                truncate_ragged_lines=False,
                n_rows=limits.max_rows + 1,
            )
            del text
    except RiskdeskError:
        raise
    except Exception as exc:
        raise ValidationFailed(
            f"cannot read the file: {exc}", field="file", code="unreadable_file"
        ) from exc
    if frame.height > limits.max_rows:
        raise _too_many_rows(limits)
    frame = frame.rename({c: c.strip().lstrip("\ufeff") for c in frame.columns})
    return frame.select(pl.all().cast(pl.String))


def _stream_workbook(content: bytes, limits: FileLimits) -> pl.DataFrame:
    """The first sheet as text columns, read a batch of rows at a time."""
    book = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    try:
        rows = book.worksheets[0].iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            return pl.DataFrame()
        names = _column_names(header)
        width = len(names)
        parts: list[pl.DataFrame] = []
        batch: list[list[str | None]] = [[] for _ in range(width)]
        count = blank = 0
        for row in rows:
            if not any(v is not None and str(v).strip() for v in row):
                blank += 1  # kept only if data follows: rows keep their spreadsheet numbers
                continue
            count += blank + 1
            if count > limits.max_rows:
                raise _too_many_rows(limits)
            for i in range(width):
                batch[i].extend([None] * blank)
                batch[i].append(_excel_text(row[i]) if i < len(row) else None)
            blank = 0
            if len(batch[0]) >= _STREAM_BATCH:
                parts.append(_batch_frame(names, batch))
                batch = [[] for _ in range(width)]
        parts.append(_batch_frame(names, batch))
        return pl.concat(parts, rechunk=False)
    finally:
        book.close()


def _without_blank_tail(frame: pl.DataFrame) -> pl.DataFrame:
    """Drop the blank rows after the last row with data (formatting left below a table)."""
    if not frame.width:
        return frame
    filled = frame.select(
        pl.any_horizontal(pl.all().cast(pl.String).str.strip_chars().fill_null("") != "")
    ).to_series()
    last = filled.arg_true()
    return frame.head(int(last[-1]) + 1 if len(last) else 0)


def _column_names(header: tuple[Any, ...]) -> list[str]:
    # As calamine names them: a blank header becomes __UNNAMED__n, a repeat gets _1, _2...
    names: list[str] = []
    for i, value in enumerate(header):
        name = _excel_text(value) or f"__UNNAMED__{i}"
        base, n = name, 0
        while name in names:
            n += 1
            name = f"{base}_{n}"
        names.append(name)
    return names


def _batch_frame(names: list[str], batch: list[list[str | None]]) -> pl.DataFrame:
    columns = dict(zip(names, batch, strict=True))
    return pl.DataFrame(columns, schema=dict.fromkeys(names, pl.String))


def _excel_text(value: Any) -> str | None:
    """A cell as text, the way the calamine path gives it (whole numbers without ".0")."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ") if value.time() != dt.time() else value.date().isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _too_many_rows(limits: FileLimits) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"files are limited to {limits.max_rows:,} data rows (RISKDESK_IMPORT_MAX_ROWS); "
        "split the file",
        field="file",
        code="too_many_rows",
    )


_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\s+ref=\"([A-Z]+)(\d+):([A-Z]+)(\d+)\"")


def _check_excel_size(content: bytes, limits: FileLimits) -> int | None:
    """Refuse a workbook whose parts unpack beyond the limit, or whose first sheet declares
    more rows than allowed, without unpacking it (a zip bomb costs nothing to send). The
    cells the first sheet declares; for an undeclared one, a guess from its unpacked size."""
    if not zipfile.is_zipfile(io.BytesIO(content)):
        return None  # .xls (BIFF): no compression, so its size is bounded by the upload limit
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        unpacked = sum(info.file_size for info in archive.infolist())
        if unpacked > limits.max_uncompressed_mb * 2**20:
            raise PayloadTooLarge(
                f"the workbook unpacks to {unpacked / 2**20:,.0f} MB; files are limited to "
                f"{limits.max_uncompressed_mb:,} MB unpacked "
                "(RISKDESK_IMPORT_MAX_UNCOMPRESSED_MB)",
                field="file",
                code="file_too_large_unpacked",
            )
        sheets = sorted(
            n for n in archive.namelist() if n.startswith("xl/worksheets/sheet") and "/_" not in n
        )
        if not sheets:
            return None
        first = archive.getinfo(sheets[0])
        with archive.open(first) as sheet:
            head = sheet.read(4096)  # the dimension element comes before the rows
    found = _DIMENSION.search(head)
    if found is None:
        return first.file_size // 20  # a cell takes 20 bytes of XML at the least
    first_column, first_row, last_column, last_row = found.groups()
    if int(last_row) - HEADER_ROWS > limits.max_rows:
        raise _too_many_rows(limits)
    rows = int(last_row) - int(first_row) + 1
    return rows * (_column_number(last_column) - _column_number(first_column) + 1)


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - ord("A") + 1
    return number


@dataclass(frozen=True)
class MappedTable:
    """A file's columns renamed to target fields, with the mapping's defaults for blanks."""

    frame: pl.DataFrame
    defaults: dict[str, Any]
    unused: tuple[str, ...] = ()  # the file's columns that feed no field
    # Fields whose blank cell means the model's default (a template has every column).
    defaulted: frozenset[str] = frozenset()

    @property
    def height(self) -> int:
        """Data rows."""
        return self.frame.height

    def rows(self, frame: pl.DataFrame | None = None) -> list[dict[str, Any]]:
        """Rows (of the whole table or of a slice of it) keyed by target field."""
        rows: list[dict[str, Any]] = []
        for raw in (self.frame if frame is None else frame).iter_rows(named=True):
            row = dict(self.defaults)
            for key, value in raw.items():
                text = _cell_text(value)
                if text is None and key in self.defaulted:
                    continue
                if text is not None or key not in row:
                    row[key] = text
            rows.append(row)
        return rows


def map_columns(
    frame: pl.DataFrame,
    mapping: ColumnMapping,
    fields: Iterable[str],
    passthrough_prefixes: tuple[str, ...] = (),
) -> tuple[MappedTable | None, list[ErrorDetail]]:
    """The table under target names; problems with the mapping itself are returned as errors.

    Columns whose (lower-case) name starts with one of ``passthrough_prefixes`` reach the rows
    even when no field has that name, so that the kind can refuse them by name (a consent
    column for a purpose that does not exist) instead of their being silently dropped.
    """
    wanted = list(fields)
    by_lower = {c.lower(): c for c in frame.columns}
    errors: list[ErrorDetail] = []
    selected: dict[str, str] = {}
    for target in wanted:
        column = mapping.columns.get(target)
        if column is not None:
            if column not in frame.columns:
                errors.append(
                    ErrorDetail(
                        field=target,
                        code="missing_column",
                        reason=f"mapped column {column!r} is not in the file",
                    )
                )
                continue
            selected[target] = column
        elif target.lower() in by_lower:
            selected[target] = by_lower[target.lower()]
    taken = set(selected.values())
    for lower, column in by_lower.items():
        if passthrough_prefixes and column not in taken and lower.startswith(passthrough_prefixes):
            selected.setdefault(lower, column)
    for target in dict.fromkeys([*mapping.columns, *mapping.values]):
        if target not in wanted:
            errors.append(
                ErrorDetail(
                    field=target,
                    code="unknown_field",
                    reason=f"mapping names {target!r}, which this kind lacks",
                )
            )
    if errors:
        return None, errors
    renamed = frame.select([pl.col(col).alias(target) for target, col in selected.items()])
    defaults = {k: v for k, v in mapping.defaults.items() if k in wanted}
    taken = set(selected.values())
    unused = tuple(c for c in frame.columns if c not in taken)
    return MappedTable(renamed, defaults, unused), errors


def apply_mapping(
    frame: pl.DataFrame,
    mapping: ColumnMapping,
    fields: Iterable[str],
    passthrough_prefixes: tuple[str, ...] = (),
) -> tuple[list[dict[str, Any]], list[ErrorDetail]]:
    """Rows keyed by target field; problems with the mapping itself are returned as errors."""
    table, errors = map_columns(frame, mapping, fields, passthrough_prefixes)
    return ([], errors) if table is None else (table.rows(), errors)
