"""Batch indicators on Spark local[N] beside in-process Polars, on the same frames, in one run.

    PYTHONPATH=src:. .venv/bin/python bench/spark_bench.py [--customers N] [--events N]
        [--master local[2]] [--buckets B] [--repeat R]

(defaults: 10000 customers, about 1,000,000 events; needs the spark extra and Java)

Generates the population of tests/batch/population.py, writes it as a frames directory, then
times, R times each and alternating: ``riskdesk batch indicators --engine polars`` as a function
(read the Parquet frames, compute, write the result) and the Spark engine (read, bucket,
applyInArrow per bucket, the population step, write; the session started beforehand and timed
apart). Prints one JSON line per run and a summary with the best times and their ratio, and the
machine's load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from tests.batch.population import AS_OF, event_count, generate

from riskdesk.batch import frames as batch_frames
from riskdesk.batch import local
from riskdesk.batch import spark as spark_engine


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=1_000_000, help="about this many rows")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--buckets", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    load_before = os.getloadavg()
    # The generator's order lines come on top of its "events": ask for fewer to get about N.
    frames = generate(args.customers, int(args.events / 1.45), seed=7)
    with tempfile.TemporaryDirectory() as tmp:
        frames_dir = Path(tmp) / "frames"
        batch_frames.write_frames(frames, frames_dir)
        size = batch_frames.frames_bytes(frames_dir)
        started = time.perf_counter()
        spark = spark_engine.session(args.master, app_name="riskdesk-bench")
        session_s = time.perf_counter() - started
        times: dict[str, list[float]] = {"polars": [], "spark": []}
        buckets = 0
        for run in range(args.repeat):
            started = time.perf_counter()
            local.indicators(frames_dir, AS_OF, Path(tmp) / "out_polars")
            times["polars"].append(time.perf_counter() - started)
            started = time.perf_counter()
            _, plan = spark_engine.indicators(
                spark, frames_dir, AS_OF, out=Path(tmp) / "out_spark", buckets=args.buckets
            )
            times["spark"].append(time.perf_counter() - started)
            buckets = plan.buckets
            for engine in ("polars", "spark"):
                print(json.dumps({"run": run, "engine": engine, "s": round(times[engine][-1], 2)}))
        same = batch_frames.read_result(Path(tmp) / "out_polars").height == (
            batch_frames.read_result(Path(tmp) / "out_spark").height
        )
        spark.stop()
    best = {engine: min(values) for engine, values in times.items()}
    print(
        json.dumps(
            {
                "customers": args.customers,
                "events": event_count(frames),
                "parquet_mb": round(size / 1024**2, 1),
                "master": args.master,
                "buckets": buckets,
                "spark_session_s": round(session_s, 1),
                "polars_best_s": round(best["polars"], 2),
                "spark_best_s": round(best["spark"], 2),
                "spark_over_polars": round(best["spark"] / best["polars"], 1),
                "same_rows": same,
                "load_before": [round(v, 1) for v in load_before],
                "load_after": [round(v, 1) for v in os.getloadavg()],
            }
        )
    )


if __name__ == "__main__":
    main()
