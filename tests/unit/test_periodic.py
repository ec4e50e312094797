"""Background loops whose passes fail in a row: back-off and one notice per outage."""

from __future__ import annotations

import logging

import pytest

from riskdesk.kit.periodic import BACKOFF_MAX_SECONDS, Retrying


class Away(Exception):
    """Stands for the database being away."""


def _fail(retrying: Retrying, exc: Exception) -> None:
    try:
        raise exc
    except Exception as caught:
        retrying.failed(caught)


def test_waits_double_up_to_the_cap_and_reset_on_success() -> None:
    retrying = Retrying("worker", logging.getLogger("test"), lambda exc: isinstance(exc, Away))
    assert retrying.delay(0.2) == 0.2
    waits = []
    for _ in range(8):
        _fail(retrying, Away())
        waits.append(retrying.delay(0.2))
    assert waits == [0.4, 0.8, 1.6, 3.2, BACKOFF_MAX_SECONDS, 5.0, 5.0, 5.0]
    assert retrying.delay(300) == 300  # never shorter than the loop's own interval
    retrying.succeeded()
    assert retrying.delay(0.2) == 0.2
    for _ in range(100):  # a long outage: no overflow
        _fail(retrying, Away())
    assert retrying.delay(0.2) == BACKOFF_MAX_SECONDS


def test_an_outage_is_logged_once_each_way_and_other_failures_in_full(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="test")
    retrying = Retrying("worker", logging.getLogger("test"), lambda exc: isinstance(exc, Away))
    for _ in range(20):
        _fail(retrying, Away("connection to 10.0.0.5 refused"))
    retrying.succeeded()
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "worker: the database is unavailable (Away); trying again every 5 s at most",
        "worker: working again after 20 failed pass(es)",
    ]
    assert all(r.exc_info is None for r in caplog.records)
    assert "10.0.0.5" not in caplog.text  # the kind only, not the driver's message
    caplog.clear()
    _fail(retrying, ValueError("a bug"))
    _fail(retrying, ValueError("a bug"))
    assert [r.exc_info is not None for r in caplog.records] == [True, True]
