"""Frames built a slice at a time equal the frame built at once, and let other threads run."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import polars as pl
import pytest

from riskdesk.kit.frames import frame_of_rows

SCHEMA = {"id": pl.Int64, "day": pl.Date, "amount": pl.Float64, "name": pl.String}


def _rows(n: int) -> list[tuple[int, dt.date, float | None, str | None]]:
    return [
        (i, dt.date(2026, 1, 1) + dt.timedelta(days=i % 300), None if i % 7 else i / 3, f"c{i}")
        for i in range(n)
    ]


@pytest.mark.parametrize("n", [0, 1, 4, 5, 6, 23])
def test_slices_give_the_frame_built_at_once(n: int) -> None:
    rows = _rows(n)
    whole = pl.DataFrame(rows, schema=SCHEMA, orient="row")
    sliced = frame_of_rows(iter(rows), SCHEMA, size=5)
    assert sliced.schema == whole.schema
    assert sliced.equals(whole)
    assert sliced.n_chunks() == 1


def test_other_threads_run_between_the_slices() -> None:
    rows = _rows(400_000)
    ticks: list[float] = []
    stop = threading.Event()

    def ticker() -> None:
        while not stop.is_set():
            time.sleep(0.001)
            ticks.append(time.perf_counter())

    def ticks_during(build: Any) -> int:
        started = time.perf_counter()
        build()
        ended = time.perf_counter()
        return sum(1 for t in list(ticks) if started < t < ended)

    thread = threading.Thread(target=ticker)
    thread.start()
    try:
        time.sleep(0.05)
        sliced = ticks_during(lambda: frame_of_rows(rows, SCHEMA, size=10_000))
        whole = ticks_during(lambda: pl.DataFrame(rows, schema=SCHEMA, orient="row"))
    finally:
        stop.set()
        thread.join()
    # Counted, not timed (the machine may be loaded): built at once, the other thread cannot
    # run until the build ends; in 40 slices it runs between them.
    assert whole <= 2 and sliced >= 10, (whole, sliced)
