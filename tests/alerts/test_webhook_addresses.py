"""Webhooks call public addresses only (unless the operator allows a network): checked when a URL
is saved, and again before every call against the address actually connected to, so a name that
resolves elsewhere later (DNS rebinding) or a redirect cannot reach loopback, the private network
or the cloud metadata service. Every receiver here listens on loopback."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from riskdesk.alerts import delivery, notify
from riskdesk.alerts.addresses import refusal
from riskdesk.config import Settings
from riskdesk.kit.timeutil import utcnow
from riskdesk.main import create_app
from riskdesk.models import WebhookEndpoint
from riskdesk.security import service as security_service

REAL_GETADDRINFO = socket.getaddrinfo


class _Receiver:
    """An HTTP receiver on one loopback address: answers ``status`` (with ``headers``)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.calls: list[str] = []
        self.status, self.headers = 200, {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append(self.headers["Host"])
                self.send_response(receiver.status)
                for name, value in receiver.headers.items():
                    self.send_header(name, value)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    found = _Receiver()
    yield found
    found.server.shutdown()


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Names under .test resolve as the test says, as an attacker's DNS server would: each
    lookup takes the next answer (the last one stays), an answer lists addresses by commas."""
    answers: dict[str, list[str]] = {}

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host in answers:
            found = answers[host].pop(0) if len(answers[host]) > 1 else answers[host][0]
            return [
                (socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (ip, int(port or 0)))
                for ip in found.split(",")
            ]  # fmt: skip
        return REAL_GETADDRINFO(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def _settings(tmp_path: Path, allowed: str = "") -> Settings:
    return Settings(
        database_url="sqlite://",
        secret_key="test-secret-key-0123456789",
        data_dir=tmp_path / "data",
        delivery_interval_seconds=0,
        delivery_timeout_seconds=5,
        webhook_allowed_networks=allowed,
    )


def _admin(app, db) -> TestClient:  # type: ignore[no-untyped-def]
    user = security_service.get_user_by_username_or_raise(db, "admin")
    _, raw = security_service.issue_token(db, user=user, name="t", scopes=["integrations:manage"])
    db.commit()
    client = TestClient(app, raise_server_exceptions=False)
    client.headers["Authorization"] = f"Bearer {raw}"
    return client


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "127.1.2.3", "::1", "10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1",
     "169.254.169.254", "fe80::1", "fc00::1", "fd12:3456::1", "0.0.0.0", "::", "100.64.0.1",
     "224.0.0.1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe",
     "2002:7f00:1::1"],
)  # fmt: skip
def test_loopback_private_link_local_and_their_disguises_are_refused(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), ()) is not None


def test_public_addresses_and_allowed_networks_pass() -> None:
    for public in ("8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8"):
        assert refusal(ipaddress.ip_address(public), ()) is None, public
    allowed = Settings(webhook_allowed_networks="10.1.2.0/24, 127.0.0.1").webhook_networks()
    assert refusal(ipaddress.ip_address("10.1.2.3"), allowed) is None
    assert refusal(ipaddress.ip_address("::ffff:10.1.2.3"), allowed) is None
    assert refusal(ipaddress.ip_address("127.0.0.1"), allowed) is None
    assert refusal(ipaddress.ip_address("10.1.3.1"), allowed) is not None
    assert refusal(ipaddress.ip_address("127.0.0.2"), allowed) is not None
    with pytest.raises(ValueError, match="not a network"):
        Settings(webhook_allowed_networks="10.1.2.0/24,intranet")


def test_registering_a_private_url_is_refused_naming_the_field(  # type: ignore[no-untyped-def]
    db, factory, tmp_path, dns
) -> None:
    dns["metadata.test"] = ["169.254.169.254"]
    dns["split.test"] = ["93.184.216.34,10.0.0.8"]  # one public address is not enough
    dns["public.test"] = ["93.184.216.34"]
    admin = _admin(create_app(_settings(tmp_path), session_factory=factory), db)
    refused = ("http://127.0.0.1:8080/h", "http://[::1]/h", "http://10.0.0.5/h",
               "http://172.16.3.4/h", "https://192.168.0.1/h", "http://[fd00::1]/h",
               "http://169.254.169.254/latest/meta-data/", "http://0.0.0.0:8080/h",
               "http://localhost:8000/h", "http://2130706433/h", "http://0x7f.1/h",
               "http://[::ffff:127.0.0.1]/h", "http://metadata.test/h")  # fmt: skip
    for url in refused:
        answer = admin.post(
            "/api/v1/webhooks", json={"name": "x", "url": url, "events": ["alert.raised"]}
        )
        assert answer.status_code == 422, (url, answer.text)
        error = answer.json()["error"]
        assert (error["field"], error["code"]) == ("url", "url_not_allowed"), url
        assert "RISKDESK_WEBHOOK_ALLOWED_NETWORKS" in error["message"], url
    split = admin.post(
        "/api/v1/webhooks",
        json={"name": "x", "url": "http://split.test/h", "events": ["alert.raised"]},
    )
    assert split.status_code == 422 and "10.0.0.8" in split.json()["error"]["message"]
    assert admin.get("/api/v1/webhooks").json() == []
    made = admin.post(
        "/api/v1/webhooks",
        json={"name": "crm", "url": "https://public.test/h", "events": ["alert.raised"]},
    )
    assert made.status_code == 201, made.text
    moved = admin.patch(f"/api/v1/webhooks/{made.json()['id']}", json={"url": "http://10.9.8.7/h"})
    assert moved.status_code == 422 and moved.json()["error"]["field"] == "url"
    assert admin.get("/api/v1/webhooks").json()[0]["url"] == "https://public.test/h"


def test_an_allowed_network_may_be_registered(db, factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = create_app(_settings(tmp_path, allowed="10.1.2.0/24,127.0.0.1"), session_factory=factory)
    admin = _admin(app, db)
    for name, url in (("intranet", "http://10.1.2.30/hook"), ("local", "http://127.0.0.1:9/h")):
        made = admin.post(
            "/api/v1/webhooks", json={"name": name, "url": url, "events": ["alert.raised"]}
        )
        assert made.status_code == 201, made.text
    other = admin.post(
        "/api/v1/webhooks",
        json={"name": "other", "url": "http://10.1.3.30/hook", "events": ["alert.raised"]},
    )
    assert other.status_code == 422 and other.json()["error"]["code"] == "url_not_allowed"


def _endpoint(db, url: str) -> WebhookEndpoint:  # type: ignore[no-untyped-def]
    # Written straight to the table: saved by an older version, or before its name moved.
    endpoint = WebhookEndpoint(
        name=f"hook-{url[-12:]}", url=url, secret="s" * 32, events=["alert.raised"],
        min_severity="low", active=True,
    )  # fmt: skip
    db.add(endpoint)
    db.flush()
    notify.ping(db, endpoint.id)
    db.commit()
    return endpoint


def _last_error(db, endpoint_id: int) -> tuple[str, str | None]:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from riskdesk.models import Delivery

    row = db.scalars(select(Delivery).where(Delivery.endpoint_id == endpoint_id)).one()
    db.refresh(row)
    return row.status, row.last_error


def test_each_call_checks_the_address_again(db, factory, receiver, tmp_path) -> None:  # type: ignore[no-untyped-def]
    endpoint = _endpoint(db, f"http://127.0.0.1:{receiver.port}/hook")
    result = delivery.send_due(factory, _settings(tmp_path), now=utcnow())
    assert result.dead == 1 and receiver.calls == []
    status, error = _last_error(db, endpoint.id)
    assert status == "dead" and error is not None and "loopback" in error
    # Allowed by the operator: the same call goes out.
    notify.ping(db, endpoint.id)
    db.commit()
    allowed = _settings(tmp_path, allowed="127.0.0.0/8")
    assert delivery.send_due(factory, allowed, now=utcnow()).delivered == 1
    assert receiver.calls == [f"127.0.0.1:{receiver.port}"]


def test_a_name_that_moves_to_a_private_address_is_not_called(  # type: ignore[no-untyped-def]
    db, factory, receiver, tmp_path, dns
) -> None:
    # Public when saved, loopback when called: DNS rebinding.
    dns["rebind.test"] = ["93.184.216.34"]
    admin = _admin(create_app(_settings(tmp_path), session_factory=factory), db)
    url = f"http://rebind.test:{receiver.port}/h"
    made = admin.post(
        "/api/v1/webhooks", json={"name": "r", "url": url, "events": ["alert.raised"]}
    )
    assert made.status_code == 201, made.text
    dns["rebind.test"] = ["127.0.0.1"]
    admin.post(f"/api/v1/webhooks/{made.json()['id']}/ping")
    assert delivery.send_due(factory, _settings(tmp_path), now=utcnow()).dead == 1
    assert receiver.calls == []
    status, error = _last_error(db, made.json()["id"])
    assert status == "dead" and error is not None and "rebind.test (127.0.0.1)" in error


def test_the_call_goes_to_the_address_that_was_checked(  # type: ignore[no-untyped-def]
    db, factory, receiver, tmp_path, dns
) -> None:
    # The first answer is allowed, a second lookup would answer another address: the call must
    # connect to the checked one, never look the name up again.
    other = _Receiver("127.0.0.2", receiver.port)
    try:
        dns["flip.test"] = ["127.0.0.1", "127.0.0.2"]
        endpoint = _endpoint(db, f"http://flip.test:{receiver.port}/h")
        allowed = _settings(tmp_path, allowed="127.0.0.1/32")
        assert delivery.send_due(factory, allowed, now=utcnow()).delivered == 1
        assert receiver.calls == [f"flip.test:{receiver.port}"] and other.calls == []
        assert _last_error(db, endpoint.id)[0] == "delivered"
    finally:
        other.server.shutdown()


def test_a_redirect_is_not_followed(db, factory, receiver, tmp_path) -> None:  # type: ignore[no-untyped-def]
    receiver.status = 302
    receiver.headers = {"Location": "http://169.254.169.254/latest/meta-data/iam/"}
    endpoint = _endpoint(db, f"http://127.0.0.1:{receiver.port}/hook")
    allowed = _settings(tmp_path, allowed="127.0.0.1/32")
    assert delivery.send_due(factory, allowed, now=utcnow()).failed == 1
    status, error = _last_error(db, endpoint.id)
    assert status == "failed" and error is not None and "redirects are not followed" in error
    assert len(receiver.calls) == 1
