"""The UI crawler: every page and every form of the browser UI, as every role, in both languages,
never answers a server error, and every error it does answer is a page, not JSON.

The routes are read from the app (so a new page is crawled without touching this file); each
path parameter is tried with a record the salesperson of team east owns, one of team north, one
that does not exist, and (for customers) two seeded straight into the database with values at
the edges (tests/ui/extremes.py). Signed in through the login form, with the session's CSRF
token on every form post. On its own database (a small demo population), like the Schemathesis
module: ~2-3 min per backend on two cores.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from riskdesk.config import Settings
from riskdesk.db import make_engine, make_sessionmaker, unit_of_work
from riskdesk.demo.loader import DEMO_PASSWORD, load_demo
from riskdesk.main import API_PREFIX, create_app
from riskdesk.migrations import runner
from riskdesk.models import (
    Alert,
    AlertAction,
    Complaint,
    Customer,
    CustomerGroup,
    RuleVersion,
    ScorecardVersion,
)
from riskdesk.security import service as security_service
from riskdesk.ui.help.content import SCREENS as HELP_SCREENS
from riskdesk.ui.i18n import LANG_COOKIE, catalog
from tests.conftest import PG_URL, _backends, _make_pg
from tests.ui.conftest import LANDING
from tests.ui.extremes import seed_bare_customer, seed_extreme_customer
from tests.ui.visible_text import leaks

ROLES = ("manager", "analyst", "sales", "sales2", "service", "auditor", "admin")
LOCALES = ("zh-CN", "en")
MISSING = "999999"
TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "riskdesk" / "ui" / "templates"
# Hidden bookkeeping fields no person fills in (their errors never name them to anyone).
UNLABELLED = {"csrf_token", "form_key", "next"}
GARBAGE = ("", " ", "-1", "9" * 40, "2026-13-45", "0001-01-01", "<b>x</b>", "NaN", "é" * 300)
# What the forms test types that a page may show back as data (words, not bare numbers).
TYPED = tuple(g for g in GARBAGE if re.search(r"[^\W\d]", g))


@dataclass
class Crawl:
    """The app under crawl, its database, and the values to try for each path parameter."""

    app: FastAPI
    factory: sessionmaker[Session]
    values: dict[str, list[str]] = field(default_factory=dict)


def ui_routes(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    """(method, path, route) of every page and form of the browser UI, read from the app."""
    found = []
    for context in iter_route_contexts(app.router.routes):
        route = context.original_route
        path = context.path or ""
        if not isinstance(route, APIRoute) or path.startswith((API_PREFIX, "/static")):
            continue
        for method in sorted(context.methods or ()):
            found.append((method, path, route))
    # Sign out last: the crawl goes on in the same session.
    return sorted(found, key=lambda r: (r[1] == "/logout", r[1], r[0]))


def form_fields(route: APIRoute) -> set[str]:
    """The fields a form route reads: its declared form and query parameters (routes that read
    the raw form declare none; their fields come from the templates)."""
    dependant = route.dependant
    return {p.name for p in (*dependant.body_params, *dependant.query_params)}


def template_fields() -> set[str]:
    """Every input, select and textarea name in the templates."""
    names: set[str] = set()
    for template in TEMPLATES.rglob("*.html"):
        names |= set(
            re.findall(
                r'<(?:input|select|textarea)[^>]*?\bname="([a-z_0-9]+)"',
                template.read_text(encoding="utf-8"),
            )
        )
    return names


# ---------------------------------------------------------------- the database


def _seed(factory: sessionmaker[Session], app: FastAPI) -> dict[str, list[str]]:
    """A demo population, then through the API the records the demo has none of (held orders,
    pending changes, limit requests, reviews, holds, an import, a webhook and its delivery, a
    group limit change), a model, and the two customers at the edges. Returns, per path
    parameter, the values to try: team east's record, team north's, a missing one (...)."""
    with unit_of_work(factory) as session:
        load_demo(session, customers=30, months=8, seed=0)  # 8: an ECL run needs 6 month ends
    with unit_of_work(factory) as session:
        users = {
            u: security_service.get_user_by_username_or_raise(session, u).id
            for u in ("sales", "sales2", "analyst", "manager", "admin")
        }
        # Accounts the forms may change (disable, enable, a new role): never one that signs in.
        stand_ins = []
        for i, display in enumerate(("爬虫账户甲", "爬虫账户乙")):
            stand_in = security_service.create_user(
                session,
                username=f"crawl-u{i}",
                display_name=display,
                role="sales",
                password=security_service.generate_password(),
            )
            stand_ins.append(stand_in.id)
        stand_in_token = security_service.issue_token(
            session, user=stand_in, name="crawl", scopes=["read"]
        )[0].id
        tokens = {}
        for name in ("manager", "analyst", "admin"):
            user = security_service.get_user_by_username_or_raise(session, name)
            scopes = sorted(p.value for p in security_service.permissions_for(user.role))
            _, tokens[name] = security_service.issue_token(
                session, user=user, name="crawl", scopes=scopes
            )
        owned = {
            team: session.scalars(
                select(Customer)
                .where(Customer.owner_id == users[team], Customer.merged_into_id.is_(None))
                .order_by(Customer.kind.desc(), Customer.id)  # individuals first
            ).all()
            for team in ("sales", "sales2")
        }
    east, north = owned["sales"][0], owned["sales2"][0]

    client = TestClient(app, raise_server_exceptions=True)

    def call(user: str, method: str, path: str, **kwargs: Any) -> Any:
        answer = client.request(
            method, API_PREFIX + path, headers={"Authorization": f"Bearer {tokens[user]}"}, **kwargs
        )
        assert answer.status_code < 300, (method, path, answer.text)
        return answer.json()

    adjustment = call(
        "manager",
        "POST",
        "/ecl/adjustments",
        json={"segment": "portfolio", "multiplier": 1.1, "reason": "crawl：需求走弱"},
    )["id"]
    with unit_of_work(factory) as session:
        extreme = seed_extreme_customer(session, users["sales"])
        bare = seed_bare_customer(session, users["sales"])
    # After the customer at the edges: its largest amounts must fit a run's stored totals.
    ecl_run = call("manager", "POST", "/ecl/runs", json={"lookback_months": 6})["id"]

    held, pending, requests, reviews, holds = {}, {}, {}, {}, {}
    for team, customer in (("sales", east), ("sales2", north)):
        check = call(
            "manager",
            "POST",
            "/credit-checks",
            json={
                "source": "crawl",
                "order_external_id": f"crawl-{customer.id}",
                "customer_code": customer.code,
                "amount": "99999999.00",
                "currency": "CNY",
            },
        )
        assert check["decision"]["status"] == "held", check
        held[team] = check["decision"]["id"]
        pending[team] = call(
            "analyst",
            "PATCH",
            f"/customers/{customer.id}",
            json={"credit_limit": "123456.00", "reason": "crawl"},
        )["pending_change"]["id"]
        requests[team] = call(
            "analyst",
            "POST",
            f"/customers/{customer.id}/limit-requests",
            json={"requested_limit": "2000.00", "reason": "crawl"},
        )["id"]
        reviews[team] = call("manager", "POST", f"/customers/{customer.id}/reviews")["id"]
        holds[team] = call(
            "manager", "POST", f"/customers/{customer.id}/legal-holds", json={"reason": "crawl"}
        )["id"]
    job = call(
        "manager",
        "POST",
        "/imports",
        data={"kind": "customers"},
        files={"file": ("c.csv", b"source,external_id,kind,name\ncrawl,X1,company,X\n")},
    )["job"]["id"]
    saved_mapping = call(
        "manager",
        "PUT",
        "/imports/mappings",
        json={"name": "ERP-金蝶", "kind": "customers", "mapping": "defaults: {source: crawl}"},
    )["id"]
    hook = call(
        "admin",
        "POST",
        "/webhooks",
        json={"name": "crawl", "url": "https://hooks.example.com/x", "events": ["alert.raised"]},
    )["id"]
    delivery = call("admin", "POST", f"/webhooks/{hook}/ping")["id"]
    with factory() as session:
        group = session.scalars(select(CustomerGroup.code)).first() or "NONE"
        rules = session.scalars(select(RuleVersion.id).order_by(RuleVersion.id)).all()
        cards = session.scalars(select(ScorecardVersion.id)).all()
    group_change = call(
        "manager",
        "POST",
        f"/customer-groups/{group}/limit-changes",
        json={"credit_limit": "5000000.00", "reason": "crawl"},
    )["id"]
    model = _train_model(factory)
    # The policy editors' records: a delegation, an alert route, a row of the approval matrix.
    delegation = call(
        "manager",
        "POST",
        "/approval-delegations",
        json={"to_username": "analyst", "valid_from": "2026-01-01", "valid_to": "2026-01-31"},
    )["id"]
    route = call("analyst", "POST", "/alert-routes", json={"position": 50})["id"]
    authority = call("manager", "GET", "/approval-authorities")[0]["id"]
    # A draft for the scorecard editor (copied from the active version, by the manager).
    scorecard = call("manager", "GET", "/scorecards")[0]
    card_draft = call(
        "manager",
        "POST",
        f"/scorecards/{scorecard['code']}/versions",
        json={"definition": scorecard["versions"][0]["definition"], "note": "crawl"},
    )["id"]

    cases, alerts, actions, complaints = {}, {}, {}, {}
    with unit_of_work(factory) as session:
        for team in ("sales", "sales2"):
            cases[team], alerts[team], actions[team] = _case_alert_action(session, users[team])
            complaints[team] = session.scalars(
                select(Complaint.id).join(Customer).where(Customer.owner_id == users[team])
            ).first()

    def three(found: dict[str, Any]) -> list[str]:
        return [str(found["sales"]), str(found["sales2"]), MISSING]

    values = {
        "customer_id": [str(east.id), str(north.id), MISSING, str(extreme), str(bare)],
        "request_id": three(requests),
        "review_id": three(reviews),
        "decision_id": three(held),
        "hold_id": three(holds),
        "case_id": three(cases),
        "alert_id": three(alerts),
        "action_id": three(actions),
        "complaint_id": three(complaints),
        "job_id": [str(job), MISSING],
        "mapping_id": [str(saved_mapping), MISSING],
        "filename": ["customers.xlsx", "orders.csv", "nonsense.csv", "customers.pdf"],
        "user_id": [str(users["sales"]), str(users["sales2"]), MISSING],
        "/users user_id": [*(str(i) for i in stand_ins), MISSING],
        "/tokens token_id": [str(stand_in_token), MISSING],
        "endpoint_id": [str(hook), MISSING],
        "delivery_id": [str(delivery), MISSING],
        "run_id": [str(ecl_run), MISSING],
        "adjustment_id": [str(adjustment), MISSING],
        "/policy tier": ["low", "critical", "bogus"],
        "/policy severity": ["low", "critical", "bogus"],
        "authority_id": [str(authority), MISSING],
        "delegation_id": [str(delegation), MISSING],
        "route_id": [str(route), MISSING],
        "code": [group, "NO-SUCH-GROUP"],
        "locale": ["en", "zh-CN", "xx"],
        "screen": [*(s.key for s in HELP_SCREENS), "no-such-screen"],
        "role": ["risk_analyst", "credit_manager", "sales", "no-such-role"],
        "/approvals change_id": three(pending),
        "/group-limit-changes change_id": [str(group_change), MISSING],
        "/rule-versions version_id": [str(rules[0]), str(rules[-1]), MISSING],
        "/scorecard-versions version_id": [str(cards[0]), MISSING],
        "/scorecard-drafts version_id": [str(card_draft), str(cards[0]), MISSING],
        "/scorecards code": [scorecard["code"], "no-such-card"],
        "/models version_id": [str(model), MISSING],
        "/limit-requests action": ["approve", "reject", "bogus"],
        "/rule-versions action": ["approve", "activate", "bogus"],
        "/scorecard-versions action": ["approve", "reject", "bogus"],
        "/worklist action": ["recheck", "release", "reject", "bogus"],
        "/group-limit-changes action": ["approve", "reject", "bogus"],
        "/ecl action": ["approve", "reject", "bogus"],
    }
    for found in (cases, alerts, actions, complaints):
        assert None not in found.values(), "the demo population lacks a case with actions"
    return values


def _case_alert_action(session: Session, owner_id: int) -> tuple[int, int, int]:
    """A case of the team's customers, one of its alerts and a playbook step offered on it
    (copied from another case's when the demo offered this team none)."""
    alert = session.scalars(
        select(Alert)
        .join(Customer, Customer.id == Alert.customer_id)
        .where(Customer.owner_id == owner_id, Alert.case_id.is_not(None))
        .order_by(Alert.id)
    ).first()
    assert alert is not None and alert.case_id is not None, "the demo raised no alert"
    action = session.scalars(select(AlertAction).where(AlertAction.alert_id == alert.id)).first()
    if action is None:
        model = session.scalars(
            select(AlertAction).where(AlertAction.status == "offered").order_by(AlertAction.id)
        ).first()
        assert model is not None, "the demo offered no playbook step"
        action = AlertAction(
            alert_id=alert.id,
            playbook_id=model.playbook_id,
            action=model.action,
            auto=False,
            status="offered",
            detail=model.detail,
        )
        session.add(action)
        session.flush()
    return alert.case_id, alert.id, action.id


def _train_model(factory: sessionmaker[Session]) -> int:
    import numpy as np
    import pandas as pd

    from riskdesk.scoring import registry

    rng = np.random.default_rng(3)
    dpd = rng.integers(0, 120, 300).astype(float)
    y = (rng.uniform(0, 1, 300) < 0.05 + dpd / 200).astype(int)
    with unit_of_work(factory) as session:
        analyst = security_service.get_user_by_username_or_raise(session, "analyst")
        version = registry.train(
            session,
            security_service.system_principal(session, analyst),
            name="crawl_pd",
            family="lightgbm",
            X=pd.DataFrame({"dpd_max": dpd, "paydex": rng.uniform(20, 100, 300)}),
            y=y,
            data_source="crawl",
            target="合成违约标签",
            folds=3,
        )
        return version.id


@pytest.fixture(scope="module", params=_backends())
def crawl(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Crawl]:
    """An app on a database of this module's own, seeded for the crawl."""
    schema = None
    tmp = tmp_path_factory.mktemp("crawl")
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp / 'crawl.db'}")
    else:
        engine, schema = _make_pg(f"crawl_{uuid.uuid4().hex[:6]}")
    try:
        runner.upgrade(engine)
        factory = make_sessionmaker(engine)
        app = create_app(
            Settings(
                database_url="sqlite://",
                secret_key="crawl-secret-key-0123456789",
                data_dir=tmp / "data",
                delivery_interval_seconds=0,
            ),
            session_factory=factory,
        )
        values = _seed(factory, app)
        yield Crawl(app, factory, values)
    finally:
        engine.dispose()
        if schema is not None:
            admin = make_engine(PG_URL or "")
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


# ---------------------------------------------------------------- crawling


def _values(crawl: Crawl, path: str, name: str) -> list[str]:
    """What to try for a path parameter: by the route's first segment and name, else by name."""
    prefix = "/" + path.split("/")[1]
    found = crawl.values.get(f"{prefix} {name}") or crawl.values.get(name)
    assert found, f"no values for {{{name}}} in {path}: add them to _seed"
    return found


def urls(crawl: Crawl, path: str) -> list[str]:
    """The path with each parameter at each of its values, the others at their first."""
    names = re.findall(r"{(\w+)}", path)
    first = {n: _values(crawl, path, n)[0] for n in names}
    combos = [first]
    for name in names:
        combos += [{**first, name: v} for v in _values(crawl, path, name)[1:]]
    return [re.sub(r"{(\w+)}", lambda m, c=c: c[m.group(1)], path) for c in combos]  # type: ignore[misc]


def sign_in(app: FastAPI, username: str) -> tuple[TestClient, str]:
    """A browser-like client signed in through the login form, and its session's CSRF token."""
    client = TestClient(app, raise_server_exceptions=False)
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    signed = client.post(
        "/login",
        data={"username": username, "password": DEMO_PASSWORD, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    # Without a ``next``, signing in lands on / (which sends each role to its home page).
    assert signed.status_code == 303 and signed.headers["location"] == "/", username
    home = client.get("/", follow_redirects=False)
    assert home.headers["location"] == LANDING[username], username
    page = client.get("/customers")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None, username
    return client, csrf.group(1)


def check(answer: Any, locale: str, what: str, problems: list[str]) -> None:
    """No server error; an error is a page in the user's language, never JSON."""
    status = answer.status_code
    if status >= 500:
        problems.append(f"{status} {what}")
        return
    if status < 400 or status == 401:
        return
    kind = answer.headers.get("content-type", "")
    body = answer.text
    if not kind.startswith("text/html") or body.lstrip().startswith("{"):
        problems.append(f"{status} {what}: not a page ({kind})")
    elif not any(f'id="{i}"' in body for i in ("error-page", "error-fragment", "form-errors")):
        problems.append(f"{status} {what}: neither an error page nor the form's errors")
    elif locale == "zh-CN" and 'id="error-' in body:
        shown = re.sub(r"<[^>]+>", " ", body.split("<main>", 1)[-1])
        if re.search(r"\berror\.|[A-Za-z]{5,}", shown.split("错误代码")[0]):
            problems.append(f"{status} {what}: English or a raw key on a Chinese error page")


def test_every_form_field_has_a_label_in_both_languages() -> None:
    """An error page names the field in the user's language: every field of every form has a
    label (field.<name>) in both catalogues."""
    app = create_app(Settings(database_url="sqlite://", secret_key="labels-0123456789abcdef"))
    names = template_fields()
    for _, _, route in ui_routes(app):
        names |= form_fields(route)
    missing = {
        locale: sorted(n for n in names - UNLABELLED if f"field.{n}" not in catalog(locale))
        for locale in LOCALES
    }
    assert missing == {"zh-CN": [], "en": []}


def test_every_page_as_every_role_in_both_languages(crawl: Crawl) -> None:
    routes = [(m, p) for m, p, _ in ui_routes(crawl.app) if m == "GET"]
    assert len(routes) >= 25
    problems: list[str] = []
    statuses: dict[int, int] = {}
    for role in ROLES:
        client, _ = sign_in(crawl.app, role)
        for locale in LOCALES:
            client.cookies.set(LANG_COOKIE, locale)
            for _, path in routes:
                for url in urls(crawl, path):
                    answer = client.get(url, follow_redirects=False)
                    check(answer, locale, f"GET {url} as {role} in {locale}", problems)
                    statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
                    if path.startswith("/lang/"):  # it sets the language cookie: set ours back
                        client.cookies.delete(LANG_COOKIE)
                        client.cookies.set(LANG_COOKIE, locale)
                    if path in ("/customers", "/imports/{job_id}"):  # htmx fragments too
                        frag = client.get(url, headers={"HX-Request": "true"})
                        check(frag, locale, f"htmx GET {url} as {role}", problems)
        client.close()
    assert problems == [], "\n".join(problems[:60])
    # The crawl saw pages, refusals and missing records, not just redirects to the login.
    assert sum(statuses.values()) > 500 and {200, 403, 404} <= set(statuses), statuses
    manager, _ = sign_in(crawl.app, "manager")
    for customer in crawl.values["customer_id"][3:]:  # the two at the edges, drawn in full
        page = manager.get(f"/customers/{customer}")
        assert page.status_code == 200 and 'id="privacy-panel"' in page.text, customer


def test_every_form_with_empty_and_garbage_input_as_every_role(crawl: Crawl) -> None:
    routes = [(p, r) for m, p, r in ui_routes(crawl.app) if m == "POST"]
    assert len(routes) >= 30
    fields = sorted(
        (template_fields() | {f for _, r in routes for f in form_fields(r)}) - UNLABELLED
    )
    problems: list[str] = []
    statuses: dict[int, int] = {}
    for role in ROLES:
        for locale, garbage in (("zh-CN", False), ("en", True)):
            # Signed in afresh for each pass: the last form of a pass signs out.
            client, csrf = sign_in(crawl.app, role)
            client.cookies.set(LANG_COOKIE, locale)
            for path, route in routes:
                if path == "/login":
                    continue  # public: signing in again as someone else is not the point here
                for url in urls(crawl, path):
                    form = {"csrf_token": csrf}
                    files = None
                    if garbage:
                        form |= {f: GARBAGE[i % len(GARBAGE)] for i, f in enumerate(fields)}
                        if "file" in form_fields(route):
                            files = {"file": ("x.csv", b"\xff\xfe\x00garbage")}
                            form.pop("file", None)
                    answer = client.post(url, data=form, files=files, follow_redirects=False)
                    check(answer, locale, f"POST {url} as {role} ({locale})", problems)
                    statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
            client.close()
    assert problems == [], "\n".join(problems[:60])
    assert {303, 403, 404, 409, 422} <= set(statuses), statuses


def test_every_page_speaks_the_users_language(crawl: Crawl) -> None:
    """Every page that answers 200, as every role in both languages, shows no catalogue key,
    no number in scientific notation and (in Chinese) no English programme word in its main
    area (tests/ui/visible_text.py says what counts)."""
    # Not /lang/{locale}: it sets the language cookie (and only redirects).
    routes = [
        p for m, p, _ in ui_routes(crawl.app) if m == "GET" and p != "/logout" and "/lang/" not in p
    ]
    found: dict[str, set[str]] = {}  # leak -> where
    pages = 0
    for role in ROLES:
        client, _ = sign_in(crawl.app, role)
        for locale in LOCALES:
            client.cookies.set(LANG_COOKIE, locale)
            for path in routes:
                for url in urls(crawl, path):
                    answer = client.get(url, follow_redirects=False)
                    if answer.status_code != 200 or "text/html" not in answer.headers.get(
                        "content-type", ""
                    ):
                        continue
                    pages += 1
                    if "<html" in answer.text[:300]:  # a page, not a fragment: in this language
                        assert f'<html lang="{locale}">' in answer.text[:300], (url, role, locale)
                    shown = [answer.text]
                    if path in ("/customers", "/imports/{job_id}"):  # htmx fragments too
                        shown.append(client.get(url, headers={"HX-Request": "true"}).text)
                    for body in shown:
                        # The forms test may have run first: what it typed is data.
                        for leak in leaks(body, locale, TYPED):
                            where = f"{url} ({role})"
                            found.setdefault(f"{locale} {path}: {leak}", set()).add(where)
        client.close()
    assert pages > 300, pages
    report = [f"{leak}  [{sorted(where)[0]}]" for leak, where in sorted(found.items())]
    assert report == [], f"{len(report)} leaks:\n" + "\n".join(report[:2000])


def test_practice_steps_link_demo_records_each_role_may_open(crawl: Crawl) -> None:
    """Help's practice mode on the demo data: each role's walkthrough links screens and records
    its demo user may open (the analyst's case step a real case)."""
    roles = {
        "manager": "credit_manager",
        "analyst": "risk_analyst",
        "sales": "sales",
        "service": "customer_service",
        "auditor": "auditor",
        "admin": "admin",
    }
    for username, role in roles.items():
        client, _ = sign_in(crawl.app, username)
        page = client.get(f"/help/practice/{role}")
        assert page.status_code == 200, role
        links = re.findall(r'<a href="([^"]+)" class="step-link"', page.text)
        assert links, role
        for link in links:
            assert client.get(link).status_code == 200, (role, link)
        if role == "risk_analyst":
            assert any(link.startswith("/cases/") for link in links), links
        client.close()
