"""Two real API processes on one PostgreSQL schema behind a round-robin TCP proxy, as behind a
load balancer without session affinity: a browser session started on one node works on the
other, the login throttle counts the failures of both (in the database, and in Redis when
RISKDESK_REDIS_URL is set), and a webhook is sent once although both nodes run their delivery
worker.

The proxy sends each new TCP connection to the next node, and the clients open a connection per
request, so every request's node is known (and checked). PostgreSQL only: SQLite is one file on
one host, there is no second node to put beside it.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import redis
from sqlalchemy import delete, func, select, text

from riskdesk.db import DbLimits, make_engine, make_sessionmaker
from riskdesk.models import Delivery, LoginFailure, WebhookEndpoint
from riskdesk.security import keys
from riskdesk.security import service as security_service
from tests.conftest import PASSWORD, PG_URL, REDIS_URL, Backend, _migrated

SRC = Path(__file__).resolve().parents[1] / "src"
SECRET_KEY = "two-nodes-secret-key-0123456789"
LOGIN_LIMIT = 4
DELIVERY_INTERVAL = 0.2
START_SECONDS = 90.0  # both nodes, started together, on a busy machine


# ---------------------------------------------------------------- the load balancer


class RoundRobinProxy:
    """A TCP proxy on 127.0.0.1 that sends each accepted connection to the next backend port in
    turn; ``served`` holds the backend index of every connection, in the order they came."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.served: list[int] = []
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._stopped = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)  # so that the accept loop sees stop()
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._start(self._accept)

    def _start(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # the listener was closed
            client.settimeout(None)
            with self._lock:
                index = len(self.served) % len(self.ports)
                self.served.append(index)
            try:
                upstream = socket.create_connection(("127.0.0.1", self.ports[index]), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open.update((client, upstream))
            self._start(self._relay, client, upstream)

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        back = threading.Thread(target=self._pipe, args=(upstream, client), daemon=True)
        back.start()
        self._pipe(client, upstream)
        back.join()
        with self._lock:
            self._open.difference_update((client, upstream))
        client.close()
        upstream.close()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass  # the other side closed, or stop() did
        with suppress(OSError):
            target.shutdown(socket.SHUT_WR)  # pass the end of the stream on

    def stop(self) -> None:
        """Stop accepting, cut the open connections, wait for the threads."""
        self._stopped.set()
        self._listener.close()
        with self._lock:
            sockets, threads = list(self._open), list(self._threads)
        for sock in sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout=5)


# ---------------------------------------------------------------- the nodes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _schema_url(backend: Backend) -> str:
    """The backend's database URL, with its schema selected in the URL (as an operator would)."""
    with backend.engine.connect() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    url = backend.engine.url.update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@dataclass
class Cluster:
    """Two running nodes and the proxy in front of them."""

    proxy: RoundRobinProxy
    nodes: list[subprocess.Popen[bytes]]
    logs: list[Path]

    def client(self, **options: Any) -> httpx.Client:
        """A client through the proxy that opens a new connection for every request."""
        headers = {"Connection": "close", **options.pop("headers", {})}
        return httpx.Client(
            base_url=self.proxy.url,
            limits=httpx.Limits(max_keepalive_connections=0),
            headers=headers,
            timeout=30,
            **options,
        )

    def call(self, send: Callable[[], httpx.Response]) -> tuple[httpx.Response, int]:
        """Send one request; the answer and the node that gave it (one new connection)."""
        before = len(self.proxy.served)
        response = send()
        opened = self.proxy.served[before:]
        assert len(opened) == 1, f"one connection per request expected, got {opened}"
        return response, opened[0]


@contextmanager
def _cluster(
    backend: Backend, tmp_path: Path, extra: dict[str, str] | None = None
) -> Iterator[Cluster]:
    """Two `riskdesk serve` processes on the backend's schema (with ``extra`` settings), and
    the proxy, until the end."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("RISKDESK_")}
    shared = {
        "PYTHONPATH": str(SRC),
        "RISKDESK_DATABASE_URL": _schema_url(backend),
        "RISKDESK_SECRET_KEY": SECRET_KEY,
        "RISKDESK_KEYRING": keys.current().to_json(),  # the keys the fixtures wrote with
        "RISKDESK_EVENT_WORKERS": "0",
        "RISKDESK_WARNING_BACKTEST_DAYS": "0",
        "RISKDESK_COMPLAINT_SURGE_SECONDS": "0",
        "RISKDESK_AUDIT_CHECKPOINT_INTERVAL_SECONDS": "0",
        "RISKDESK_IMPORT_REAP_INTERVAL_SECONDS": "0",
        "RISKDESK_LOGIN_FAILURES_PER_ADDRESS": str(LOGIN_LIMIT),
        "RISKDESK_DELIVERY_INTERVAL_SECONDS": str(DELIVERY_INTERVAL),
        "RISKDESK_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1",
        "RISKDESK_LOG_LEVEL": "warning",
        **(extra or {}),
    }
    ports = [_free_port(), _free_port()]
    nodes: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    proxy = None
    try:
        for number, port in enumerate(ports):
            home = tmp_path / f"node{number}"
            home.mkdir(mode=0o700)
            logs.append(home / "server.log")
            with logs[-1].open("wb") as log:
                nodes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "riskdesk.cli.main", "serve", "--port", str(port)],
                        env=environment | shared | {"RISKDESK_DATA_DIR": str(home)},
                        cwd=home,  # no .env of the developer's
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        deadline = time.monotonic() + START_SECONDS
        for number, (node, port) in enumerate(zip(nodes, ports, strict=True)):
            while True:
                try:
                    health = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=5)
                    if health.status_code == 200:
                        break
                except httpx.TransportError:
                    pass  # not listening yet
                assert node.poll() is None, f"node {number} ended: {logs[number].read_text()}"
                assert time.monotonic() < deadline, f"node {number} did not start in time"
                time.sleep(0.1)
        proxy = RoundRobinProxy(ports)
        yield Cluster(proxy, nodes, logs)
    finally:
        if proxy is not None:
            proxy.stop()
        for node in nodes:
            node.terminate()
        for node in nodes:
            try:
                node.wait(timeout=15)
            except subprocess.TimeoutExpired:
                node.kill()
                node.wait()


@pytest.fixture(scope="module")
def pg_backend(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[Backend]:
    """A migrated PostgreSQL schema with the test users, for this module's nodes."""
    if PG_URL is None:
        pytest.skip("two API nodes share a PostgreSQL database; SQLite has no second node")
    with _migrated("postgresql", tmp_path_factory.mktemp("db"), f"{worker_id}_nodes") as found:
        yield found


@pytest.fixture(scope="module")
def running(pg_backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    # Started once for the module: two node start-ups cost far more than the checks.
    with _cluster(pg_backend, tmp_path_factory.mktemp("nodes")) as started:
        yield started


@pytest.fixture
def cluster(running: Cluster, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """The running nodes; their log lines of a test that failed are shown after it."""
    sizes = [path.stat().st_size for path in running.logs]
    failed_before = request.session.testsfailed
    yield running
    if request.session.testsfailed > failed_before:
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        for number, (path, size) in enumerate(zip(running.logs, sizes, strict=True)):
            with path.open("rb") as log:
                log.seek(size)
                lines = log.read().decode(errors="replace")[-4000:]
            if reporter is not None:
                reporter.write_line(f"--- node {number} log during {request.node.name}\n{lines}")


def _login_token(client: httpx.Client, cluster: Cluster) -> str:
    page, _ = cluster.call(lambda: client.get("/login"))
    assert page.status_code == 200
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def _sign_in(client: httpx.Client, username: str, password: str, token: str) -> httpx.Response:
    return client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "csrf_token": token,
            "next": "/customers",
        },
        follow_redirects=False,
    )


# ---------------------------------------------------------------- the checks


def test_a_url_can_select_the_schema_beside_the_statement_timeout(pg_backend: Backend) -> None:
    """What the nodes rely on: options in the URL survive the engine's own (statement_timeout)."""
    engine = make_engine(_schema_url(pg_backend), limits=DbLimits(statement_seconds=7))
    try:
        with engine.connect() as conn:
            with pg_backend.engine.connect() as own:
                expected = own.execute(text("SELECT current_schema()")).scalar_one()
            assert conn.execute(text("SELECT current_schema()")).scalar_one() == expected
            assert conn.execute(text("SHOW statement_timeout")).scalar_one() == "7s"
    finally:
        engine.dispose()


def test_a_session_started_on_one_node_works_on_the_other(cluster: Cluster) -> None:
    with cluster.client() as browser:
        token = _login_token(browser, cluster)
        signed_in, _ = cluster.call(lambda: _sign_in(browser, "manager", PASSWORD, token))
        assert signed_in.status_code == 303, signed_in.text
        assert signed_in.headers["location"] == "/customers"
        cookie = browser.cookies.get("rd_session")
        assert cookie

        used_on = set()
        for _ in range(4):
            me, node = cluster.call(lambda: browser.get("/api/v1/me"))
            assert me.status_code == 200, (node, me.text)
            assert me.json()["username"] == "manager"
            used_on.add(node)
        assert used_on == {0, 1}  # the node that signed in, and the other one

        # A page with its CSRF token from one node, signing out on the other...
        page, page_node = cluster.call(lambda: browser.get("/customers"))
        assert page.status_code == 200
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf is not None
        out, out_node = cluster.call(
            lambda: browser.post(
                "/logout", data={"csrf_token": csrf.group(1)}, follow_redirects=False
            )
        )
        assert out.status_code == 303, out.text
        assert out_node != page_node

        # ...ends the session on both: the cookie is refused wherever it is shown again.
        refused_on = set()
        with cluster.client(cookies={"rd_session": cookie}) as stale:
            for _ in range(2):
                me, node = cluster.call(lambda: stale.get("/api/v1/me"))
                assert me.status_code == 401, (node, me.text)
                refused_on.add(node)
        assert refused_on == {0, 1}


def test_the_login_throttle_counts_the_failures_of_both_nodes(
    cluster: Cluster, pg_backend: Backend
) -> None:
    try:
        _throttled(cluster)
    finally:  # the proxy's address may sign in again in the other tests
        with pg_backend.engine.begin() as conn:
            conn.execute(delete(LoginFailure))


def test_the_login_throttle_counts_the_failures_of_both_nodes_in_redis(
    pg_backend: Backend, redis_prefix: str, tmp_path: Path
) -> None:
    redis_env = {"RISKDESK_REDIS_URL": REDIS_URL, "RISKDESK_REDIS_KEY_PREFIX": redis_prefix}
    with _cluster(pg_backend, tmp_path, redis_env) as nodes:
        ready, _ = nodes.call(lambda: httpx.get(f"{nodes.proxy.url}/api/v1/ready", timeout=30))
        assert ready.json()["checks"] == {"database": "ok", "redis": "ok"}
        _throttled(nodes)
    with pg_backend.engine.connect() as conn:  # counted in Redis, not in the database
        assert conn.execute(select(func.count()).select_from(LoginFailure)).scalar_one() == 0
    client = redis.Redis.from_url(REDIS_URL)
    try:
        assert len(list(client.scan_iter(match=f"{redis_prefix}login-failures:*"))) == 1
    finally:
        client.close()


def _throttled(cluster: Cluster) -> None:
    with cluster.client() as browser:
        token = _login_token(browser, cluster)  # the form's token serves every attempt below
        failed_on = []
        for attempt in range(LOGIN_LIMIT):
            failed, node = cluster.call(
                lambda: _sign_in(browser, "analyst", "wrong-password", token)
            )
            assert failed.status_code == 303, (attempt, node, failed.status_code, failed.text)
            assert "error=failed" in failed.headers["location"], (attempt, node)
            failed_on.append(node)
        assert sorted(set(failed_on)) == [0, 1]  # each node saw only some of the failures

        # The address has used up its failures: refused on either node, even with the right
        # password (a throttle per process would let it in on both, after half as many).
        refused_on = set()
        for _ in range(2):
            refused, node = cluster.call(lambda: _sign_in(browser, "analyst", PASSWORD, token))
            assert refused.status_code == 429, (node, refused.status_code, failed_on)
            assert int(refused.headers["Retry-After"]) > 0
            refused_on.add(node)
        assert refused_on == {0, 1}
        assert "rd_session" not in browser.cookies


class _Receiver:
    """A webhook receiver that keeps every call. It holds its answer to the first call until a
    second call arrives (or a few seconds pass): a node's worker sends one call at a time, so a
    second call arriving meanwhile was sent by the other node's worker."""

    HOLD_SECONDS = 5.0

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []  # (X-Riskdesk-Delivery, X-Riskdesk-Event)
        self.held_until_second = False
        self._lock = threading.Lock()
        self._second = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._lock:
                    receiver.calls.append(
                        (self.headers["X-Riskdesk-Delivery"], self.headers["X-Riskdesk-Event"])
                    )
                    first = len(receiver.calls) == 1
                    if not first:
                        receiver._second.set()
                if first:
                    receiver.held_until_second = receiver._second.wait(receiver.HOLD_SECONDS)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/riskdesk"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def received(self) -> list[str]:
        with self._lock:
            return [delivery for delivery, _ in self.calls]

    def stop(self) -> None:
        self._second.set()
        self.server.shutdown()
        self.server.server_close()


def _wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_webhook_is_sent_once_while_both_nodes_run_their_delivery_worker(
    cluster: Cluster, pg_backend: Backend
) -> None:
    factory = make_sessionmaker(pg_backend.engine)
    with factory.begin() as session:
        admin = security_service.get_user_by_username_or_raise(session, "admin")
        scopes = sorted(p.value for p in security_service.permissions_for(admin.role))
        _, api_token = security_service.issue_token(
            session, user=admin, name="two nodes", scopes=scopes
        )
    receiver = _Receiver()
    try:
        with cluster.client(headers={"Authorization": f"Bearer {api_token}"}) as api:
            created, _ = cluster.call(
                lambda: api.post(
                    "/api/v1/webhooks",
                    json={"name": "two nodes", "url": receiver.url, "events": ["alert.raised"]},
                )
            )
            assert created.status_code == 201, created.text
            endpoint_id = created.json()["id"]
            with factory() as session:  # the nodes write to the test's own schema
                assert session.get(WebhookEndpoint, endpoint_id) is not None

            def ping() -> str:
                queued, _ = cluster.call(lambda: api.post(f"/api/v1/webhooks/{endpoint_id}/ping"))
                assert queued.status_code == 202, queued.text
                return str(queued.json()["id"])

            # One ping; while its call is held, a second one, which only the other node's
            # worker is free to send; then a few more for the two workers to race for.
            pings = [ping()]
            _wait_for(lambda: len(receiver.calls) >= 1, 10, "the first ping's call")
            pings.append(ping())
            _wait_for(lambda: len(receiver.calls) >= 2, 10, "the second ping's call")
            assert receiver.held_until_second, "the second call came only after the first"
            pings += [ping() for _ in range(4)]

            def all_delivered() -> bool:
                with factory() as session:
                    statuses = session.scalars(
                        select(Delivery.status).where(Delivery.id.in_([int(p) for p in pings]))
                    ).all()
                return statuses == ["delivered"] * len(pings)

            _wait_for(all_delivered, 20, "every ping to be delivered")
            # Room for a second sending to show up: many passes of both workers.
            time.sleep(10 * DELIVERY_INTERVAL)
            assert sorted(receiver.received()) == sorted(pings), receiver.calls
            assert {event for _, event in receiver.calls} == {"ping"}
            with factory() as session:
                rows = session.scalars(
                    select(Delivery).where(Delivery.id.in_([int(p) for p in pings]))
                ).all()
            assert [(row.attempts, row.last_status_code) for row in rows] == [(1, 200)] * len(pings)
    finally:
        receiver.stop()
