"""Sending the outbox: e-mails over SMTP and webhook calls signed with HMAC-SHA256.

A worker claims due deliveries in one short transaction (marking them ``sending`` with a lease,
so a second worker skips them and a crashed worker's claims come back), sends them outside any
transaction (an SMTP server or a slow receiver must not hold a database lock), and records each
result in a second transaction. A failure is retried with exponential backoff until the last
attempt, when the delivery is ``dead``; every attempt's status code and error stay in the log.
Delivery is at least once: receivers recognise a repeat by the ``X-Riskdesk-Delivery`` header.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import json
import logging
import secrets
import smtplib
import socket
import ssl
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any
from urllib.parse import quote, urlsplit

from sqlalchemy.orm import Session, sessionmaker

from riskdesk import __version__
from riskdesk.alerts import addresses
from riskdesk.alerts import repository as repo
from riskdesk.config import Settings
from riskdesk.db import unavailable, unit_of_work
from riskdesk.kit.messages import translate
from riskdesk.kit.periodic import Retrying
from riskdesk.kit.timeutil import utcnow

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Riskdesk-Signature"
MAX_BACKOFF = dt.timedelta(hours=6)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: ``t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">``.
    The time inside the signed text stops an old call being replayed later."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, *, now: int, tolerance: int = 300) -> bool:
    """What a receiver does: the signature matches and is recent."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), header)


def backoff(attempts: int, base_seconds: float) -> dt.timedelta:
    """The wait after the n-th failed attempt: base, 2×base, 4×base, ... at most six hours."""
    return min(dt.timedelta(seconds=base_seconds * 2 ** (attempts - 1)), MAX_BACKOFF)


@dataclass(frozen=True)
class _Job:
    """What the sender needs, read while the delivery was claimed."""

    id: int
    channel: str
    event: str
    payload: dict[str, Any]
    subject: str | None
    created_at: dt.datetime
    url: str | None = None
    secret: str | None = None
    address: str | None = None
    locale: str | None = None
    problem: str | None = None  # known before sending: the endpoint is gone, no address


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    status_code: int | None = None
    error: str | None = None
    final: bool = False  # no point in retrying


@dataclass
class RunResult:
    """What one pass of the worker did."""

    delivered: int = 0
    failed: int = 0
    dead: int = 0


def send_due(
    factory: sessionmaker[Session],
    settings: Settings,
    *,
    now: dt.datetime | None = None,
    limit: int = 50,
) -> RunResult:
    """Send what is due; the counts of this pass."""
    now = now or utcnow()
    with factory() as session:  # a read first: an idle pass takes no write lock
        if not repo.any_due_delivery(session, now):
            return RunResult()
    claim = secrets.token_hex(8)
    with unit_of_work(factory) as session:
        claimed = repo.claim_due_deliveries(session, now, limit)
        jobs = [_job(session, d) for d in claimed]
        # Long enough for every job of the pass to time out once, one after another.
        lease = dt.timedelta(seconds=settings.delivery_timeout_seconds * len(claimed) + 30)
        for delivery in claimed:
            delivery.status, delivery.next_attempt_at, delivery.claim = (
                "sending",
                now + lease,
                claim,
            )
    outcomes = [(job, _send(job, settings)) for job in jobs]
    result = RunResult()
    with unit_of_work(factory) as session:
        for job, outcome in outcomes:
            found = repo.get_delivery(session, job.id, lock=True)
            if found is None or found.status != "sending" or found.claim != claim:
                continue  # another worker took it over when this pass's lease ran out
            delivery = found
            delivery.attempts += 1
            delivery.last_status_code = outcome.status_code
            delivery.claim = None
            if outcome.ok:
                delivery.status, delivery.delivered_at, delivery.last_error = "delivered", now, None
                result.delivered += 1
                continue
            delivery.last_error = (outcome.error or "failed")[:500]
            if outcome.final or delivery.attempts >= settings.delivery_max_attempts:
                delivery.status = "dead"
                result.dead += 1
            else:
                delivery.status = "failed"
                delivery.next_attempt_at = now + backoff(
                    delivery.attempts, settings.delivery_backoff_seconds
                )
                result.failed += 1
            # The endpoint id, not its URL: a URL may carry a token.
            log.warning(
                "delivery %s (%s %s) attempt %s failed: %s",
                delivery.id,
                delivery.channel,
                delivery.event,
                delivery.attempts,
                delivery.last_error,
            )
    return result


def _job(session: Session, delivery: Any) -> _Job:
    common: dict[str, Any] = {
        "id": delivery.id,
        "channel": delivery.channel,
        "event": delivery.event,
        "payload": delivery.payload,
        "subject": delivery.subject,
        "created_at": delivery.created_at,
    }
    if delivery.channel == "webhook":
        endpoint = repo.get_webhook(session, delivery.endpoint_id) if delivery.endpoint_id else None
        if endpoint is None or not endpoint.active:
            return _Job(**common, problem="the webhook endpoint was disabled or removed")
        return _Job(**common, url=endpoint.url, secret=endpoint.secret)
    user = repo.get_user(session, delivery.user_id) if delivery.user_id else None
    if user is None or not user.email or not user.is_active:
        return _Job(**common, problem="the user has no e-mail address or is inactive")
    return _Job(**common, address=user.email, locale=user.locale)


def _send(job: _Job, settings: Settings) -> _Outcome:
    if job.problem:
        return _Outcome(ok=False, error=job.problem, final=True)
    try:
        return _post(job, settings) if job.channel == "webhook" else _mail(job, settings)
    except Exception as exc:  # one bad message must not stop the pass or be sent again forever
        log.exception("delivery %s could not be sent", job.id)
        return _Outcome(ok=False, error=f"{type(exc).__name__}: {exc}"[:500], final=True)


def webhook_body(job_id: int, event: str, created_at: dt.datetime, data: dict[str, Any]) -> bytes:
    """The JSON a webhook receives; the same bytes on every retry."""
    document = {"id": job_id, "event": event, "created_at": created_at.isoformat(), "data": data}
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _connect(checked: list[addresses.IPAddress], port: int, timeout: float | None) -> socket.socket:
    """A connection to the first of the checked addresses that answers."""
    error: OSError = OSError("no address to connect to")
    for ip in checked:
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect((str(ip), port))
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error


class _PinnedHTTP(http.client.HTTPConnection):
    """HTTP to addresses checked beforehand: the host name is never resolved again (a second
    lookup could answer differently, DNS rebinding); it still goes in the Host header."""

    def __init__(
        self, host: str, port: int, timeout: float, checked: list[addresses.IPAddress]
    ) -> None:
        super().__init__(host, port, timeout=timeout)
        self.checked = checked

    def connect(self) -> None:
        self.sock = _connect(self.checked, self.port, self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to addresses checked beforehand; the certificate is checked for the host name."""

    def __init__(
        self, host: str, port: int, timeout: float, checked: list[addresses.IPAddress]
    ) -> None:
        self.tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self.tls)
        self.checked = checked

    def connect(self) -> None:
        raw = _connect(self.checked, self.port, self.timeout)
        self.sock = self.tls.wrap_socket(raw, server_hostname=self.host)


def _post(job: _Job, settings: Settings) -> _Outcome:
    assert job.url is not None and job.secret is not None
    parts = urlsplit(job.url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:  # stored before URLs were checked this strictly
        return _Outcome(ok=False, error=f"InvalidURL: {exc}", final=True)
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        return _Outcome(ok=False, error="InvalidURL: not an http(s) URL with a host", final=True)
    try:
        # Checked again now, whatever was checked when the URL was saved: names move.
        checked = addresses.checked_addresses(host, port, settings.webhook_networks())
    except addresses.AddressRefused as exc:
        return _Outcome(ok=False, error=f"refused: {exc}", final=True)
    except (socket.gaierror, UnicodeError) as exc:
        return _Outcome(ok=False, error=f"cannot resolve {host}: {exc}")
    body = webhook_body(job.id, job.event, job.created_at, job.payload)
    stamp = int(utcnow().timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"Riskdesk/{__version__}",
        "X-Riskdesk-Event": job.event,
        "X-Riskdesk-Delivery": str(job.id),
        SIGNATURE_HEADER: signature(job.secret, stamp, body),
    }
    kind = _PinnedHTTPS if parts.scheme == "https" else _PinnedHTTP
    connection = kind(host, port, settings.delivery_timeout_seconds, checked)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        status, reason = response.status, response.reason
    except (http.client.HTTPException, TimeoutError, OSError) as exc:
        return _Outcome(ok=False, error=f"{type(exc).__name__}: {exc}")
    finally:
        connection.close()
    if 200 <= status < 300:
        return _Outcome(ok=True, status_code=status)
    if 300 <= status < 400:
        # Not followed: the signed body would go somewhere else, perhaps to an address that
        # webhooks may not call.
        error = f"HTTP {status} {reason}: redirects are not followed; register the final URL"
        return _Outcome(ok=False, status_code=status, error=error)
    # 4xx other than 408/429 will not get better by waiting, but the receiver may be fixed;
    # retries are cheap and bounded, so every status is retried.
    return _Outcome(ok=False, status_code=status, error=f"HTTP {status} {reason}")


def _mail(job: _Job, settings: Settings) -> _Outcome:
    if not settings.smtp_host:
        return _Outcome(ok=False, error="no SMTP server is configured (RISKDESK_SMTP_HOST)")
    assert job.address is not None
    message = EmailMessage()
    message["From"] = settings.smtp_sender
    message["To"] = job.address
    # A title with a line break would be a header injection, and email refuses it anyway.
    message["Subject"] = " ".join((job.subject or "[Riskdesk]").split())
    message["Message-ID"] = make_msgid(domain="riskdesk")
    message["X-Riskdesk-Delivery"] = str(job.id)
    message.set_content(email_text(job.payload, settings.public_url, job.locale))
    encrypted = settings.smtp_ssl or settings.smtp_starttls
    if settings.smtp_username and not encrypted:
        return _Outcome(
            ok=False,
            error="refusing to send the SMTP password unencrypted: set RISKDESK_SMTP_STARTTLS "
            "or RISKDESK_SMTP_SSL",
        )
    server = smtplib.SMTP_SSL if settings.smtp_ssl else smtplib.SMTP
    try:
        with server(
            settings.smtp_host, settings.smtp_port, timeout=settings.delivery_timeout_seconds
        ) as smtp:
            if settings.smtp_starttls and not settings.smtp_ssl:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused:
        return _Outcome(ok=False, error="the SMTP server refused the recipient", final=True)
    except (smtplib.SMTPException, OSError) as exc:
        return _Outcome(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])
    return _Outcome(ok=True)


def email_text(payload: dict[str, Any], public_url: str, locale: str | None) -> str:
    """The e-mail's text: the alert's facts and a link to its case, in the user's language
    (both when they have not chosen). A message written whole by its sender (a report for
    its subscriber, in the subscription's language) carries its ``body``."""
    if "body" in payload:
        return str(payload["body"])
    alert = payload["alert"]
    case_id, customer_id, product = alert.get("case_id"), alert["customer_id"], alert.get("product")
    if case_id:
        page = f"/cases/{case_id}"
    elif customer_id is not None:
        page = f"/customers/{customer_id}"
    else:  # a product-level alert
        page = f"/complaints?product={quote(product or '')}"
    link = public_url.rstrip("/") + page
    subject_zh = f"客户：{customer_id}" if customer_id is not None else f"产品：{product}"
    subject_en = f"Customer: {customer_id}" if customer_id is not None else f"Product: {product}"
    # Severity and category in each language's words; the rule's code is a reference line of
    # its own, never part of the title.
    severity = f"alerts.severity.{alert['severity']}"
    category = f"alerts.category.{alert['category']}"
    zh = (
        f"{payload['title_zh']}\n\n严重程度：{translate('zh-CN', severity)}\n"
        f"类别：{translate('zh-CN', category)}\n"
        f"规则代码：{alert['rule_code']}\n{subject_zh}\n处理期限：{alert['due_at']}\n"
        f"查看：{link}\n"
    )
    en = (
        f"{payload['title_en']}\n\nSeverity: {translate('en', severity)}\n"
        f"Category: {translate('en', category)}\n"
        f"Rule code: {alert['rule_code']}\n{subject_en}\nDue: {alert['due_at']}\n"
        f"Open: {link}\n"
    )
    if locale == "en":
        return en
    if locale == "zh-CN":
        return zh
    return zh + "\n----\n\n" + en


class Worker:
    """The in-process delivery worker of the embedded default: a thread that sends what is
    due every few seconds until stopped."""

    def __init__(self, factory: sessionmaker[Session], settings: Settings) -> None:
        self.factory, self.settings = factory, settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="riskdesk-delivery", daemon=True)

    def start(self) -> None:
        """Start sending."""
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current pass."""
        self._stop.set()
        self._thread.join(timeout=self.settings.delivery_timeout_seconds * 2)

    def _run(self) -> None:
        retrying = Retrying("delivery", log, unavailable)
        while not self._stop.wait(retrying.delay(self.settings.delivery_interval_seconds)):
            try:
                send_due(self.factory, self.settings)
            except Exception as exc:  # a bad pass must not end the worker; a later one retries
                retrying.failed(exc)
            else:
                retrying.succeeded()
