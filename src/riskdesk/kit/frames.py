"""Polars frames from Python rows (database results), built a slice at a time.

Polars holds the GIL while it reads Python objects: one call over a million rows stops every
other thread of the process for seconds (measured: 1.25 million invoice rows, 2.1 s without a
single switch; an event intake in the server waited 4.7 s beside an ECL job). Slices of
``ROWS_PER_SLICE`` let the other threads in between."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl

ROWS_PER_SLICE = 20_000


def frame_of_rows(
    rows: Iterable[Sequence[Any]], schema: Mapping[str, Any], *, size: int = ROWS_PER_SLICE
) -> pl.DataFrame:
    """The rows (tuples, or database rows) as a frame of ``schema``, read ``size`` at a time."""
    it = iter(rows)
    parts = []
    while True:
        batch = [tuple(r) for r in itertools.islice(it, size)]
        if not batch:
            break
        parts.append(pl.DataFrame(batch, schema=dict(schema), orient="row"))
    if not parts:
        return pl.DataFrame(schema=dict(schema))
    return parts[0] if len(parts) == 1 else pl.concat(parts, rechunk=True)
