"""Help and training pages (TestClient): every page for every role in both languages, "who
may do it" against the permission model, the glossary, and practice checks that flip."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from riskdesk.security.permissions import ROLE_PERMISSIONS, Permission, Role
from riskdesk.ui.help.content import GLOSSARY, GLOSSARY_BY_KEY, GUIDES, SCREENS
from riskdesk.ui.help_pages import help_for
from riskdesk.ui.i18n import LANG_COOKIE
from tests.conftest import TEST_USERS, ingest, principal
from tests.factories import company
from tests.ui.visible_text import leaks

USERS = [u for u, _, _ in TEST_USERS]
# Words a Chinese page may show in Latin letters: abbreviations, names and formulas' symbols.
LATIN_OK = {"Altman", "Excel", "CSAT"}


def _pages() -> list[str]:
    pages = ["/help", "/help/glossary"]
    pages += [f"/help/screens/{s.key}" for s in SCREENS]
    pages += [f"/help/start/{g.role.value}" for g in GUIDES]
    pages += [f"/help/practice/{g.role.value}" for g in GUIDES]
    return pages


def _main_text(html: str) -> str:
    body = html.split("<main>", 1)[1].split("</main>", 1)[0]
    body = re.sub(r"<code[^>]*>.*?</code>", " ", body, flags=re.S)  # formulas, logins
    body = re.sub(r"<[^>]+>", " ", body)
    return body


def test_every_help_page_answers_for_every_role_in_both_languages(client_for) -> None:  # type: ignore[no-untyped-def]
    problems: list[str] = []
    for username in USERS:
        client = client_for(username)
        for locale in ("zh-CN", "en"):
            client.cookies.set(LANG_COOKIE, locale)
            for url in _pages():
                answer = client.get(url)
                if answer.status_code != 200:
                    problems.append(f"{answer.status_code} {url} as {username} ({locale})")
                    continue
                problems += [f"{url} ({locale}): {x}" for x in leaks(answer.text, locale)]
                text = _main_text(answer.text)
                if re.search(r"\b(help|nav|role|field)\.[a-z_]+", text):
                    problems.append(f"a raw key on {url} ({locale})")
                if "None" in text.split():
                    problems.append(f"None shown on {url} ({locale})")
                if locale == "zh-CN":
                    latin = set(re.findall(r"[A-Za-z_]{5,}", text)) - LATIN_OK
                    if latin:
                        problems.append(f"English on {url} (zh-CN): {sorted(latin)[:5]}")
                else:
                    if re.search(r"[\u4e00-\u9fff]", text):
                        problems.append(f"Chinese on {url} (en)")
    assert problems == [], "\n".join(problems[:40])


def test_unknown_screens_and_roles_are_not_found(manager) -> None:  # type: ignore[no-untyped-def]
    for url in ("/help/screens/nope", "/help/start/nope", "/help/practice/nope"):
        assert manager.get(url).status_code == 404, url


def test_help_needs_a_sign_in(app) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    with TestClient(app) as anonymous:
        answer = anonymous.get("/help", follow_redirects=False)
    assert answer.status_code in (303, 401), answer.status_code


def _required(route: APIRoute) -> set[Permission]:
    """What a route's dependencies require, read independently of the help module."""
    found: set[Permission] = set()
    stack = [route.dependant]
    while stack:
        dep = stack.pop()
        for sub in dep.dependencies:
            found |= set(getattr(sub.call, "requires", ()))
            stack.append(sub)
    return found


def test_who_may_do_it_matches_the_permission_model(app, client_for) -> None:  # type: ignore[no-untyped-def]
    routes = {
        (m, c.path): c.original_route
        for c in iter_route_contexts(app.router.routes)
        if isinstance(c.original_route, APIRoute)
        for m in c.original_route.methods or ()
    }
    client = client_for("auditor")
    client.cookies.set(LANG_COOKIE, "en")
    checked = 0
    for screen in SCREENS:
        page = client.get(f"/help/screens/{screen.key}").text
        rows = re.findall(r'data-route="([^"]+)">(.*?)</tr>', page, flags=re.S)
        assert len(rows) == len(screen.actions), screen.key
        for action, (shown_route, row) in zip(screen.actions, rows, strict=True):
            assert shown_route == f"{action.route[0]} {action.route[1]}"
            route = routes[action.route]  # the help names a route the app has
            needed = _required(route) | ({action.also} if action.also else set())
            expected = {r.value for r in Role if needed <= ROLE_PERMISSIONS[r]}
            who = row.split('class="who"', 1)[1].split("</td>", 1)[0]
            shown = set(re.findall(r'data-role="([a-z_]+)"', who))
            assert shown == expected, (screen.key, action.route, shown, expected)
            checked += 1
        opens = page.split('id="who-opens"', 1)[1].split("</p>", 1)[0]
        expected_open = {
            r.value
            for r in Role
            for view in screen.views
            if _required(routes[view]) <= ROLE_PERMISSIONS[r]
        }
        assert set(re.findall(r'data-role="([a-z_]+)"', opens)) == expected_open, screen.key
    assert checked >= 50


def test_service_checks_beyond_the_route_are_in_the_help(client_for) -> None:  # type: ignore[no-untyped-def]
    """Where a service checks more than its route (approving a rule version needs
    changes:approve, deciding a limit request limit_requests:approve), the help says so."""
    client = client_for("analyst")
    client.cookies.set(LANG_COOKIE, "en")

    def roles(screen: str, name: str) -> set[str]:
        page = client.get(f"/help/screens/{screen}").text
        row = page.split(f"<td>{name}</td>", 1)[1].split("</tr>", 1)[0]
        return set(re.findall(r'data-role="([a-z_]+)"', row))

    assert roles("rules", "Approve a version") == {"credit_manager"}
    assert roles("rules", "Activate a version") == {"credit_manager", "risk_analyst"}
    assert roles("limit_requests", "Approve or reject") == {"credit_manager", "risk_analyst"}
    assert roles("worklist", "Release, reject or recheck") == {"credit_manager", "risk_analyst"}
    assert roles("audit", "Download") == {"auditor"}


def test_glossary_has_every_term_in_both_languages(client_for) -> None:  # type: ignore[no-untyped-def]
    wanted = {
        "dso", "best_dso", "dbt", "add", "cei", "ageing_bucket", "exposure",
        "available_credit", "utilisation", "risk_tier", "rating", "reason_code",
        "early_warning", "alert", "case", "playbook", "review", "limit_request",
        "credit_decision", "pd", "psi", "auc", "hhi", "ecl", "provision_matrix", "roll_rate",
        "altman_z", "bgnbd", "four_eyes", "dpd", "credit_limit", "payment_terms",
    }  # fmt: skip
    assert wanted <= set(GLOSSARY_BY_KEY)
    for term in GLOSSARY:
        for pair in (term.name, term.definition, *((term.formula,) if term.formula else ())):
            en, zh = pair
            assert en and zh and re.search(r"[\u4e00-\u9fff]", zh), (term.key, pair)
            assert not re.search(r"[\u4e00-\u9fff]", en), (term.key, pair)
    client = client_for("sales")
    for locale, index in (("en", 0), ("zh-CN", 1)):
        client.cookies.set(LANG_COOKIE, locale)
        page = client.get("/help/glossary").text
        for term in GLOSSARY:
            assert f'id="term-{term.key}"' in page
            assert term.name[index].replace("&", "&amp;") in page, (locale, term.key)


def test_each_screen_has_a_help_link_that_finds_its_help() -> None:
    assert help_for("/alerts") == "/help/screens/alerts"
    assert help_for("/customers") == "/help/screens/customers"
    assert help_for("/customers/12") == "/help/screens/customer"
    assert help_for("/rule-versions/3/approve") == "/help/screens/rules"
    assert help_for("/home/sales") == "/help/screens/home"
    assert help_for("/help/glossary") == "/help"
    for screen in SCREENS:
        for prefix in screen.prefixes:
            assert help_for(prefix + ("1" if prefix.endswith("/") else "")) == (
                f"/help/screens/{screen.key}"
            )


def test_the_header_links_each_screen_to_its_help(client_for) -> None:  # type: ignore[no-untyped-def]
    manager = client_for("manager")
    for screen in SCREENS:
        for method, path in screen.views:
            if method != "GET" or "{" in path:
                continue
            page = manager.get(path)
            if page.status_code != 200:
                continue  # not this role's screen (the browser test covers the others)
            link = re.search(r'<a href="([^"]+)" id="help-link"', page.text)
            assert link is not None, path
            assert link.group(1) == f"/help/screens/{screen.key}", path


def _steps(client: Any, role: str) -> dict[str, str]:
    page = client.get(f"/help/practice/{role}").text
    return dict(re.findall(r'data-check="([a-z_]+)" data-done="([a-z]+)"', page))


def test_practice_checks_flip_when_the_user_does_the_step(db, client_for) -> None:  # type: ignore[no-untyped-def]
    from riskdesk.customers import repository as customer_repo

    ingest(db, principal(db, "manager"), "customers", [company("HP1", owner="sales")])
    refs = customer_repo.customer_ids_by_ref(db, {("erp", "HP1")})
    customer = refs[("erp", "HP1")]
    db.commit()
    sales, manager = client_for("sales"), client_for("manager")
    assert _steps(sales, "sales")["limit_requested"] == "no"
    assert _steps(manager, "credit_manager")["limit_decided"] == "no"
    # Without an open case, the analyst's case step links the alert queue instead.
    analyst_page = client_for("analyst").get("/help/practice/risk_analyst").text
    assert 'data-check="case_commented"' in analyst_page and "/cases/" not in analyst_page
    # The practice page links the step to a customer sales may see.
    assert f"/customers/{customer}" in sales.get("/help/practice/sales").text
    made = sales.post(
        f"/customers/{customer}/limit-requests",
        data={"requested_limit": "200000.00", "reason": "practice"},
        follow_redirects=False,
    )
    assert made.status_code in (200, 303), made.text
    assert _steps(sales, "sales")["limit_requested"] == "yes"
    assert _steps(manager, "credit_manager")["limit_decided"] == "no"
    request_id = client_for("analyst").get("/api/v1/limit-requests").json()
    pending = request_id["items"] if isinstance(request_id, dict) else request_id
    rejected = manager.post(
        f"/limit-requests/{pending[0]['id']}/reject",
        data={"comment": "practice"},
        follow_redirects=False,
    )
    assert rejected.status_code == 303, rejected.text
    assert _steps(manager, "credit_manager")["limit_decided"] == "yes"


@pytest.mark.parametrize("guide", GUIDES, ids=lambda g: g.role.value)
def test_every_practice_step_links_a_real_screen(guide, app) -> None:  # type: ignore[no-untyped-def]
    paths = {
        c.path
        for c in iter_route_contexts(app.router.routes)
        if isinstance(c.original_route, APIRoute) and "GET" in (c.original_route.methods or ())
    }
    for step in guide.steps:
        path = step.link.split("?")[0]
        path = path.replace("{customer}", "{customer_id}").replace("{case}", "{case_id}")
        assert path in paths, step.link
