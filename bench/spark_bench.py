"""Batch indicators on Spark local[N] beside in-process Polars, on the same frames, in one run,
at one or more sizes, with the scaling exponent and a cluster projection.

    PYTHONPATH=src:. .venv/bin/python bench/spark_bench.py [--events N [N ...]]
        [--customers N [N ...]] [--master local[2]] [--buckets B] [--repeat R]
        [--driver-memory 4g] [--executors 10 50 200] [--cores 4] [--read-mbps 200]

(defaults: 1,000,000 events and 10,000 customers; with several ``--events`` and no
``--customers``, a customer per 100 events, so that events per customer stay the same; needs the
spark extra and Java)

For each size it generates the population of tests/batch/population.py and writes it as a frames
directory; then, R times and alternating (size by size, Polars then Spark), it times
``riskdesk batch indicators --engine polars`` as a function (read the Parquet frames, compute,
write the result) and the Spark engine (read, bucket, applyInArrow per bucket, the population
step, write; the session started once beforehand and timed apart).

Per-bucket costs are measured inside Spark's Python workers, on the calls Spark makes: the bench
replaces ``riskdesk.batch.spark._base_of_bucket`` (the factory of the function handed to
``applyInArrow``) by one that wraps the product's own function, unchanged, with a clock, and
appends each call's input rows, Arrow bytes, seconds and the worker's peak resident memory to a
file (one machine: ``local[...]``
masters only). ``summarise`` (the driver-side population summary) is wrapped the same way in
this process, which splits a Spark run into: the bucket stage (read, shuffle, Arrow hand-over,
``compute_base`` per bucket, the Reference collected), the driver summary, and the rest (rank
per partition, sort, write). The product's code is not changed.

Prints one JSON line per run, a summary per size with the best times, the scaling exponent b
(t proportional to n**b between the smallest and the largest size) per engine, and a projection
for ``--project-customers`` and ``--project-events`` (50 million, 10 billion) on N executors of
C cores from the per-bucket costs of the largest size (see ``project`` for what it assumes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.batch.population import AS_OF, event_count, generate

from riskdesk.batch import frames as batch_frames
from riskdesk.batch import local
from riskdesk.batch import spark as spark_engine

EVENTS_PER_CUSTOMER = 100
ORIGINAL_BASE_OF_BUCKET = spark_engine._base_of_bucket
ORIGINAL_SUMMARISE = spark_engine.summarise


def timed_base_of_bucket(log: str) -> Callable[[dt.date], Any]:
    """The product's per-bucket function factory, each call timed and logged to ``log``."""

    def factory(as_of: dt.date) -> Any:
        inner = ORIGINAL_BASE_OF_BUCKET(as_of)

        def run(table: Any) -> Any:
            started = time.perf_counter()
            result = inner(table)
            seconds = time.perf_counter() - started
            line = {"rows": table.num_rows, "bytes": table.nbytes, "out": result.num_rows}
            line["s"] = seconds
            # The worker's peak resident memory so far (KiB on Linux; workers are reused).
            line["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            with open(log, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(line) + "\n")
            return result

        return run

    return factory


class DriverClock:
    """``summarise`` wrapped: when the driver-side population summary starts and ends."""

    def __init__(self) -> None:
        self.started = 0.0
        self.ended = 0.0
        self.broadcast_bytes = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.started = time.perf_counter()
        result = ORIGINAL_SUMMARISE(*args, **kwargs)
        self.ended = time.perf_counter()
        # What the engine broadcasts to every executor (every amount, exact ranks).
        self.broadcast_bytes = len(json.dumps(result.as_json()))
        return result


def exponent(n1: float, t1: float, n2: float, t2: float) -> float:
    """b in t = a * n**b through two points."""
    return math.log(t2 / t1) / math.log(n2 / n1)


def run_spark(spark: Any, frames_dir: Path, out: Path, buckets: int | None, log: Path) -> dict:
    """One timed Spark run with its per-bucket calls and phases."""
    log.unlink(missing_ok=True)
    clock = DriverClock()
    spark_engine._base_of_bucket = timed_base_of_bucket(str(log))
    spark_engine.summarise = clock
    try:
        started = time.perf_counter()
        _, plan = spark_engine.indicators(spark, frames_dir, AS_OF, out=out, buckets=buckets)
        ended = time.perf_counter()
    finally:
        spark_engine._base_of_bucket = ORIGINAL_BASE_OF_BUCKET
        spark_engine.summarise = ORIGINAL_SUMMARISE
    calls = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    return {
        "s": ended - started,
        "buckets": plan.buckets,
        "input_bytes": plan.input_bytes,
        "bucket_stage_s": clock.started - started,
        "driver_summary_s": clock.ended - clock.started,
        "rank_write_s": ended - clock.ended,
        "broadcast_bytes": clock.broadcast_bytes,
        "calls": calls,
    }


def read_seconds(spark: Any, frames_dir: Path) -> float:
    """Spark reading every frame into the long table and counting it (warm session)."""
    started = time.perf_counter()
    long, _ = spark_engine.read_long(spark, str(frames_dir), 1)
    long.count()
    return time.perf_counter() - started


def project(
    measured: dict,
    *,
    customers: float,
    events: float,
    executors: list[int],
    cores: int,
    read_mbps: float,
    bucket_mb: int,
    smaller: dict | None = None,
) -> dict:
    """A cluster's needs for ``customers`` and ``events`` from one measured size.

    Assumes: the bucket call's cost linear in its input rows at the rate measured (compute only,
    inside the Python worker), and the whole bucket stage's core-seconds per event as measured on
    one machine (read, shuffle, JVM-to-Python Arrow transfer, compute; with a ``smaller`` size
    measured too and slower, the marginal rate between the two, which leaves out fixed costs
    such as task and worker start-up); Parquet bytes per event as
    in the generated frames; bucket count from the product's ``bucket_count``; buckets run in
    waves of N*C tasks; the driver summary and the rank/sort/write stage linear in customers.
    Not measured: network shuffle across machines, object-store throughput (``read_mbps`` per
    executor is an assumption), skew from very large customers, executor start-up, and the
    Arrow transfer on real nodes."""
    calls = measured["calls"]
    rows = sum(c["rows"] for c in calls)
    compute_s = sum(c["s"] for c in calls)
    s_per_row = compute_s / rows
    rows_per_event = rows / measured["events"]
    bytes_per_event = measured["input_bytes"] / measured["events"]
    input_bytes = events * bytes_per_event
    stage_core_s_per_event = measured["bucket_stage_s"] * measured["cores"] / measured["events"]
    rest_core_s_per_customer = measured["rank_write_s"] * measured["cores"] / measured["customers"]
    rate = "average"
    # Marginal rates leave fixed costs out, but only mean something when the larger size took
    # longer (a cold or loaded smaller run makes them negative): else keep the averages.
    if (
        smaller is not None
        and measured["bucket_stage_s"] > smaller["bucket_stage_s"]
        and measured["rank_write_s"] > smaller["rank_write_s"]
    ):
        rate = "marginal"
        stage_core_s_per_event = (
            (measured["bucket_stage_s"] - smaller["bucket_stage_s"])
            * measured["cores"]
            / (measured["events"] - smaller["events"])
        )
        rest_core_s_per_customer = (
            (measured["rank_write_s"] - smaller["rank_write_s"])
            * measured["cores"]
            / (measured["customers"] - smaller["customers"])
        )
    summary_s = measured["driver_summary_s"] / measured["customers"] * customers
    broadcast_gb = measured["broadcast_bytes"] / measured["customers"] * customers / 1024**3
    table = []
    for n in executors:
        buckets = spark_engine.bucket_count(
            int(input_bytes), bucket_mb=bucket_mb, parallelism=n * cores
        )
        rows_per_bucket = events * rows_per_event / buckets
        bucket_s = rows_per_bucket * s_per_row
        waves = math.ceil(buckets / (n * cores))
        stage_core_s = stage_core_s_per_event * events
        table.append(
            {
                "executors": n,
                "cores": n * cores,
                "buckets": buckets,
                "rows_per_bucket_m": round(rows_per_bucket / 1e6, 2),
                "bucket_compute_s": round(bucket_s, 1),
                "compute_core_h": round(bucket_s * buckets / 3600, 1),
                "compute_wall_min": round(waves * bucket_s / 60, 1),
                "stage_core_h": round(stage_core_s / 3600, 1),
                "stage_wall_min": round(stage_core_s / (n * cores) / 60, 1),
                "read_wall_min": round(input_bytes / (n * read_mbps * 1024**2) / 60, 2),
                "driver_summary_min": round(summary_s / 60, 1),
                "rank_write_wall_min": round(
                    rest_core_s_per_customer * customers / (n * cores) / 60, 1
                ),
            }
        )
    return {
        "project_customers": customers,
        "project_events": events,
        "input_gb": round(input_bytes / 1024**3, 1),
        "bytes_per_event": round(bytes_per_event, 2),
        "compute_us_per_row": round(s_per_row * 1e6, 2),
        "stage_core_us_per_event": round(stage_core_s_per_event * 1e6, 2),
        "stage_rate": rate,
        "rank_write_core_us_per_customer": round(rest_core_s_per_customer * 1e6, 1),
        "driver_summary_s": round(summary_s, 1),
        "broadcast_gb": round(broadcast_gb, 2),
        "from_events": measured["events"],
        "table": table,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000], help="about N rows")
    parser.add_argument("--customers", type=int, nargs="+", default=None)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--buckets", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--driver-memory", default=None, help="spark.driver.memory, e.g. 4g")
    parser.add_argument("--project-customers", type=float, default=50e6)
    parser.add_argument("--project-events", type=float, default=10e9)
    parser.add_argument("--executors", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--cores", type=int, default=4, help="cores per executor")
    parser.add_argument(
        "--read-mbps", type=float, default=200.0, help="assumed object-store MB/s per executor"
    )
    args = parser.parse_args()
    customers = args.customers or [max(1, n // EVENTS_PER_CUSTOMER) for n in args.events]
    if len(customers) != len(args.events):
        parser.error("--customers needs one value per --events value")
    if not args.master.startswith("local"):
        parser.error("the per-bucket log needs a local[...] master")
    load_before = os.getloadavg()
    conf = {"spark.driver.memory": args.driver_memory} if args.driver_memory else None
    with tempfile.TemporaryDirectory() as tmp:
        sizes = []
        for n_customers, n_events in zip(customers, args.events, strict=True):
            # The generator's order lines come on top of its "events": ask for fewer to get ~N.
            frames = generate(n_customers, int(n_events / 1.45), seed=7)
            frames_dir = Path(tmp) / f"frames_{n_events}"
            batch_frames.write_frames(frames, frames_dir)
            sizes.append(
                {
                    "customers": n_customers,
                    "events": event_count(frames),
                    "dir": frames_dir,
                    "parquet_mb": round(batch_frames.frames_bytes(frames_dir) / 1024**2, 1),
                    "polars": [],
                    "spark": [],
                }
            )
            del frames
        started = time.perf_counter()
        spark = spark_engine.session(args.master, app_name="riskdesk-bench", conf=conf)
        session_s = time.perf_counter() - started
        cores = spark.sparkContext.defaultParallelism
        for run in range(args.repeat):
            for size in sizes:
                out = Path(tmp) / f"out_{size['events']}"
                started = time.perf_counter()
                local.indicators(size["dir"], AS_OF, out.with_name(out.name + "_polars"))
                size["polars"].append(time.perf_counter() - started)
                measured = run_spark(
                    spark,
                    size["dir"],
                    out.with_name(out.name + "_spark"),
                    args.buckets,
                    Path(tmp) / "buckets.jsonl",
                )
                size["spark"].append(measured)
                calls = measured["calls"]
                line = {
                    "run": run,
                    "events": size["events"],
                    "polars_s": round(size["polars"][-1], 2),
                    "spark_s": round(measured["s"], 2),
                    "buckets": measured["buckets"],
                    "bucket_stage_s": round(measured["bucket_stage_s"], 2),
                    "driver_summary_s": round(measured["driver_summary_s"], 3),
                    "rank_write_s": round(measured["rank_write_s"], 2),
                    "bucket_calls": [
                        {
                            "rows": c["rows"],
                            "mb": round(c["bytes"] / 1024**2, 1),
                            "s": round(c["s"], 2),
                        }
                        for c in calls
                    ],
                }
                print(json.dumps(line), flush=True)
        summaries = []
        for size in sizes:
            out = Path(tmp) / f"out_{size['events']}"
            same = batch_frames.read_result(out.with_name(out.name + "_polars")).height == (
                batch_frames.read_result(out.with_name(out.name + "_spark")).height
            )
            best_spark = min(size["spark"], key=lambda m: m["s"])
            calls = best_spark["calls"]
            summary = {
                "customers": size["customers"],
                "events": size["events"],
                "parquet_mb": size["parquet_mb"],
                "master": args.master,
                "buckets": best_spark["buckets"],
                "polars_best_s": round(min(size["polars"]), 2),
                "spark_best_s": round(best_spark["s"], 2),
                "spark_over_polars": round(best_spark["s"] / min(size["polars"]), 1),
                "spark_read_count_s": round(read_seconds(spark, size["dir"]), 2),
                "bucket_stage_s": round(best_spark["bucket_stage_s"], 2),
                "bucket_compute_s": round(sum(c["s"] for c in calls), 2),
                "compute_us_per_row": round(
                    sum(c["s"] for c in calls) / sum(c["rows"] for c in calls) * 1e6, 2
                ),
                "bucket_mb": [round(c["bytes"] / 1024**2, 1) for c in calls],
                "driver_summary_s": round(best_spark["driver_summary_s"], 3),
                "rank_write_s": round(best_spark["rank_write_s"], 2),
                "same_rows": same,
            }
            summaries.append(summary)
            print(json.dumps(summary), flush=True)
            size["best_spark"] = best_spark
        spark.stop()
    # Workers are reused across runs and sizes: their peak is the invocation's, not a size's.
    peak = max(c["maxrss_mb"] for size in sizes for m in size["spark"] for c in m["calls"])
    print(
        json.dumps(
            {"spark_session_s": round(session_s, 1), "cores": cores, "worker_peak_mb": round(peak)}
        )
    )
    if len(sizes) > 1:
        first, last = summaries[0], summaries[-1]
        print(
            json.dumps(
                {
                    "exponent_from": [first["events"], last["events"]],
                    "polars_b": round(
                        exponent(
                            first["events"],
                            first["polars_best_s"],
                            last["events"],
                            last["polars_best_s"],
                        ),
                        2,
                    ),
                    "spark_b": round(
                        exponent(
                            first["events"],
                            first["spark_best_s"],
                            last["events"],
                            last["spark_best_s"],
                        ),
                        2,
                    ),
                    "spark_bucket_stage_b": round(
                        exponent(
                            first["events"],
                            first["bucket_stage_s"],
                            last["events"],
                            last["bucket_stage_s"],
                        ),
                        2,
                    ),
                    "bucket_compute_b": round(
                        exponent(
                            first["events"],
                            first["bucket_compute_s"],
                            last["events"],
                            last["bucket_compute_s"],
                        ),
                        2,
                    ),
                }
            )
        )
    largest = sizes[-1]
    measured = {
        **largest["best_spark"],
        "events": largest["events"],
        "customers": largest["customers"],
        "cores": cores,
    }
    projection = project(
        measured,
        customers=args.project_customers,
        events=args.project_events,
        executors=args.executors,
        cores=args.cores,
        read_mbps=args.read_mbps,
        bucket_mb=spark_engine.BUCKET_MB,
        smaller=(
            {
                **sizes[0]["best_spark"],
                "events": sizes[0]["events"],
                "customers": sizes[0]["customers"],
            }
            if len(sizes) > 1
            else None
        ),
    )
    print(json.dumps({"projection": {k: v for k, v in projection.items() if k != "table"}}))
    for row in projection["table"]:
        print(json.dumps(row))
    print(
        json.dumps(
            {
                "load_before": [round(v, 1) for v in load_before],
                "load_after": [round(v, 1) for v in os.getloadavg()],
            }
        )
    )


if __name__ == "__main__":
    main()
