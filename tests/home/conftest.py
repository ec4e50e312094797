"""The home pages' book as a fixture."""

from __future__ import annotations

import pytest

from tests.home.seed import HomeBook, seed_home


@pytest.fixture
def home_book(db) -> HomeBook:  # type: ignore[no-untyped-def]
    """The book of tests/home/seed.py, committed in the test's transaction."""
    found = seed_home(db)
    db.commit()
    return found
