"""Frames built a slice at a time equal the frame built at once, and let other threads run."""

from __future__ import annotations

import datetime as dt
import threading
import time

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
    gaps: list[float] = []
    stop = threading.Event()

    def ticker() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            time.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    thread = threading.Thread(target=ticker)
    thread.start()
    try:
        time.sleep(0.05)
        gaps.clear()
        started = time.perf_counter()
        frame_of_rows(rows, SCHEMA, size=10_000)
        took = time.perf_counter() - started
        sliced_gap = max(gaps)
        gaps.clear()
        pl.DataFrame(rows, schema=SCHEMA, orient="row")  # at once: no switch until it ends
        whole_gap = max(gaps)
    finally:
        stop.set()
        thread.join()
    # Relative, not absolute: the machine may be loaded. At once, the other thread waits for
    # (nearly) the whole build; in slices, for a small part of it.
    assert whole_gap > 3 * sliced_gap, (whole_gap, sliced_gap, took)
