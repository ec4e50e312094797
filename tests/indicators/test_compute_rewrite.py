"""The faster compute (issue 17) against a frozen copy of compute before it: the same values for
every indicator over random histories (late, partial and split payments, old and future events,
open complaints, ties on a day)."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from polars.testing import assert_frame_equal

from riskdesk.indicators.compute import SCHEMAS, EventFrames, compute, settlement_days
from tests.indicators import compute_before
from tests.indicators.test_compute import AS_OF, histories


def _before(history: EventFrames) -> compute_before.EventFrames:
    return compute_before.EventFrames(**{name: getattr(history, name) for name in SCHEMAS})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_compute_gives_what_it_gave_before_the_rewrite(history: EventFrames) -> None:
    for as_of in (AS_OF, AS_OF - dt.timedelta(days=200)):
        assert_frame_equal(
            compute(history, as_of),
            compute_before.compute(_before(history), as_of),
            check_exact=False,
            rel_tol=1e-12,
            abs_tol=1e-12,
        )
        assert_frame_equal(
            settlement_days(history, as_of).collect().sort("invoice_id"),
            compute_before.settlement_days(_before(history), as_of).collect().sort("invoice_id"),
        )
