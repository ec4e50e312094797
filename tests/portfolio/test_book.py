"""The positions read once and derived in Polars give what the SQL aggregates give, on the
hand-made book (both databases) and at the edges of the utilisation bands."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
from sqlalchemy.orm import Session

from riskdesk.portfolio import book as pb
from riskdesk.portfolio import repository as repo
from tests.portfolio.seed import Book

D = Decimal


def _positions(db: Session, scope: repo.Scope | None = None) -> pl.DataFrame:
    return pb.frame(repo.positions(db, scope or repo.Scope()))


def test_bands_tiers_top_and_concentration_match_the_sql(book: Book, db: Session) -> None:
    for scope in (repo.Scope(), repo.Scope(region="East"), repo.Scope(owner_ids=())):
        positions = _positions(db, scope)
        sql_cells = sorted(repo.by_band_and_tier(db, scope))
        assert sorted(pb.by_band_and_tier(positions, repo.UTILISATION_BANDS)) == sql_cells
        top = pb.top_exposures(positions, 20)
        names = repo.customer_names(db, [row[0] for row in top])
        assert [(c, *names[c], t, e, lim) for c, t, e, lim in top] == [
            tuple(row) for row in repo.top_exposures(db, scope, 20)
        ]
        for dimension in ("industry", "region", "group"):
            rows, squares, total = repo.concentration(db, scope, dimension, 10)
            found, squares_, total_ = pb.concentration(positions, dimension, 10)
            assert (squares_, total_) == (squares, total)
            if dimension == "group":
                codes = repo.group_codes(db, [k for k, _ in found if k > 0])
                found = [(codes[k], e) if k > 0 else (-k, e) for k, e in found]
                rows = [(k, e) if k is not None else (cid, e) for k, cid, e in rows]
            else:
                rows = [(k, e) for k, _, e in rows]
            assert found == rows, dimension


def test_the_whole_bookby_hand(book: Book, db: Session) -> None:
    positions = _positions(db)
    cells = {(b, t): (n, e, lim) for b, t, n, e, lim in pb.by_band_and_tier(
        positions, repo.UTILISATION_BANDS
    )}  # fmt: skip
    assert cells[("80_100", "high")] == (1, D("80000.00"), D("100000.00"))
    assert cells[("under_50", "low")] == (1, D("50000.00"), D("200000.00"))
    assert cells[("over_100", "medium")] == (1, D("60000.00"), D("50000.00"))
    assert cells[("no_limit", "unrated")] == (1, D("1000.00"), D("0.00"))
    top = pb.top_exposures(positions, 2)
    assert [(r[0], r[2]) for r in top] == [(book.a, D("80000.00")), (book.c, D("60000.00"))]


def test_the_band_edges_are_exact() -> None:
    limit = 999_999_999_999_999_999  # cents: 9,999,999,999,999,999.99, Money's largest
    rows = [
        (1, None, None, None, None, 10_000, 4_999),
        (2, None, None, None, None, 10_000, 5_000),
        (3, None, None, None, None, 10_000, 8_000),
        (4, None, None, None, None, 10_000, 10_000),
        (5, None, None, None, None, 0, 500),
        (6, None, None, None, None, limit, limit - 1),
        (7, None, None, None, None, limit, limit),
    ]
    positions = pb.frame(rows)
    bands = pb.band_of(positions, repo.UTILISATION_BANDS).to_list()
    assert bands == ["under_50", "50_80", "80_100", "over_100", "no_limit", "80_100", "over_100"]
    # The cents become exact decimals, and their sums stay exact past 64-bit integers.
    assert positions["exposure"].to_list()[5:] == [
        D("9999999999999999.98"), D("9999999999999999.99"),
    ]  # fmt: skip
    cells = pb.by_band_and_tier(positions, repo.UTILISATION_BANDS)
    assert [(b, e, lim) for b, _, _, e, lim in cells if b == "over_100"] == [
        ("over_100", D("10000000000000099.99"), D("10000000000000099.99"))
    ]


def test_an_empty_book() -> None:
    empty = pb.frame([])
    assert pb.by_band_and_tier(empty, repo.UTILISATION_BANDS) == []
    assert pb.top_exposures(empty, 20) == []
    assert pb.concentration(empty, "group", 10) == ([], 0.0, 0.0)
