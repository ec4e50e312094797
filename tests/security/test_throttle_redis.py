"""The login throttle in Redis (RISKDESK_REDIS_URL): shared by every API node, atomic under
concurrent failures, and standing in the database's place only while Redis does not answer."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from riskdesk import redis_store
from riskdesk.config import Settings
from riskdesk.main import create_app
from riskdesk.models import LoginFailure
from riskdesk.redis_store import SharedRedis
from riskdesk.security.throttle import DatabaseThrottle, RedisThrottle
from tests.conftest import PASSWORD, REDIS_URL

LIMIT = 3


def _attempt(client: TestClient, password: str) -> int:
    client.get("/login")
    token = client.cookies.get("rd_login_csrf") or ""
    answer = client.post(
        "/login",
        data={"username": "analyst", "password": password, "csrf_token": token},
        follow_redirects=False,
    )
    return answer.status_code


def _node(settings: Settings, factory: sessionmaker[Session]) -> FastAPI:
    limited = settings.model_copy(update={"login_failures_per_address": LIMIT})
    return create_app(limited, session_factory=factory)


def _failures_in_db(db: Session) -> int:
    return int(db.scalar(select(func.count()).select_from(LoginFailure)) or 0)


def test_the_throttle_holds_across_two_nodes_sharing_redis(
    redis_settings: Settings, factory: sessionmaker[Session], db: Session, redis_prefix: str
) -> None:
    first = TestClient(_node(redis_settings, factory), raise_server_exceptions=False)
    second = TestClient(_node(redis_settings, factory), raise_server_exceptions=False)
    before = _failures_in_db(db)
    # The failures alternate between the nodes: neither sees enough of them alone.
    for client in (first, second, first):
        assert _attempt(client, "wrong-password-1A") == 303
    for client in (first, second):  # even the right password waits, on either node
        assert _attempt(client, PASSWORD) == 429
    # Counted in Redis, not in the database; the address only as a keyed hash, expiring with
    # the window.
    assert _failures_in_db(db) == before
    raw = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        keys = list(raw.scan_iter(match=f"{redis_prefix}login-failures:*"))
        assert len(keys) == 1 and "testclient" not in keys[0]
        assert len(keys[0].rsplit(":", 1)[1]) == 64
        assert raw.zcard(keys[0]) == LIMIT
        assert 0 < raw.pttl(keys[0]) <= redis_settings.login_throttle_seconds * 1000
    finally:
        raw.close()
    # A node without Redis (the database's count) knows nothing of them: the state is Redis's.
    plain = create_app(
        redis_settings.model_copy(
            update={"redis_url": SecretStr(""), "login_failures_per_address": LIMIT}
        ),
        session_factory=factory,
    )
    assert _attempt(TestClient(plain, raise_server_exceptions=False), PASSWORD) == 303


@pytest.fixture
def store(redis_settings: Settings) -> Iterator[SharedRedis]:
    shared = redis_store.connect(redis_settings)
    assert shared is not None
    yield shared
    shared.close()


def test_concurrent_failures_on_two_nodes_each_count(
    store: SharedRedis, redis_settings: Settings, db: Session
) -> None:
    # Two nodes (clients of their own) record failures of one address at the same time.
    other = redis_store.connect(redis_settings)
    assert other is not None
    nodes = [RedisThrottle(100, 300, "secret", s) for s in (store, other)]
    start = threading.Barrier(4)

    def fail(throttle: RedisThrottle) -> None:
        start.wait()
        for _ in range(25):
            throttle.failed(db, "203.0.113.7")

    threads = [threading.Thread(target=fail, args=(nodes[n % 2],)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    other.close()
    key = nodes[0]._key("203.0.113.7")
    assert store.client.zcard(key) == 100  # none lost, none merged
    left = nodes[0].retry_after(db, "203.0.113.7")
    assert left is not None and 299 <= left <= 301
    assert nodes[1].retry_after(db, "198.51.100.1") is None  # another address is free


def test_failures_older_than_the_window_no_longer_count(store: SharedRedis, db: Session) -> None:
    throttle = RedisThrottle(2, 60, "secret", store)
    key = throttle._key("203.0.113.8")
    seconds, micros = store.client.time()
    now = seconds + micros / 1e6
    # Two failures: one just outside the window, one 50 s ago.
    store.client.zadd(key, {"old": now - 61, "recent": now - 50})
    assert throttle.retry_after(db, "203.0.113.8") is None
    throttle.failed(db, "203.0.113.8")  # forgets the one outside the window
    assert store.client.zrange(key, 0, -1)[:1] == ["recent"]
    assert store.client.zcard(key) == 2
    # Full now; free again when the failure of 50 s ago leaves the window, in about 10 s.
    left = throttle.retry_after(db, "203.0.113.8")
    assert left is not None and 9 <= left <= 12


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_with_redis_down_sign_in_falls_back_to_the_database(
    settings: Settings, factory: sessionmaker[Session], db: Session, redis_prefix: str
) -> None:
    down = settings.model_copy(
        update={
            "redis_url": SecretStr(f"redis://127.0.0.1:{_closed_port()}/0"),
            "redis_key_prefix": redis_prefix,
            "login_failures_per_address": LIMIT,
        }
    )
    app = create_app(down, session_factory=factory)
    assert isinstance(app.state.login_throttle, RedisThrottle)
    client = TestClient(app, raise_server_exceptions=False)
    before = _failures_in_db(db)
    assert _attempt(client, PASSWORD) == 303  # signing in works: no 500, no 503
    for _ in range(LIMIT):
        assert _attempt(client, "wrong-password-1A") == 303
    assert _failures_in_db(db) == before + LIMIT  # counted in the database meanwhile
    assert _attempt(client, PASSWORD) == 429  # and still throttled, on every node
    # Readiness names Redis, without saying why; the node still takes work.
    ready = client.get("/api/v1/ready")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "degraded",
        "checks": {"database": "ok", "redis": "unavailable"},
    }


def test_a_redis_that_hangs_is_left_aside_and_sign_in_goes_on(
    settings: Settings, factory: sessionmaker[Session], db: Session
) -> None:
    # A listener that accepts and never answers: a Redis that hangs.
    silent = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        silent.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(silent.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        hung = settings.model_copy(
            update={
                "redis_url": SecretStr(f"redis://127.0.0.1:{silent.getsockname()[1]}/0"),
                "redis_timeout_seconds": 0.5,
                "login_failures_per_address": LIMIT,
            }
        )
        app = create_app(hung, session_factory=factory)
        client = TestClient(app, raise_server_exceptions=False)
        before = _failures_in_db(db)
        assert _attempt(client, "wrong-password-1A") == 303
        # The first command timed out; Redis is left aside for a while, the database counts.
        assert app.state.shared_redis.usable() is False
        assert _failures_in_db(db) == before + 1
        assert _attempt(client, PASSWORD) == 303
        assert isinstance(app.state.login_throttle.fallback, DatabaseThrottle)
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        silent.close()


def test_the_default_prefix_names_the_database_and_schema_not_the_host() -> None:
    url = "postgresql+psycopg://u:{pw}@{host}/risk?options=-csearch_path%3D{schema}"
    a = redis_store.default_prefix(url.format(pw="pw", host="db1:5432", schema="prod"))
    b = redis_store.default_prefix(url.format(pw="other", host="10.0.0.5", schema="prod"))
    c = redis_store.default_prefix(url.format(pw="pw", host="db1:5432", schema="test"))
    assert a == b != c
    assert a.startswith("riskdesk:") and "pw" not in a and "prod" not in a
