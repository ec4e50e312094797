"""Reading CSV and Excel files into rows of text, through a column mapping.

A mapping (YAML) names, for each target field, the column in the file that holds it, and gives
defaults for fields the file lacks::

    columns:
      external_id: 订单号
      amount: 金额
    defaults:
      source: erp
      currency: CNY

Columns named like a target field map to it without being listed.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from riskdesk.kit.errors import ErrorDetail, ValidationFailed

HEADER_ROWS = 1  # data row n is file row n + HEADER_ROWS (1-based, as a spreadsheet shows it)


@dataclass(frozen=True)
class ColumnMapping:
    """Which file column feeds which field, and defaults for the rest."""

    columns: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_yaml(cls, text: str) -> ColumnMapping:
        """Parse a mapping file; a malformed one is a ValidationFailed naming the problem."""
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ValidationFailed(f"mapping is not valid YAML: {exc}", field="mapping") from exc
        if not isinstance(data, dict):
            raise ValidationFailed("mapping must be a YAML mapping", field="mapping")
        unknown = set(data) - {"columns", "defaults"}
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
        return cls(
            columns={k: str(v) for k, v in columns.items()},
            defaults={str(k): v for k, v in defaults.items()},
        )


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


def read_table(content: bytes, filename: str) -> pl.DataFrame:
    """A file's cells as text columns; CSV (UTF-8, with or without BOM) or Excel (.xlsx/.xls)."""
    suffix = Path(filename).suffix.lower()
    try:
        if suffix in {".xlsx", ".xlsm", ".xls", ".xlsb", ".ods"}:
            frame = pl.read_excel(io.BytesIO(content), infer_schema_length=0)
        elif suffix in {".csv", ".txt", ""}:
            frame = pl.read_csv(
                io.BytesIO(content),
                infer_schema=False,
                encoding="utf8-lossy",
                truncate_ragged_lines=False,
            )
        else:
            raise ValidationFailed(
                f"unsupported file type {suffix!r}; use CSV or Excel",
                field="file",
                code="unsupported_file_type",
            )
    except ValidationFailed:
        raise
    except Exception as exc:
        raise ValidationFailed(
            f"cannot read the file: {exc}", field="file", code="unreadable_file"
        ) from exc
    frame = frame.rename({c: c.strip().lstrip("\ufeff") for c in frame.columns})
    return frame.select(pl.all().cast(pl.String))


def apply_mapping(
    frame: pl.DataFrame,
    mapping: ColumnMapping,
    fields: Iterable[str],
    passthrough_prefixes: tuple[str, ...] = (),
) -> tuple[list[dict[str, Any]], list[ErrorDetail]]:
    """Rows keyed by target field; problems with the mapping itself are returned as errors.

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
    for target in mapping.columns:
        if target not in wanted:
            errors.append(
                ErrorDetail(
                    field=target,
                    code="unknown_field",
                    reason=f"mapping names {target!r}, which this kind lacks",
                )
            )
    if errors:
        return [], errors
    renamed = frame.select([pl.col(col).alias(target) for target, col in selected.items()])
    rows: list[dict[str, Any]] = []
    defaults = {k: v for k, v in mapping.defaults.items() if k in wanted}
    for raw in renamed.iter_rows(named=True):
        row = dict(defaults)
        for key, value in raw.items():
            text = _cell_text(value)
            if text is not None or key not in row:
                row[key] = text
        rows.append(row)
    return rows, errors
