"""A database that does not answer, or answers too slowly, costs a request seconds, not minutes:
503 database_unavailable within 5 s, and service resumes by itself once it answers again."""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.engine.url import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker

from riskdesk.config import Settings
from riskdesk.db import unit_of_work
from riskdesk.main import create_app
from riskdesk.security import service as security_service
from tests.conftest import Backend
from tests.factories import company

ANSWER_WITHIN = 5.0  # seconds: what the API promises while the database does not answer


class StallingProxy:
    """A TCP proxy in front of the database. Stalled, it still accepts connections and reads
    what clients send, but forwards nothing either way: a database that hangs."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.stalled = threading.Event()
        self.closed = threading.Event()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            poisoned = threading.Event()  # bytes were swallowed: this pair never forwards again
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst, poisoned), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, poisoned: threading.Event) -> None:
        try:
            while data := src.recv(65536):
                if self.stalled.is_set() or poisoned.is_set():
                    poisoned.set()
                    continue
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def stall(self) -> None:
        """From now on, forward nothing."""
        self.stalled.set()

    def resume(self) -> None:
        """Forward again (connections that lost bytes stay silent: their clients gave up)."""
        self.stalled.clear()

    def close(self) -> None:
        """Drop everything: whatever still waits on the proxy gets an error at once."""
        self.closed.set()
        self.listener.close()
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
                s.close()


@pytest.fixture
def proxy(own_backend: Backend) -> Iterator[StallingProxy]:
    """A stallable proxy to the test's own PostgreSQL database."""
    if own_backend.name != "postgresql":
        pytest.skip("a network database (PostgreSQL) is what can stop answering")
    url = own_backend.engine.url
    found = StallingProxy(url.host or "127.0.0.1", url.port or 5432)
    yield found
    found.close()


def _url(backend: Backend, proxy: StallingProxy | None = None) -> str:
    """The URL of the test's own database (through the proxy when given)."""
    url = backend.engine.url
    if backend.name == "postgresql":
        with backend.engine.connect() as conn:
            schema = conn.execute(text("select current_schema()")).scalar_one()
        url = url.set(query={"options": f"-csearch_path={schema}"})
        if proxy is not None:
            url = url.set(host="127.0.0.1", port=proxy.port)
    return url.render_as_string(hide_password=False)


def _token(backend: Backend) -> str:
    factory = sessionmaker(bind=backend.engine, expire_on_commit=False)
    with factory.begin() as session:
        user = security_service.get_user_by_username_or_raise(session, "manager")
        scopes = sorted(p.value for p in security_service.permissions_for(user.role))
        _, raw = security_service.issue_token(session, user=user, name="t", scopes=scopes)
    return raw


def _app(tmp_path: Path, url: str, **limits: Any) -> Any:
    settings = Settings(
        database_url=url,
        secret_key="test-secret-key-0123456789",
        data_dir=tmp_path / "data",
        delivery_interval_seconds=0,
        **limits,
    )
    return create_app(settings)


def _timed(call: Callable[[], Any], unblock: Callable[[], None]) -> tuple[Any, float]:
    """Run a request with a deadline of our own: a hang fails the test instead of hanging it."""
    pool = ThreadPoolExecutor(max_workers=1)
    started = time.monotonic()
    future = pool.submit(call)
    try:
        result = future.result(timeout=20)
    except FutureTimeout:
        unblock()
        # Let it end before failing: the app must not shut down under a request in flight.
        with contextlib.suppress(Exception):
            future.result(timeout=60)
        pytest.fail("the request hung for 20 s")
    finally:
        pool.shutdown(wait=False)
    return result, time.monotonic() - started


def _unavailable(response: Any, elapsed: float) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "database_unavailable"
    assert response.headers["Retry-After"]
    assert elapsed < ANSWER_WITHIN, elapsed


def test_a_database_that_stops_answering_gets_503_within_5s_then_service_resumes(
    own_backend: Backend, proxy: StallingProxy, tmp_path: Path
) -> None:
    # Default time-outs: only the address differs.
    app = _app(tmp_path, _url(own_backend, proxy))
    headers = {"Authorization": f"Bearer {_token(own_backend)}"}
    with TestClient(app, raise_server_exceptions=False) as client:

        def customers() -> Any:
            return client.get("/api/v1/customers", headers=headers)

        assert customers().status_code == 200  # the pool holds a connection now
        proxy.stall()
        for _ in range(3):  # a pooled connection, then fresh ones: each gives up in time
            response, elapsed = _timed(customers, proxy.close)
            _unavailable(response, elapsed)
        write, elapsed = _timed(
            lambda: client.post("/api/v1/customers", json=company("TO1"), headers=headers),
            proxy.close,
        )
        _unavailable(write, elapsed)
        proxy.resume()
        response, elapsed = _timed(customers, proxy.close)  # no restart
        assert response.status_code == 200, response.text
        created = client.post("/api/v1/customers", json=company("TO2"), headers=headers)
        assert created.status_code == 201, created.text


def test_a_statement_the_server_never_answers_is_given_up(
    own_backend: Backend, proxy: StallingProxy
) -> None:
    """An established connection whose server goes silent mid-statement: the client gives up
    soon after the statement time-out, and the connection leaves the pool."""
    from riskdesk.db import STATEMENT_GRACE_SECONDS, DbLimits, make_engine

    engine = make_engine(_url(own_backend, proxy), limits=DbLimits(statement_seconds=1))
    try:
        with engine.connect() as conn:
            assert conn.execute(text("select 1")).scalar_one() == 1
            proxy.stall()
            started = time.monotonic()
            with pytest.raises(OperationalError, match="did not answer"):
                conn.execute(text("select 2"))
            assert time.monotonic() - started < 1 + STATEMENT_GRACE_SECONDS + 1
            assert conn.invalidated
    finally:
        proxy.close()
        engine.dispose()


def test_the_server_cancels_a_statement_past_the_statement_timeout(
    own_backend: Backend,
) -> None:
    if own_backend.name != "postgresql":
        pytest.skip("statement_timeout is PostgreSQL's")
    from riskdesk.db import DbLimits, make_engine

    engine = make_engine(_url(own_backend), limits=DbLimits(statement_seconds=0.5))
    try:
        with engine.connect() as conn:
            assert conn.execute(text("show statement_timeout")).scalar_one() == "500ms"
            started = time.monotonic()
            with pytest.raises(OperationalError, match="statement timeout"):
                conn.execute(text("select pg_sleep(5)"))
            assert time.monotonic() - started < 2
    finally:
        engine.dispose()


def test_an_exhausted_pool_gives_503_not_500(own_backend: Backend, tmp_path: Path) -> None:
    app = _app(
        tmp_path,
        _url(own_backend),
        db_pool_size=1,
        db_max_overflow=0,
        db_pool_timeout_seconds=1,
    )
    headers = {"Authorization": f"Bearer {_token(own_backend)}"}
    with TestClient(app, raise_server_exceptions=False) as client:
        engine: Engine = app.state.sessionmaker.kw["bind"]
        held = engine.connect()  # the only connection the pool may give out
        try:
            response, elapsed = _timed(
                lambda: client.get("/api/v1/customers", headers=headers), held.close
            )
            _unavailable(response, elapsed)
        finally:
            held.close()
        assert client.get("/api/v1/customers", headers=headers).status_code == 200


def test_sqlite_requests_wait_for_the_write_lock_only_so_long(
    own_backend: Backend, tmp_path: Path
) -> None:
    """Another process holds SQLite's write lock (an import, the CLI): a request gives up after
    RISKDESK_DB_REQUEST_WAIT_SECONDS, and writes again once the lock is free."""
    if own_backend.name != "sqlite":
        pytest.skip("SQLite's write lock")
    url = _url(own_backend)
    app = _app(tmp_path, url, db_request_wait_seconds=1)
    headers = {"Authorization": f"Bearer {_token(own_backend)}"}
    with TestClient(app, raise_server_exceptions=False) as client:
        other = sqlite3.connect(make_url(url).database or "", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            response, elapsed = _timed(
                lambda: client.post("/api/v1/customers", json=company("LK1"), headers=headers),
                lambda: other.execute("ROLLBACK"),
            )
            _unavailable(response, elapsed)
            # A read goes on: WAL readers do not wait for writers.
            assert client.get("/api/v1/customers", headers=headers).status_code == 200
        finally:
            if other.in_transaction:
                other.execute("ROLLBACK")
            other.close()
        again = client.post("/api/v1/customers", json=company("LK1"), headers=headers)
        assert again.status_code == 201, again.text


def test_sqlite_jobs_still_wait_for_the_write_lock_behind_a_long_import(
    own_backend: Backend, tmp_path: Path
) -> None:
    """In this process a job (an import) holds the write lock for long: a request gives up
    after its short wait, while another job waits its turn (longer) and succeeds."""
    if own_backend.name != "sqlite":
        pytest.skip("SQLite's write lock")
    app = _app(tmp_path, _url(own_backend), db_request_wait_seconds=1)
    headers = {"Authorization": f"Bearer {_token(own_backend)}"}
    with TestClient(app, raise_server_exceptions=False) as client:
        factory = app.state.sessionmaker
        holding, release, second_done = threading.Event(), threading.Event(), threading.Event()
        errors: list[BaseException] = []

        def job(hold: bool) -> None:
            try:
                with unit_of_work(factory) as session:
                    session.execute(text("select 1"))
                    if hold:
                        holding.set()
                        release.wait(30)
                    else:
                        second_done.set()
            except BaseException as exc:
                errors.append(exc)

        first = threading.Thread(target=job, args=(True,))
        first.start()
        try:
            assert holding.wait(10)
            response, elapsed = _timed(
                lambda: client.post("/api/v1/customers", json=company("LK2"), headers=headers),
                release.set,
            )
            _unavailable(response, elapsed)
            second = threading.Thread(target=job, args=(False,))
            second.start()
            time.sleep(2.5)  # more than twice the request's wait: the job still waits
            assert not second_done.is_set() and errors == []
        finally:
            release.set()
            first.join()
        second.join(30)
        assert second_done.is_set() and errors == []
        created = client.post("/api/v1/customers", json=company("LK2"), headers=headers)
        assert created.status_code == 201, created.text
