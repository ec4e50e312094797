"""The frames directory (``DIR/<frame>/*.parquet``, columns exactly as ``SCHEMAS``) and the
result directory (Parquet, one row per customer keyed by customer_id, sorted)."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl

from riskdesk.indicators.compute import SCHEMAS, EventFrames

RESULT_FILE = "part-00000.parquet"
# What a result directory may hold (Spark adds its markers and checksums): replaced whole.
_RESULT_FILES = ("*.parquet", "_SUCCESS", ".*.crc", "._SUCCESS.crc")


class FramesError(ValueError):
    """A frames or result directory that cannot be used; ``option`` names the CLI option."""

    def __init__(self, option: str, reason: str) -> None:
        super().__init__(f"{option}: {reason}")
        self.option = option
        self.reason = reason


def write_frames(frames: EventFrames, directory: Path) -> dict[str, int]:
    """Write every frame to ``directory/<frame>/part-00000.parquet``; rows per frame."""
    rows: dict[str, int] = {}
    for name in SCHEMAS:
        folder = directory / name
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.parquet"):
            old.unlink()
        frame: pl.DataFrame = getattr(frames, name)
        frame.select(list(SCHEMAS[name])).write_parquet(folder / RESULT_FILE)
        rows[name] = frame.height
    return rows


def frame_files(directory: Path, name: str) -> list[Path]:
    """The Parquet files of one frame, or FramesError naming what is missing."""
    folder = directory / name
    files = sorted(folder.glob("*.parquet"))
    if not files:
        raise FramesError("--frames", f"no Parquet files in {folder}")
    return files


def check_columns(name: str, columns: dict[str, pl.DataType]) -> None:
    """FramesError unless a frame's columns are exactly SCHEMAS[name] (names and types)."""
    expected = SCHEMAS[name]
    if set(columns) != set(expected):
        missing = sorted(set(expected) - set(columns))
        extra = sorted(set(columns) - set(expected))
        raise FramesError(
            "--frames", f"frame {name!r}: missing columns {missing}, unexpected columns {extra}"
        )
    for column, dtype in expected.items():
        if columns[column] != dtype:
            raise FramesError(
                "--frames", f"frame {name!r}: column {column!r} is {columns[column]}, not {dtype}"
            )


def read_frames(directory: Path) -> EventFrames:
    """Every frame of a frames directory, checked against SCHEMAS."""
    data: dict[str, pl.DataFrame] = {}
    for name in SCHEMAS:
        frame = pl.read_parquet(frame_files(directory, name))
        check_columns(name, dict(frame.schema))
        data[name] = frame.select(list(SCHEMAS[name]))
    return EventFrames(**data)


def frames_bytes(directory: Path) -> int:
    """The size of a frames directory's Parquet files."""
    return sum(f.stat().st_size for name in SCHEMAS for f in (directory / name).glob("*.parquet"))


def prepare_out(directory: Path) -> None:
    """Make ``directory`` ready for a result: created, or emptied when it holds one already;
    anything else in it is left alone and refused."""
    if directory.exists():
        if not directory.is_dir():
            raise FramesError("--out", f"{directory} is a file")
        kept = {p for pattern in _RESULT_FILES for p in directory.glob(pattern)}
        others = [p.name for p in directory.iterdir() if p not in kept]
        if others:
            raise FramesError(
                "--out", f"{directory} holds other files than a result ({', '.join(others[:3])})"
            )
        shutil.rmtree(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)


def write_result(result: pl.DataFrame, directory: Path) -> None:
    """A result as one Parquet file in ``directory`` (replacing an earlier result)."""
    prepare_out(directory)
    directory.mkdir()
    result.sort("customer_id").write_parquet(directory / RESULT_FILE)


def read_result(directory: Path) -> pl.DataFrame:
    """A result directory written by either engine, sorted by customer."""
    files = sorted(directory.glob("*.parquet"))
    if not files:
        raise FramesError("--out", f"no Parquet files in {directory}")
    return pl.read_parquet(files).sort("customer_id")
