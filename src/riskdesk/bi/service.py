"""A Parquet copy of the BI views for data teams, written a batch at a time."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Engine

from riskdesk.bi import repository as repo
from riskdesk.bi.schemas import VIEWS
from riskdesk.kit.errors import ValidationFailed

BATCH_ROWS = 50_000  # rows a part file holds: memory stays bounded by one batch


@dataclass(frozen=True)
class Exported:
    """One view's copy."""

    view: str
    rows: int
    parts: int
    directory: Path


def frame_of(view: str, rows: Sequence[Sequence[Any]]) -> pl.DataFrame:
    """Rows of a view as its Parquet schema: whatever the driver returned (SQLite gives text
    for timestamps, floats for money), in the declared types."""
    schema = VIEWS[view]
    raw = pl.DataFrame(
        [tuple(r) for r in rows],
        schema=list(schema),
        orient="row",
        infer_schema_length=None,
    )
    out = []
    for name, dtype in schema.items():
        col = pl.col(name)
        found = raw.schema[name]
        if found == pl.String and dtype == pl.Datetime("us", "UTC"):
            out.append(col.str.to_datetime(time_zone="UTC", strict=False).alias(name))
        elif found == pl.String and dtype == pl.Date:
            out.append(col.str.to_date(strict=False).alias(name))
        elif isinstance(dtype, pl.Decimal) and found in (pl.Float64, pl.Float32):
            out.append(col.round(2).cast(pl.String).cast(dtype, strict=False).alias(name))
        elif found == pl.Datetime and dtype == pl.Datetime("us", "UTC"):
            out.append(col.dt.replace_time_zone("UTC").alias(name))
        else:
            out.append(col.cast(dtype, strict=False).alias(name))
    return raw.select(out)


def export_parquet(
    engine: Engine, directory: Path, views: Sequence[str] | None = None
) -> list[Exported]:
    """Write each view (default: all) as a Parquet dataset, ``<directory>/<view>/part-N``,
    replacing an earlier copy only once the new one is whole."""
    chosen = list(views) if views else list(VIEWS)
    unknown = [v for v in chosen if v not in VIEWS]
    if unknown:
        raise ValidationFailed(f"no such view: {', '.join(unknown)}", field="view")
    directory.mkdir(parents=True, exist_ok=True)
    done = []
    for view in chosen:
        staging = directory / f".{view}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        rows = parts = 0
        with engine.connect() as connection:
            for _, batch in repo.read_batches(connection, view, BATCH_ROWS):
                frame_of(view, batch).write_parquet(staging / f"part-{parts:05d}.parquet")
                rows += len(batch)
                parts += 1
        if parts == 0:  # an empty view still has its columns
            frame_of(view, []).write_parquet(staging / "part-00000.parquet")
            parts = 1
        target = directory / view
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        done.append(Exported(view, rows, parts, target))
    return done
