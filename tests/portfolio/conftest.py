"""The hand-made portfolio as a fixture."""

from __future__ import annotations

import pytest

from tests.portfolio.seed import Book, seed


@pytest.fixture
def book(db) -> Book:  # type: ignore[no-untyped-def]
    """The portfolio of tests/portfolio/seed.py, committed in the test's transaction."""
    found = seed(db)
    db.commit()
    return found
