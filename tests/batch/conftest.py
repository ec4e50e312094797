"""The Spark session of the batch tests: one for the whole test run (a JVM takes seconds to
start). Without pyspark or Java the Spark tests skip, saying why, except in CI, where they fail:
CI installs both (.ci/run), and a silently skipped equality test would prove nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from riskdesk.batch import spark as spark_engine
from tests.conftest import IN_CI


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    reason = spark_engine.unavailable_reason()
    if reason:
        if IN_CI:
            pytest.fail(f"CI=true: the Spark tests must run, but {reason}")
        pytest.skip(reason)
    session = spark_engine.session("local[2]", app_name="riskdesk-tests")
    yield session
    session.stop()
