"""The in-process engine: every customer in one Polars computation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from riskdesk.batch.frames import read_frames, write_result
from riskdesk.indicators.compute import compute


def indicators(frames_dir: Path, as_of: dt.date, out: Path | None = None) -> pl.DataFrame:
    """Every indicator of every customer in a frames directory (written to ``out`` if given)."""
    result = compute(read_frames(frames_dir), as_of)
    if out is not None:
        write_result(result, out)
    return result
