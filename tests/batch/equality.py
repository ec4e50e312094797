"""What "the engines agree" means for an indicator result."""

from __future__ import annotations

import numpy as np
import polars as pl

# Relative tolerance: a customer's sums are added in an order Polars' threads choose, so two
# in-process runs on the same data already differ in the last bits (about 1e-16 relative);
# every count, key, null, rank and score must be exact.
RELATIVE = 1e-9
ABSOLUTE = 1e-9  # for values that are 0 in one run and 1e-13 in another (a sum that cancels)


def differences(got: pl.DataFrame, want: pl.DataFrame) -> dict[str, int]:
    """Rows per column that differ beyond the tolerance (nulls and NaNs must match exactly)."""
    assert got.columns == want.columns, "columns differ"
    assert got.schema == want.schema, "dtypes differ"
    assert got["customer_id"].to_list() == want["customer_id"].to_list(), "customers differ"
    out: dict[str, int] = {}
    for name in got.columns[1:]:
        a, b = got[name], want[name]
        nulls = a.is_null().to_numpy() != b.is_null().to_numpy()
        x = a.fill_null(0.0).to_numpy()
        y = b.fill_null(0.0).to_numpy()
        nans = np.isnan(x) != np.isnan(y)
        with np.errstate(invalid="ignore"):
            close = (np.abs(x - y) <= RELATIVE * np.maximum(np.abs(x), np.abs(y)) + ABSOLUTE) | (
                np.isnan(x) & np.isnan(y)
            )
        bad = int((nulls | nans | ~close).sum())
        if bad:
            out[name] = bad
    return out


def bit_identical_share(got: pl.DataFrame, want: pl.DataFrame) -> float:
    """The share of cells equal to the last bit (for the record; not asserted)."""
    same = total = 0
    for name in got.columns[1:]:
        x = got[name].fill_null(-1.5e308).to_numpy()
        y = want[name].fill_null(-1.5e308).to_numpy()
        same += int(((x == y) | (np.isnan(x) & np.isnan(y))).sum())
        total += x.size
    return same / total


def score_differences(got: pl.DataFrame, want: pl.DataFrame) -> dict[str, int]:
    """Rows per column of a scores result that differ: floats (a model's bad probability)
    within the tolerance above, everything else (scores, ratings, tiers, reasons, nulls)
    exactly."""
    assert got.columns == want.columns, f"columns differ: {got.columns} != {want.columns}"
    assert got.schema == want.schema, "dtypes differ"
    assert got["customer_id"].to_list() == want["customer_id"].to_list(), "customers differ"
    floats = [c for c, t in got.schema.items() if t == pl.Float64]
    out = differences(got.select("customer_id", *floats), want.select("customer_id", *floats))
    for name in got.columns[1:]:
        if name not in floats:
            bad = int((~got[name].eq_missing(want[name])).sum())
            if bad:
                out[name] = bad
    return out
