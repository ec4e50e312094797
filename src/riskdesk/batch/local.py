"""The in-process engine: every customer in one Polars computation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from riskdesk.batch.frames import FramesError, read_frames, write_result
from riskdesk.indicators.compute import compute


def indicators(frames_dir: Path, as_of: dt.date, out: Path | None = None) -> pl.DataFrame:
    """Every indicator of every customer in a frames directory (written to ``out`` if given)."""
    result = compute(read_frames(frames_dir), as_of)
    if out is not None:
        write_result(result, out)
    return result


def indicators_from_lake(lake_uri: str, as_of: dt.date, out: Path | None = None) -> pl.DataFrame:
    """Every indicator of every customer in a lake (a path or fsspec URI), corrections applied
    by ``lake.frames_of`` as on Spark (written to ``out`` if given)."""
    from riskdesk.lake import service as lake_service
    from riskdesk.lake.store import Lake

    try:
        manifest = Lake(lake_uri).manifest()
    except (ValueError, ImportError, OSError) as exc:
        raise FramesError("--lake", f"cannot open the lake at {lake_uri}: {exc}") from exc
    if manifest is None:
        raise FramesError("--lake", f"no lake at {lake_uri} (no _manifest.json)")
    result = compute(lake_service.read_frames(lake_uri), as_of)
    if out is not None:
        write_result(result, out)
    return result


def scores(
    config_dir: Path,
    as_of: dt.date,
    *,
    frames_dir: Path | None = None,
    lake_uri: str | None = None,
    out: Path | None = None,
) -> pl.DataFrame:
    """Every live customer's scores (riskdesk.batch.scoring): the config's customers joined
    with their indicators from a frames directory or a lake, scored in one computation
    (written to ``out`` if given)."""
    from riskdesk.batch import scoring

    config = scoring.checked(scoring.read_config(config_dir), as_of)
    customers = scoring.read_customers(config_dir)
    if frames_dir is not None:
        computed = indicators(frames_dir, as_of)
    else:
        assert lake_uri is not None
        computed = indicators_from_lake(lake_uri, as_of)
    joined = customers.join(computed, on="customer_id", how="left")
    result = scoring.score_joined(config, joined).sort("customer_id")
    if out is not None:
        write_result(result, out)
    return result
