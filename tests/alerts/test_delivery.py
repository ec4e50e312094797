"""E-mail (to a real local SMTP server) and webhooks (to a real local HTTP receiver): queued with
the alert, signed, retried with backoff, given up after the last attempt, all in the log."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from riskdesk.alerts import delivery, notify
from riskdesk.alerts import repository as alerts_repo
from riskdesk.config import Settings
from riskdesk.db import make_engine, make_sessionmaker, unit_of_work
from riskdesk.kit.timeutil import utcnow
from riskdesk.migrations import runner
from riskdesk.security import service as security_service
from tests.conftest import PASSWORD, ingest, principal
from tests.monitoring.test_alerts import _setup, invoice


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Mailbox:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[_Mailbox, int]]:
    box, port = _Mailbox(), _free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


class _Receiver:
    """A webhook receiver: answers with the next planned status, keeps every request."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.plan: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append((dict(self.headers.items()), body))
                self.send_response(receiver.plan.pop(0) if receiver.plan else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/riskdesk"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    r = _Receiver()
    yield r
    r.server.shutdown()


# The test receivers listen on loopback, which webhooks may only call when allowed.
LOOPBACK = "127.0.0.0/8"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The app's settings (see tests/conftest.py), with loopback receivers allowed."""
    return Settings(
        database_url="sqlite://",
        secret_key="test-secret-key-0123456789",
        data_dir=tmp_path / "data",
        delivery_interval_seconds=0,
        webhook_allowed_networks=LOOPBACK,
    )


def _settings(tmp_path: Path, smtp_port: int = 1, **extra: Any) -> Settings:
    extra.setdefault("webhook_allowed_networks", LOOPBACK)
    return Settings(
        database_url="sqlite://",
        secret_key="test-secret-key-0123456789",
        data_dir=tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        smtp_sender="riskdesk@example.com",
        public_url="https://riskdesk.example.com",
        delivery_interval_seconds=0,
        delivery_backoff_seconds=30,
        delivery_max_attempts=3,
        delivery_timeout_seconds=5,
        **extra,
    )


def test_alerts_reach_email_and_signed_webhooks_with_retries(  # type: ignore[no-untyped-def]
    db, factory, client_for, smtp, receiver, tmp_path
) -> None:
    ids = _setup(db)
    admin, sales = client_for("admin"), client_for("sales")
    box, port = smtp
    # The admin registers a receiver for high alerts; its secret is shown this once.
    made = admin.post(
        "/api/v1/webhooks",
        json={"name": "crm", "url": receiver.url, "events": ["alert.raised", "alert.closed"],
              "min_severity": "high"},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    hook, secret = made.json(), made.json()["secret"]
    pager = {"name": "pager", "url": receiver.url, "events": ["alert.raised"],
             "min_severity": "critical"}  # fmt: skip
    assert admin.post("/api/v1/webhooks", json=pager).status_code == 201
    assert "secret" not in admin.get("/api/v1/webhooks").json()[0]
    # Sales cannot turn on e-mail without an address, then can once the admin sets one.
    wanted = {"in_app": True, "email": True, "min_severity": "high", "mentions": True}
    refused = sales.put("/api/v1/me/notification-settings", json=wanted)
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "email"
    security_service.set_email(db, username="sales", email="Sales@Example.com")
    db.commit()
    assert sales.put("/api/v1/me/notification-settings", json=wanted).status_code == 200

    ingest(db, principal(db, "manager"), "invoices", [invoice("N1", "A", "150000.00", 70)])
    db.commit()
    alerts = client_for("manager").get("/api/v1/alerts", params={"customer_id": ids["A"]}).json()
    high = {a["id"] for a in alerts if a["severity"] in ("high", "critical")}
    # None for the pager; the medium ones (if any) reach neither the hook nor the e-mail.
    assert high and all(a["severity"] != "critical" for a in alerts)
    log = admin.get("/api/v1/deliveries").json()
    hooks = [d for d in log if d["channel"] == "webhook"]
    mails = [d for d in log if d["channel"] == "email"]
    assert {d["alert_id"] for d in hooks} == high == {d["alert_id"] for d in mails}
    assert all(d["status"] == "pending" for d in log)

    # First pass: the receiver fails once; the e-mails go out.
    receiver.plan = [500] * len(hooks)
    t0 = utcnow()
    settings = _settings(tmp_path, port)
    first = delivery.send_due(factory, settings, now=t0)
    assert (first.delivered, first.failed, first.dead) == (len(mails), len(hooks), 0)
    assert len(box.messages) == len(mails)
    rcpt, content = box.messages[0]
    assert [r.lower() for r in rcpt] == ["sales@example.com"]
    text = content.decode()
    assert "Subject:" in text and "https://riskdesk.example.com/cases/" in text
    failed = admin.get("/api/v1/deliveries", params={"channel": "webhook"}).json()
    assert {(d["status"], d["attempts"], d["last_status_code"]) for d in failed} == {
        ("failed", 1, 500)
    }
    next_at = dt.datetime.fromisoformat(failed[0]["next_attempt_at"])
    assert abs((next_at - t0).total_seconds() - 30) < 1
    # Not due yet: nothing is sent; when due, it is, with the same id and the same body.
    assert delivery.send_due(factory, settings, now=t0 + dt.timedelta(seconds=10)).delivered == 0
    second = delivery.send_due(factory, settings, now=t0 + dt.timedelta(seconds=31))
    assert second.delivered == len(hooks)
    assert len(receiver.calls) == 2 * len(hooks)
    (h1, b1), (h2, b2) = receiver.calls[0], receiver.calls[len(hooks)]
    assert h1["X-Riskdesk-Delivery"] == h2["X-Riskdesk-Delivery"] and b1 == b2
    assert h1["X-Riskdesk-Event"] == "alert.raised"
    now = int(utcnow().timestamp())
    assert delivery.verify(secret, h2["X-Riskdesk-Signature"], b2, now=now)
    assert not delivery.verify(secret, h2["X-Riskdesk-Signature"], b2 + b" ", now=now)
    assert not delivery.verify("another", h2["X-Riskdesk-Signature"], b2, now=now)
    document = json.loads(b2)
    assert document["event"] == "alert.raised" and document["data"]["alert"]["id"] in high
    assert "name" not in json.dumps(document["data"])  # ids and facts, no personal data
    assert "测试贸易有限公司A".encode() not in b2  # the customer's name is not sent out

    # Closing an alert tells the receiver too.
    closed_id = sorted(high)[0]
    client_for("manager").post(
        f"/api/v1/alerts/{closed_id}/move", json={"status": "dismissed", "outcome": "false_alarm"}
    )
    closing = admin.get("/api/v1/deliveries", params={"alert_id": closed_id}).json()
    assert any(d["event"] == "alert.closed" and d["status"] == "pending" for d in closing)
    delivery.send_due(factory, settings, now=utcnow())
    assert json.loads(receiver.calls[-1][1])["data"]["alert"]["outcome"] == "false_alarm"
    assert {d["endpoint_id"] for d in admin.get("/api/v1/deliveries").json()} == {hook["id"], None}


def test_unreachable_receivers_are_given_up_after_the_last_attempt(  # type: ignore[no-untyped-def]
    db, factory, client_for, tmp_path
) -> None:
    admin = client_for("admin")
    dead_url = f"http://127.0.0.1:{_free_port()}/nobody"
    made = admin.post(
        "/api/v1/webhooks", json={"name": "gone", "url": dead_url, "events": ["alert.raised"]}
    ).json()
    ping = admin.post(f"/api/v1/webhooks/{made['id']}/ping")
    assert ping.status_code == 202 and ping.json()["event"] == "ping"
    settings = _settings(tmp_path)
    t = utcnow()
    for attempt in range(1, 4):
        result = delivery.send_due(factory, settings, now=t)
        row = admin.get("/api/v1/deliveries", params={"endpoint_id": made["id"]}).json()[0]
        assert row["attempts"] == attempt and "Connection refused" in row["last_error"]
        t = dt.datetime.fromisoformat(row["next_attempt_at"]) + dt.timedelta(seconds=1)
    assert (result.dead, row["status"]) == (1, "dead")
    # Retried by hand: pending again, one more attempt.
    again = admin.post(f"/api/v1/deliveries/{row['id']}/retry")
    assert again.status_code == 200 and again.json()["status"] == "pending"
    # A disabled endpoint is not called; its deliveries are given up, saying why.
    assert admin.patch(f"/api/v1/webhooks/{made['id']}", json={"active": False}).status_code == 200
    assert delivery.send_due(factory, settings, now=utcnow()).dead == 1
    row = admin.get("/api/v1/deliveries", params={"endpoint_id": made["id"]}).json()[0]
    assert row["status"] == "dead" and "disabled" in row["last_error"]
    assert admin.post(f"/api/v1/deliveries/{row['id'] + 999}/retry").status_code == 404


def test_webhook_input_and_permissions(client_for) -> None:  # type: ignore[no-untyped-def]
    admin = client_for("admin")
    for url in ("ftp://example.com/x", "not a url", "http:///nohost", "http://example.com:abc/",
                "http://example.com/a b", "http://example.com/\r\nX-Evil: 1"):  # fmt: skip
        bad = admin.post(
            "/api/v1/webhooks", json={"name": "x", "url": url, "events": ["alert.raised"]}
        )
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "url", url
    unknown = admin.post(
        "/api/v1/webhooks", json={"name": "x", "url": "https://a.example", "events": ["order.made"]}
    )
    assert unknown.status_code == 422 and unknown.json()["error"]["field"].startswith("events")
    first = {"name": "dup", "url": "https://a.example/h", "events": ["alert.raised"]}
    assert admin.post("/api/v1/webhooks", json=first).status_code == 201
    assert admin.post("/api/v1/webhooks", json=first).status_code == 409
    hook_id = admin.get("/api/v1/webhooks").json()[0]["id"]
    rotated = admin.post(f"/api/v1/webhooks/{hook_id}/secret").json()
    assert len(rotated["secret"]) >= 40
    for role in ("manager", "analyst", "sales", "auditor"):
        client = client_for(role)
        assert client.get("/api/v1/webhooks").status_code == 403, role
        assert client.get("/api/v1/deliveries").status_code == 403, role


def test_backoff_doubles_up_to_six_hours_and_old_signatures_are_refused() -> None:
    waits = [delivery.backoff(n, 30).total_seconds() for n in range(1, 12)]
    assert waits[:4] == [30, 60, 120, 240] and max(waits) == 6 * 3600
    body = b'{"a":1}'
    header = delivery.signature("s3cret", 1_700_000_000, body)
    assert delivery.verify("s3cret", header, body, now=1_700_000_100)
    assert not delivery.verify("s3cret", header, body, now=1_700_000_000 + 301)
    assert not delivery.verify("s3cret", "garbage", body, now=1_700_000_000)
    mail = delivery.email_text(
        {"alert": {"case_id": None, "customer_id": 7, "severity": "high", "category": "payment",
                   "rule_code": "r", "due_at": None}, "title_en": "T", "title_zh": "标题"},
        "http://x/", "en",
    )  # fmt: skip
    assert mail.startswith("T\n") and "http://x/customers/7" in mail and "标题" not in mail
    assert "Severity: High\nCategory: Payments\nRule code: r\n" in mail
    product = delivery.email_text(
        {"alert": {"case_id": None, "customer_id": None, "product": "Drill X200",
                   "severity": "high", "category": "complaints", "rule_code": "r",
                   "due_at": None}, "title_en": "T", "title_zh": "标题"},
        "http://x", "zh-CN",
    )  # fmt: skip
    assert "http://x/complaints?product=Drill%20X200" in product and "产品：Drill X200" in product
    # The Chinese mail says severity and category in Chinese; the title is the title alone.
    assert product.startswith("标题\n\n严重程度：高\n类别：投诉\n规则代码：r\n"), product


def test_the_in_process_worker_sends_what_is_queued(receiver, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # A database of its own: the worker is a second thread, and a test's shared connection
    # must not be used from two threads at once.
    engine = make_engine(f"sqlite:///{tmp_path / 'worker.db'}")
    runner.upgrade(engine)
    factory = make_sessionmaker(engine)
    with unit_of_work(factory) as session:
        admin = security_service.create_user(
            session, username="root", display_name="root", role="admin", password=PASSWORD
        )
        endpoint, _ = notify.create_webhook(
            session, name="w", url=receiver.url, events=["alert.raised"], min_severity="low",
            created_by_id=admin.id, allowed_networks=_settings(tmp_path).webhook_networks(),
        )  # fmt: skip
        notify.ping(session, endpoint.id)
    settings = _settings(tmp_path).model_copy(update={"delivery_interval_seconds": 0.05})
    worker = delivery.Worker(factory, settings)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while not receiver.calls and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop()
        engine.dispose()
    assert len(receiver.calls) == 1 and receiver.calls[0][0]["X-Riskdesk-Event"] == "ping"
    with factory() as session:
        logged = alerts_repo.deliveries(
            session, channel=None, status=None, endpoint_id=None, alert_id=None, limit=5
        )
        assert [d.status for d in logged] == ["delivered"]


def test_a_message_that_cannot_be_sent_does_not_jam_the_outbox(  # type: ignore[no-untyped-def]
    db, factory, client_for, receiver, tmp_path
) -> None:
    from riskdesk.models import Delivery, WebhookEndpoint

    admin = client_for("admin")
    good = admin.post(
        "/api/v1/webhooks", json={"name": "ok", "url": receiver.url, "events": ["alert.raised"]}
    ).json()
    # Stored before URLs were checked this strictly: the sender's URL library refuses it.
    bad = WebhookEndpoint(name="bad", url="http://example.com:abc/", secret="s",
                          events=["alert.raised"], min_severity="low", active=True)  # fmt: skip
    db.add(bad)
    db.commit()
    for endpoint_id in (good["id"], bad.id, good["id"]):
        notify.ping(db, endpoint_id)
    # A delivery whose worker died mid-pass comes back when its lease is over, and is sent by
    # the pass that reclaims it.
    orphan = Delivery(channel="webhook", event="ping", endpoint_id=good["id"], payload={},
                      status="sending", attempts=0, claim="deadbeef",
                      next_attempt_at=utcnow() - dt.timedelta(seconds=1))  # fmt: skip
    db.add(orphan)
    db.commit()
    result = delivery.send_due(factory, _settings(tmp_path), now=utcnow())
    assert (result.delivered, result.dead) == (3, 1)
    rows = {d["id"]: d for d in admin.get("/api/v1/deliveries").json()}
    assert [d["status"] for d in rows.values()].count("sending") == 0
    dead = next(d for d in rows.values() if d["status"] == "dead")
    assert dead["endpoint_id"] == bad.id and "InvalidURL" in dead["last_error"]
    assert len(receiver.calls) == 3
    # Nothing is sent twice on the next pass.
    assert delivery.send_due(factory, _settings(tmp_path), now=utcnow()).delivered == 0
    assert len(receiver.calls) == 3


def test_an_smtp_password_is_never_sent_unencrypted(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = _settings(tmp_path, smtp_username="u", smtp_password="p")  # type: ignore[arg-type]
    alert = {"customer_id": 1, "severity": "high", "category": "payment", "rule_code": "r",
             "due_at": None}  # fmt: skip
    job = delivery._Job(
        id=1,
        channel="email",
        event="alert.raised",
        subject="s",
        created_at=utcnow(),
        address="a@example.com",
        locale="en",
        payload={"alert": alert, "title_en": "t", "title_zh": "t"},
    )
    outcome = delivery._send(job, settings)
    assert not outcome.ok and "unencrypted" in (outcome.error or "")
