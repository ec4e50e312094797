"""riskdesk batch: whole-portfolio runs on in-process Polars or on Apache Spark, one definition."""

from __future__ import annotations

import datetime as dt
import json
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from riskdesk.cli import fail, parse_date

batch_app = typer.Typer(
    help="Batch runs over every customer, in process (Polars) or on Apache Spark.",
    no_args_is_help=True,
)


class Engine(StrEnum):
    """Where a batch runs."""

    polars = "polars"
    spark = "spark"


# The options the engine-running commands share (indicators, scores, replay). Text, not Path:
# on Spark these may be URIs (hdfs://, s3a://), which Path would mangle.
OutOption = Annotated[str, typer.Option("--out", help="result directory or URI (Parquet)")]
ConfigOption = Annotated[
    str, typer.Option("--config", help="config directory or URI (riskdesk batch config)")
]
FramesOption = Annotated[
    str | None, typer.Option("--frames", help="frames directory or URI (riskdesk batch frames)")
]
LakeOption = Annotated[
    str | None, typer.Option("--lake", help="lake directory or URI (riskdesk lake export)")
]
EngineOption = Annotated[Engine, typer.Option("--engine")]
MasterOption = Annotated[
    str, typer.Option("--master", help="Spark master: local[2], spark://host:7077, yarn")
]
BucketsOption = Annotated[
    int | None, typer.Option("--buckets", help="Spark: customer buckets (default: by size)")
]
BucketMbOption = Annotated[
    int | None, typer.Option("--bucket-mb", help="Spark: memory target per bucket, MB")
]
PythonMemoryOption = Annotated[
    str | None, typer.Option("--python-memory", help="Spark: memory per Python worker, e.g. 2g")
]


@batch_app.command("frames")
def frames_command(
    out: Annotated[Path, typer.Option("--out", help="the frames directory to write")],
) -> None:
    """Write every customer's event history from the database as a frames directory
    (OUT/<frame>/*.parquet), the input of `riskdesk batch indicators`."""
    from riskdesk.batch.frames import write_frames
    from riskdesk.config import get_settings
    from riskdesk.db import make_engine, make_sessionmaker, reading
    from riskdesk.indicators import service

    if out.exists() and not out.is_dir():
        fail("--out", f"{out} is a file")
    factory = make_sessionmaker(make_engine(get_settings().database_url))
    with reading(factory) as session:
        frames = service.load_history(session)
    rows = write_frames(frames, out)
    typer.echo(json.dumps({"frames": str(out), "rows": rows}))


def _checked(
    as_of: str,
    out: str,
    frames: str | None,
    lake: str | None,
    engine: Engine,
    buckets: int | None,
    bucket_mb: int | None,
    python_memory: str | None,
    config: str | None = None,
    date_option: str = "--as-of",
) -> dt.date:
    """The options every batch run shares, checked; the as-of date (``date_option``: the
    option that gives it)."""
    if (frames is None) == (lake is None):
        option = "--lake" if lake is not None else "--frames"
        fail(option, "give exactly one of --frames (a frames directory) and --lake (a lake)")
    day = parse_date(date_option, as_of)
    if buckets is not None and buckets < 1:
        fail("--buckets", f"must be at least 1, got {buckets}")
    if bucket_mb is not None and bucket_mb < 1:
        fail("--bucket-mb", f"must be at least 1, got {bucket_mb}")
    if engine is Engine.polars and (buckets or bucket_mb or python_memory):
        fail("--engine", "--buckets, --bucket-mb and --python-memory are for --engine spark")
    # The polars engine reads a lake through fsspec (any URI), but frames, configs and results
    # as local directories.
    if engine is Engine.polars and any("://" in (x or "") for x in (out, frames, config)):
        fail("--engine", "URIs are for --engine spark; polars reads and writes local paths")
    if frames is not None:
        if "://" not in frames and not Path(frames).is_dir():
            fail("--frames", f"{frames} is not a directory")
    elif lake is not None and "://" not in lake and not Path(lake).is_dir():
        fail("--lake", f"{lake} is not a directory")
    if config is not None and "://" not in config and not Path(config).is_dir():
        fail("--config", f"{config} is not a directory (riskdesk batch config)")
    return day


@batch_app.command("indicators")
def indicators_command(
    as_of: Annotated[str, typer.Option("--as-of", help="business date, YYYY-MM-DD")],
    out: OutOption,
    frames: FramesOption = None,
    lake: LakeOption = None,
    engine: EngineOption = Engine.polars,
    master: MasterOption = "local[2]",
    buckets: BucketsOption = None,
    bucket_mb: BucketMbOption = None,
    python_memory: PythonMemoryOption = None,
) -> None:
    """Every indicator of every customer in a frames directory or a lake, to OUT as Parquet
    (one row per customer, one column per indicator); both engines write files that compare
    equal."""
    from riskdesk.batch.frames import FramesError

    day = _checked(as_of, out, frames, lake, engine, buckets, bucket_mb, python_memory)
    started = time.perf_counter()
    try:
        if engine is Engine.polars:
            from riskdesk.batch import local

            if frames is not None:
                customers = local.indicators(Path(frames), day, Path(out)).height
            else:
                assert lake is not None
                # The lake is read through fsspec: a path or a URI (s3://... with s3fs).
                customers = local.indicators_from_lake(lake, day, Path(out)).height
            summary: dict[str, object] = {"engine": "polars", "customers": customers}
        else:
            from riskdesk.batch import spark

            existing = spark.active_session()  # a caller's (a test's): used, not stopped
            try:
                session = existing or spark.session(master, python_memory=python_memory)
            except spark.SparkUnavailable as exc:
                fail("--engine", f"spark: {exc}")
            if frames is not None:
                _, plan = spark.indicators(
                    session,
                    frames,
                    day,
                    out=out,
                    buckets=buckets,
                    bucket_mb=bucket_mb or spark.BUCKET_MB,
                )
            else:
                from riskdesk.batch import spark_lake

                assert lake is not None
                _, plan = spark_lake.indicators(
                    session,
                    lake,
                    day,
                    out=out,
                    buckets=buckets,
                    bucket_mb=bucket_mb or spark.BUCKET_MB,
                )
            if existing is None:
                session.stop()
            summary = {"engine": "spark", "master": master, "buckets": plan.buckets}
    except FramesError as exc:
        fail(exc.option, exc.reason)
    summary |= {
        "input": "lake" if lake is not None else "frames",
        "out": out,
        "seconds": round(time.perf_counter() - started, 2),
    }
    typer.echo(json.dumps(summary))


@batch_app.command("config")
def config_command(
    as_of: Annotated[str, typer.Option("--as-of", help="business date, YYYY-MM-DD")],
    out: Annotated[Path, typer.Option("--out", help="the config directory to write")],
) -> None:
    """Write what a scoring run and a warning replay read from the database as of a date (the
    active scorecard versions, the live models and every live customer's stored inputs; the
    active warning rules and the histories a replay up to that date reads) as a config
    directory, the input of `riskdesk batch scores` and `riskdesk batch replay` (which then
    need no database)."""
    from riskdesk.batch.frames import FramesError
    from riskdesk.batch.replay import write_inputs
    from riskdesk.batch.scoring import ScoringConfig, write_config
    from riskdesk.config import get_settings
    from riskdesk.db import make_engine, make_sessionmaker, reading
    from riskdesk.monitoring import replay
    from riskdesk.scoring import service

    day = parse_date("--as-of", as_of)
    if out.exists() and not out.is_dir():
        fail("--out", f"{out} is a file")
    factory = make_sessionmaker(make_engine(get_settings().database_url))
    with reading(factory) as session:
        inputs = service.batch_inputs(session, as_of=day)
        history = replay.load_history(session, day, frames=False)
        rules = replay.active_pack(session)
        severities = replay.active_severities(session)
    config = ScoringConfig(inputs.as_of, inputs.cards, inputs.models)
    try:
        customers = write_config(config, inputs.customers, out)
        write_inputs(out, day, history, rules, severities)
    except FramesError as exc:
        fail(exc.option, exc.reason)
    summary = {
        "config": str(out),
        "as_of": day.isoformat(),
        "scorecards": [f"{c.code} v{c.version}" for c in inputs.cards],
        "models": [f"{m.name} v{m.version}" for m in inputs.models],
        "rules": sorted(r.code for r in rules),
        "customers": customers,
    }
    typer.echo(json.dumps(summary, ensure_ascii=False))


@batch_app.command("scores")
def scores_command(
    as_of: Annotated[str, typer.Option("--as-of", help="business date, YYYY-MM-DD")],
    config: ConfigOption,
    out: OutOption,
    frames: FramesOption = None,
    lake: LakeOption = None,
    engine: EngineOption = Engine.polars,
    master: MasterOption = "local[2]",
    buckets: BucketsOption = None,
    bucket_mb: BucketMbOption = None,
    python_memory: PythonMemoryOption = None,
) -> None:
    """Every live customer's scores as a scoring run computes them (each active scorecard
    version's score, rating, tier and reasons, each live model's score), from the indicators
    of a frames directory or a lake and a config directory, to OUT as Parquet (one row per
    customer; docs/spark.md names the columns); both engines write files that compare equal."""
    from riskdesk.batch.frames import FramesError

    day = _checked(as_of, out, frames, lake, engine, buckets, bucket_mb, python_memory, config)
    started = time.perf_counter()
    try:
        if engine is Engine.polars:
            from riskdesk.batch import local

            customers = local.scores(
                Path(config),
                day,
                frames_dir=Path(frames) if frames is not None else None,
                lake_uri=lake,
                out=Path(out),
            ).height
            summary: dict[str, object] = {"engine": "polars", "customers": customers}
        else:
            from riskdesk.batch import spark, spark_scores

            existing = spark.active_session()  # a caller's (a test's): used, not stopped
            try:
                session = existing or spark.session(master, python_memory=python_memory)
            except spark.SparkUnavailable as exc:
                fail("--engine", f"spark: {exc}")
            try:
                _, plan = spark_scores.scores(
                    session,
                    config,
                    day,
                    frames_dir=frames,
                    lake_uri=lake,
                    out=out,
                    buckets=buckets,
                    bucket_mb=bucket_mb or spark.BUCKET_MB,
                )
            finally:
                if existing is None:
                    session.stop()
            summary = {"engine": "spark", "master": master, "buckets": plan.buckets}
    except FramesError as exc:
        fail(exc.option, exc.reason)
    summary |= {
        "input": "lake" if lake is not None else "frames",
        "out": out,
        "seconds": round(time.perf_counter() - started, 2),
    }
    typer.echo(json.dumps(summary))


class Every(StrEnum):
    """How often a replay evaluates the rules."""

    week = "week"
    month = "month"


@batch_app.command("replay")
def replay_command(
    first: Annotated[str, typer.Option("--from", help="first business date, YYYY-MM-DD")],
    last: Annotated[
        str, typer.Option("--to", help="last business date, YYYY-MM-DD (the config's date)")
    ],
    config: ConfigOption,
    out: OutOption,
    every: Annotated[
        Every, typer.Option("--every", help="week (Sundays) or month (month ends)")
    ] = Every.month,
    frames: FramesOption = None,
    lake: LakeOption = None,
    engine: EngineOption = Engine.polars,
    master: MasterOption = "local[2]",
    buckets: BucketsOption = None,
    bucket_mb: BucketMbOption = None,
    python_memory: PythonMemoryOption = None,
) -> None:
    """The warning replay (`riskdesk warnings replay`'s rules, without the anomaly detector)
    over a frames directory or a lake and a config directory: on each date from --from to
    --to, the indicators as of that date and every active rule over them. OUT as Parquet: one
    row per (as_of, customer_id, rule_code) that fires or is held open, with severity and the
    values that set it off (docs/spark.md); both engines write files that compare equal."""
    from riskdesk.batch import replay
    from riskdesk.batch.frames import FramesError

    end = _checked(
        last, out, frames, lake, engine, buckets, bucket_mb, python_memory, config, "--to"
    )
    start = parse_date("--from", first)
    started = time.perf_counter()
    try:
        days = replay.dates(start, end, every.value)
        if engine is Engine.polars:
            rows = replay.local_replay(
                Path(config),
                days,
                frames_dir=Path(frames) if frames is not None else None,
                lake_uri=lake,
                out=Path(out),
            ).height
            summary: dict[str, object] = {"engine": "polars", "rows": rows}
        else:
            from riskdesk.batch import spark, spark_replay

            existing = spark.active_session()  # a caller's (a test's): used, not stopped
            try:
                session = existing or spark.session(master, python_memory=python_memory)
            except spark.SparkUnavailable as exc:
                fail("--engine", f"spark: {exc}")
            try:
                _, plan = spark_replay.replay(
                    session,
                    config,
                    days,
                    frames_dir=frames,
                    lake_uri=lake,
                    out=out,
                    buckets=buckets,
                    bucket_mb=bucket_mb or spark.BUCKET_MB,
                )
            finally:
                if existing is None:
                    session.stop()
            summary = {"engine": "spark", "master": master, "buckets": plan.buckets}
    except FramesError as exc:
        fail(exc.option, exc.reason)
    summary |= {
        "input": "lake" if lake is not None else "frames",
        "dates": len(days),
        "from": days[0].isoformat(),
        "to": days[-1].isoformat(),
        "out": out,
        "seconds": round(time.perf_counter() - started, 2),
    }
    typer.echo(json.dumps(summary))


@batch_app.command("load")
def load_command(
    source: Annotated[
        Path, typer.Option("--from", help="a result directory (batch indicators|scores --out)")
    ],
    table: Annotated[
        str, typer.Option("--table", help="the load's name: the staging table is batch_<NAME>")
    ],
) -> None:
    """Load a batch result into PostgreSQL, into the staging table batch_<NAME> (replaced
    whole, by COPY), for reports and BI; the product's own tables are left alone."""
    from riskdesk.batch.frames import FramesError
    from riskdesk.batch.repository import load_result, table_name
    from riskdesk.config import get_settings
    from riskdesk.db import make_engine, make_sessionmaker, unit_of_work

    if not source.is_dir():
        fail("--from", f"{source} is not a directory")
    started = time.perf_counter()
    try:
        staging = table_name(table)
        factory = make_sessionmaker(make_engine(get_settings().database_url))
        with unit_of_work(factory) as session:
            rows = load_result(session, sorted(source.glob("*.parquet")), table)
    except FramesError as exc:
        fail(exc.option, exc.reason)
    summary = {"table": staging, "rows": rows, "seconds": round(time.perf_counter() - started, 2)}
    typer.echo(json.dumps(summary))
