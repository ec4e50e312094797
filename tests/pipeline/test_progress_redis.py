"""A running import's progress in Redis (RISKDESK_REDIS_URL): published by the node that runs
it, read by every other node; an import goes on when Redis does not answer."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from riskdesk import redis_store
from riskdesk.config import Settings
from riskdesk.db import unit_of_work
from riskdesk.kit.tabular import ColumnMapping
from riskdesk.main import create_app
from riskdesk.models import ImportJob
from riskdesk.pipeline import intake
from riskdesk.pipeline.progress import REDIS_TTL_SECONDS, RedisBoard
from riskdesk.redis_store import SharedRedis
from tests.conftest import principal
from tests.pipeline.test_import_files import customers_text


@pytest.fixture
def stores(redis_settings: Settings) -> Iterator[tuple[SharedRedis, SharedRedis]]:
    """Two nodes' connections to the shared Redis."""
    first, second = redis_store.connect(redis_settings), redis_store.connect(redis_settings)
    assert first is not None and second is not None
    yield first, second
    first.close()
    second.close()


def _running_job(factory: sessionmaker[Session]) -> int:
    """A job as another node records it while running it."""
    with unit_of_work(factory) as session:
        job = intake.create_job(
            session,
            principal(session, "manager"),
            kind="orders",
            filename="elsewhere.csv",
            content=b"x",
            skip_invalid=False,
        )
    with intake._PROGRESS_LOCK:
        intake._STARTING.discard(job.id)  # not this process's
    return job.id


def test_progress_published_by_one_node_is_read_by_another(
    redis_settings: Settings,
    settings: Settings,
    factory: sessionmaker[Session],
    db: Session,
    client_for,  # type: ignore[no-untyped-def]
    stores: tuple[SharedRedis, SharedRedis],
) -> None:
    job_id = _running_job(factory)
    runner = RedisBoard(stores[0])
    runner.publish(job_id, 1200, 5000)

    other = create_app(redis_settings, session_factory=factory)
    token = client_for("manager").headers["Authorization"]
    api = TestClient(other, raise_server_exceptions=False, headers={"Authorization": token})
    shown = api.get(f"/api/v1/imports/{job_id}")
    assert shown.status_code == 200, shown.text
    assert (shown.json()["processed_rows"], shown.json()["total_rows"]) == (1200, 5000)
    listed = {j["id"]: j for j in api.get("/api/v1/imports").json()}
    assert listed[job_id]["processed_rows"] == 1200

    # A node without Redis reads only the row, which the runner did not write.
    plain = create_app(settings, session_factory=factory)
    alone = TestClient(plain, raise_server_exceptions=False, headers={"Authorization": token})
    assert alone.get(f"/api/v1/imports/{job_id}").json()["processed_rows"] == 0

    runner.clear(job_id)  # the job finished: the row has the outcome
    assert api.get(f"/api/v1/imports/{job_id}").json()["processed_rows"] == 0


def test_a_real_import_publishes_while_it_runs_and_clears_when_done(
    factory: sessionmaker[Session], db: Session, stores: tuple[SharedRedis, SharedRedis]
) -> None:
    runner, reader = stores
    seen: list[tuple[int, int] | None] = []
    expiry: list[int] = []

    def during(_rows: int) -> None:
        # Inside the import's transaction, after a chunk: what another node reads now.
        job_ids = [int(k.rsplit(":", 1)[1]) for k in reader.client.scan_iter(f"{reader.prefix}*")]
        assert len(job_ids) == 1
        seen.append(RedisBoard(reader).read(job_ids[0]))
        expiry.append(reader.client.ttl(reader.key("import-progress", job_ids[0])))

    result = intake.import_file(
        factory,
        lambda s: principal(s, "manager"),
        kind="customers",
        content=customers_text().encode(),
        filename="c.csv",
        mapping=ColumnMapping.from_yaml("defaults: {source: erp}"),
        skip_invalid=False,
        progress=during,
        shared=runner,
    )
    assert result.job.status == "done", result.job.errors
    assert seen == [(3, 3)]
    assert 0 < expiry[0] <= REDIS_TTL_SECONDS
    assert RedisBoard(reader).read(result.job.id) is None  # cleared once done
    assert list(reader.client.scan_iter(f"{reader.prefix}*")) == []


def test_an_import_goes_on_when_redis_does_not_answer(
    settings: Settings, factory: sessionmaker[Session], db: Session, redis_prefix: str
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    nowhere = settings.model_copy(
        update={
            "redis_url": SecretStr(f"redis://127.0.0.1:{port}/0"),
            "redis_key_prefix": redis_prefix,
        }
    )
    down = redis_store.connect(nowhere)
    assert down is not None
    result = intake.import_file(
        factory,
        lambda s: principal(s, "manager"),
        kind="customers",
        content=customers_text().encode(),
        filename="c.csv",
        mapping=ColumnMapping.from_yaml("defaults: {source: erp}"),
        skip_invalid=False,
        shared=down,
    )
    assert result.job.status == "done", result.job.errors
    assert result.job.processed_rows == 3
    assert down.usable() is False  # left aside; the job row has the progress
    down.close()
    # Another node reading a running job's progress meanwhile gets its row, not an error.
    job = db.get(ImportJob, _running_job(factory))
    assert job is not None
    reader = redis_store.connect(nowhere)
    assert reader is not None and reader.usable()
    assert intake.progress_of(job, RedisBoard(reader)) == (0, 0)
    assert reader.usable() is False
    reader.close()
