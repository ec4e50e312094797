"""Batch indicators from the lake beside from a frames directory, on both engines, in one run.

    export RISKDESK_DATABASE_URL=sqlite:////tmp/lakebench/demo.db
    riskdesk db upgrade && riskdesk demo --customers 2000 --months 24 --seed 1
    PYTHONPATH=.:src .venv/bin/python bench/spark_lake_bench.py --db-url $RISKDESK_DATABASE_URL \
        [--master local[2]] [--buckets B] [--repeat R]

On a database the demo populated (read only): the lake is exported and the frames directory
written once (each timed, for the record), the Spark session started (timed apart), then R
times each, alternating: polars --frames, polars --lake, spark --frames, spark --lake (read,
bucket, per bucket frames_of for the lake, compute_base, the population step, write). Prints
one JSON line per run and a summary: best times, the lake/frames ratio per engine, and the
machine's load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from tests.batch.population import AS_OF

from riskdesk.batch import frames as batch_frames
from riskdesk.batch import local, spark_lake
from riskdesk.batch import spark as spark_engine
from riskdesk.db import make_engine, make_sessionmaker, reading
from riskdesk.indicators import service as indicator_service
from riskdesk.lake import service as lake_service


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db-url", required=True)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--buckets", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    load_before = os.getloadavg()
    factory = make_sessionmaker(make_engine(args.db_url))
    with tempfile.TemporaryDirectory() as tmp:
        lake_dir, frames_dir = Path(tmp) / "lake", Path(tmp) / "frames"
        started = time.perf_counter()
        with reading(factory) as session:
            report = lake_service.export(session, str(lake_dir))
        export_s = time.perf_counter() - started
        started = time.perf_counter()
        with reading(factory) as session:
            frames = indicator_service.load_history(session)
        batch_frames.write_frames(frames, frames_dir)
        frames_s = time.perf_counter() - started
        lake_mb = sum(f.stat().st_size for f in lake_dir.rglob("*.parquet")) / 1e6
        frames_mb = batch_frames.frames_bytes(frames_dir) / 1e6
        started = time.perf_counter()
        spark = spark_engine.session(args.master, app_name="riskdesk-bench")
        session_s = time.perf_counter() - started
        runs = {
            "polars_frames": lambda: local.indicators(frames_dir, AS_OF, Path(tmp) / "o1"),
            "polars_lake": lambda: local.indicators_from_lake(
                str(lake_dir), AS_OF, Path(tmp) / "o2"
            ),
            "spark_frames": lambda: spark_engine.indicators(
                spark, frames_dir, AS_OF, out=Path(tmp) / "o3", buckets=args.buckets
            ),
            "spark_lake": lambda: spark_lake.indicators(
                spark, lake_dir, AS_OF, out=Path(tmp) / "o4", buckets=args.buckets
            ),
        }
        times: dict[str, list[float]] = {name: [] for name in runs}
        plans: dict[str, int] = {}
        for run in range(args.repeat):
            for name, fn in runs.items():
                started = time.perf_counter()
                got = fn()
                times[name].append(time.perf_counter() - started)
                if isinstance(got, tuple):
                    plans[name] = got[1].buckets
                print(json.dumps({"run": run, "what": name, "s": round(times[name][-1], 3)}))
        spark.stop()
    best = {name: min(t) for name, t in times.items()}
    print(
        json.dumps(
            {
                "event_rows": report.event_rows,
                "lake_mb": round(lake_mb, 1),
                "frames_mb": round(frames_mb, 1),
                "export_s": round(export_s, 2),
                "load_history_and_write_frames_s": round(frames_s, 2),
                "spark_session_s": round(session_s, 2),
                "buckets": plans,
                "best_s": {k: round(v, 3) for k, v in best.items()},
                "lake_over_frames": {
                    "polars": round(best["polars_lake"] / best["polars_frames"], 2),
                    "spark": round(best["spark_lake"] / best["spark_frames"], 2),
                },
                "spark_over_polars_lake": round(best["spark_lake"] / best["polars_lake"], 2),
                "load_before": [round(x, 2) for x in load_before],
                "load_after": [round(x, 2) for x in os.getloadavg()],
            }
        )
    )


if __name__ == "__main__":
    main()
