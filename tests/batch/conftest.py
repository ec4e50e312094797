"""The Spark session of the batch tests: one for the whole test run (a JVM takes seconds to
start). Without pyspark or Java the Spark tests skip, saying why, except in CI, where they fail:
CI installs both (.ci/run), and a silently skipped equality test would prove nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from riskdesk.batch import spark as spark_engine
from tests.conftest import IN_CI, Backend


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`--dist loadgroup` sends the tests of one ``xdist_group`` to one worker by a node id
    ending in ``@group``; pytest-xdist 3.8 sets that on ``item._nodeid``, which pytest 9 no
    longer reads (its node id is the structured ``item._id``), so each Spark test could start a
    JVM of its own. Set it where pytest 9 reads it."""
    if not getattr(config.option, "loadgroup", False):
        return
    from _pytest.nodeid import NodeId

    for item in items:
        groups = sorted(
            {str(m.args[0] if m.args else m.kwargs.get("name", "default"))
             for m in item.iter_markers("xdist_group")}
        )  # fmt: skip
        if groups and "@" not in item.nodeid:
            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(groups)}")


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


@pytest.fixture
def files_once(backend: Backend) -> None:
    """For a Spark test over a scenario's files: run on the SQLite backend only. Spark reads
    the files `batch config` and `batch frames` wrote, not the database; the database's side
    (those files and the polars engine equal to the product) is checked on every backend by
    the module's other tests, so a second Spark run would check nothing new."""
    if backend.name != "sqlite":
        pytest.skip("Spark reads files, not the database: its equality runs on the SQLite run")
