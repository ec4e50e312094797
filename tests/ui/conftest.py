"""A live server on its own database, and a headless Chromium to drive it."""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import text
from sqlalchemy.orm import sessionmaker

from riskdesk.config import Settings, get_settings
from riskdesk.db import make_engine, make_sessionmaker, unit_of_work
from riskdesk.main import create_app
from riskdesk.migrations import runner
from riskdesk.pipeline import intake, processing
from riskdesk.security import service as security_service
from riskdesk.security.permissions import Role
from tests.conftest import IN_CI, PASSWORD, PG_URL, _backends
from tests.factories import company

CHROMIUM = os.environ.get("RISKDESK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module", params=_backends())
def live_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """A running Riskdesk with a few users and customers, on a database of its own."""
    tmp = tmp_path_factory.mktemp("live")
    schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'live.db'}"
        engine = make_engine(url)
    else:
        assert PG_URL is not None
        schema = f"rdlive_{uuid.uuid4().hex[:8]}"
        admin = make_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        engine = make_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    runner.upgrade(engine)
    factory = make_sessionmaker(engine)
    with unit_of_work(factory) as session:
        for username, role in (
            ("manager", Role.CREDIT_MANAGER),
            ("manager2", Role.CREDIT_MANAGER),
            ("analyst", Role.RISK_ANALYST),
            ("admin", Role.ADMIN),
            ("auditor", Role.AUDITOR),
            ("sales", Role.SALES),
        ):
            security_service.create_user(
                session,
                username=username,
                display_name=username,
                role=role,
                password=PASSWORD,
                team="east" if role == Role.SALES else None,
            )
        manager = security_service.get_user_by_username_or_raise(session, "manager")
        principal = security_service.system_principal(session, manager)
        records = [
            company("W1", name="杭州恒远贸易有限公司", group_code="HY", group_name="恒远集团"),
            company("W2", name="上海明达科技有限公司"),
        ]
        intake.ingest(session, principal, "customers", records)
        processing.process_now(session, get_settings())
    settings = Settings(
        database_url="sqlite://",
        secret_key="live-test-secret-0123456789",
        data_dir=Path(tmp) / "data",
        delivery_interval_seconds=0,  # tests send deliveries themselves
        report_schedule_interval_seconds=0,  # nor the report e-mails
        month_end_interval_seconds=0,  # nor the dashboard's month ends
        complaint_surge_seconds=0,  # and no periodic job writes behind the pages' backs
        event_workers=0,  # the request processes its own events (wait below)
        event_wait_seconds=30,
        warning_backtest_days=0,
    )
    app = create_app(settings, session_factory=factory)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("live server did not start")
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    _FACTORIES[base] = factory
    yield base
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()
    if schema is not None:
        admin = make_engine(PG_URL or "")
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's Chromium, driven by Playwright (no browser download)."""
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        if IN_CI:
            pytest.fail(f"Chromium not found at {CHROMIUM}; .ci/run installs it")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def new_context(browser, locale: str = "en-US"):  # type: ignore[no-untyped-def]
    """A fresh browser context (no cookies), 1280 wide, in ``locale`` (en-US or zh-CN)."""
    headers = {"Accept-Language": "zh-CN,zh;q=0.9"} if locale == "zh-CN" else None
    context = browser.new_context(
        locale=locale, extra_http_headers=headers, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(30_000)
    return context


@pytest.fixture
def page(browser):  # type: ignore[no-untyped-def]
    """A fresh browser context (no cookies) in English."""
    context = new_context(browser)
    yield context.new_page()
    context.close()


@pytest.fixture
def zh_page(browser):  # type: ignore[no-untyped-def]
    """A fresh browser context (no cookies) in Chinese, as a zh-CN browser asks."""
    context = new_context(browser, "zh-CN")
    yield context.new_page()
    context.close()


SHOTS = os.environ.get("RISKDESK_SCREENSHOTS")


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    """Keep a full-page screenshot as ``name``.png when RISKDESK_SCREENSHOTS names a directory."""
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


# Where signing in lands each user of the live server (and of the tests that add users): the
# role's home page.
LANDING = {
    "manager": "/portfolio",
    "manager2": "/portfolio",
    "analyst": "/home/analyst",
    "admin": "/home/admin",
    "auditor": "/home/auditor",
    "sales": "/home/sales",
    "sales2": "/home/sales",
    "service": "/home/service",
}


def landing(username: str) -> re.Pattern[str]:
    """The address signing in as ``username`` lands on."""
    return re.compile(rf"^http://[^/]+{re.escape(LANDING[username])}$")


_TOKENS: dict[tuple[str, str], str] = {}
_FACTORIES: dict[str, sessionmaker] = {}  # type: ignore[type-arg]


def api_token(base: str, username: str) -> str:
    """An API token for a user of the live server at ``base``."""
    key = (base, username)
    if key not in _TOKENS:
        with unit_of_work(_FACTORIES[base]) as session:
            user = security_service.get_user_by_username_or_raise(session, username)
            scopes = sorted(p.value for p in security_service.permissions_for(user.role))
            _, raw = security_service.issue_token(session, user=user, name="ui-test", scopes=scopes)
        _TOKENS[key] = raw
    return _TOKENS[key]


def nav_click(page, selector: str) -> None:  # type: ignore[no-untyped-def]
    """Follow a link of the top navigation, opening its drop-down first when it sits in one."""
    menu = page.locator(f".topbar details.nav-menu:has({selector})")
    if menu.count() and not menu.evaluate("m => m.open"):
        menu.locator("summary").click()
    page.click(selector)
