"""The alert queue page at volume: pages with a total, sorts and filters kept in the address,
the assignee, due time and SLA columns, bulk actions checked alert by alert (and idempotent),
and no outcome chosen beforehand."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient
from sqlalchemy import select

from riskdesk.alerts import service as alert_service
from riskdesk.kit.timeutil import utcnow
from riskdesk.models import Alert, User
from riskdesk.ui.i18n import LANG_COOKIE
from tests.alerts.test_listing import _setup
from tests.security.test_auth import login

ROW = re.compile(r'<tr id="alert-(\d+)"')


def _rows(html: str) -> list[int]:
    return [int(i) for i in ROW.findall(html)]


def _signed_in(app, username: str, locale: str = "en") -> tuple[TestClient, str]:  # type: ignore[no-untyped-def]
    client = login(app, username)
    client.cookies.set(LANG_COOKIE, locale)
    page = client.get("/alerts")
    assert page.status_code == 200, page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    return client, csrf.group(1)


def _more(db, ids: dict[str, int], n: int) -> None:  # type: ignore[no-untyped-def]
    """``n`` more alerts per customer of the setup, of a code of their own: enough for pages."""
    for i in range(n):
        alert_service.raise_hits(
            db,
            [(cid, {"round": i}) for cid in ids.values()],
            source="rule",
            code="extra",
            category="exposure",
            warning_type="payment_deterioration",
            severity="medium",
            titles=("Extra", "额外"),
            dedup_days=0,
            version_id=None,
            now=utcnow() - dt.timedelta(minutes=10 - i),
            observed_on=dt.date(2026, 3, 20),
        )
    db.commit()


def _alerts(db, **where: object) -> list[Alert]:  # type: ignore[no-untyped-def]
    db.expire_all()
    stmt = select(Alert).order_by(Alert.id)
    for k, v in where.items():
        stmt = stmt.where(getattr(Alert, k) == v)
    return list(db.scalars(stmt))


def test_pages_with_a_total_and_the_view_in_every_link(db, app) -> None:  # type: ignore[no-untyped-def]
    ids = _setup(db)
    _more(db, ids, 2)  # 25 + 8 = 33 alerts, of every status
    client, _ = _signed_in(app, "manager")
    first = client.get("/alerts", params={"status": "any", "order": "raised", "size": 25})
    assert first.status_code == 200
    assert "33 alerts, showing 1–25" in first.text
    assert "Page 1 of 2" in first.text
    page1 = _rows(first.text)
    assert len(page1) == 25
    # The next page's link keeps every filter, the order and the size.
    link = re.search(r'href="(/alerts\?[^"]+)" class="next-page"', first.text)
    assert link is not None
    query = parse_qs(urlsplit(link.group(1).replace("&amp;", "&")).query)
    assert query == {"status": ["any"], "order": ["raised"], "size": ["25"], "page": ["2"]}
    second = client.get(link.group(1).replace("&amp;", "&"))
    assert "33 alerts, showing 26–33" in second.text
    page2 = _rows(second.text)
    assert len(page2) == 8 and not set(page1) & set(page2)
    everything = _alerts(db)
    assert set(page1) | set(page2) == {a.id for a in everything}
    # Newest raised first, ties by id.
    by_raised = sorted(everything, key=lambda a: (a.raised_at, a.id), reverse=True)
    assert page1 + page2 == [a.id for a in by_raised]
    # Past the last page: no rows, still the total.
    beyond = client.get("/alerts", params={"status": "any", "size": 25, "page": 9})
    assert beyond.status_code == 200 and _rows(beyond.text) == []
    assert 'id="alerts-empty"' in beyond.text
    # A size the queue does not offer is refused.
    assert client.get("/alerts", params={"size": 7}).status_code == 422


def test_sorts_by_severity_and_due_time(db, app) -> None:  # type: ignore[no-untyped-def]
    _setup(db)
    alerts = _alerts(db)
    critical, soonest = alerts[3], alerts[5]
    critical.severity = "critical"
    soonest.due_at = utcnow() + dt.timedelta(minutes=5)
    db.commit()
    client, _ = _signed_in(app, "manager")
    by_severity = _rows(client.get("/alerts", params={"status": "any", "order": "severity"}).text)
    assert by_severity[0] == critical.id
    by_due = _rows(client.get("/alerts", params={"status": "any", "order": "due"}).text)
    assert by_due[0] == soonest.id
    dues = {a.id: a.due_at for a in _alerts(db)}
    shown = [dues[i] for i in by_due if dues[i] is not None]
    assert shown == sorted(shown)
    assert client.get("/alerts", params={"order": "sideways"}).status_code == 422


def test_filters_narrow_the_total_and_stay_in_the_address(db, app) -> None:  # type: ignore[no-untyped-def]
    ids = _setup(db)
    _more(db, ids, 7)  # 28 more in "exposure"
    client, _ = _signed_in(app, "manager")
    params = {"category": "exposure", "region": "North", "size": 25, "order": "due"}
    page = client.get("/alerts", params=params)
    # North: the one customer N1, with 7 extra alerts.
    assert "7 alerts, showing 1–7" in page.text
    assert len(_rows(page.text)) == 7
    wide = client.get("/alerts", params={"category": "exposure", "size": 25})
    assert "28 alerts, showing 1–25" in wide.text
    link = re.search(r'href="(/alerts\?[^"]+)" class="next-page"', wide.text)
    assert link is not None and "category=exposure" in link.group(1)
    # Filters, order and size are in the export and in the form for the next change.
    assert 'name="region" value="North"' in page.text
    assert '<option value="due" selected>' in page.text
    # A sales user's total counts only what they may see.
    sales, _ = _signed_in(app, "sales")
    mine = sales.get("/alerts", params={"category": "exposure"})
    assert "14 alerts" in mine.text  # E1 and E2 (the east team)


def test_assignee_due_and_sla_columns_in_both_languages(db, app) -> None:  # type: ignore[no-untyped-def]
    _setup(db)
    now = utcnow()
    alerts = [a for a in _alerts(db) if a.status == "open" and a.customer_id is not None]
    breached, soon, fine = alerts[0], alerts[1], alerts[2]
    breached.due_at = now - dt.timedelta(hours=1)
    soon.due_at = now + dt.timedelta(hours=1)  # high: due soon within 6 hours
    fine.due_at = now + dt.timedelta(days=3)
    manager_id = db.scalar(select(User.id).where(User.username == "manager2"))
    fine.assigned_to_id = manager_id
    db.commit()
    for locale, words in (
        ("en", ("Breached", "Due soon", "On time", "Assignee", "SLA")),
        ("zh-CN", ("已超时", "即将到期", "按时", "负责人", "时限状态")),
    ):
        client, _ = _signed_in(app, "manager", locale)
        html = client.get("/alerts", params={"size": 200}).text
        row = {
            i: html.split(f'<tr id="alert-{i}"')[1].split("</tr>")[0]
            for i in (breached.id, soon.id, fine.id)
        }
        assert words[0] in row[breached.id] and "sla-breached" in row[breached.id]
        assert words[1] in row[soon.id] and "sla-due_soon" in row[soon.id]
        assert words[2] in row[fine.id] and "sla-on_time" in row[fine.id]
        assert words[3] in html and words[4] in html
        assert fine.due_at.strftime("%Y-%m-%d") in row[fine.id]
        shown = db.scalar(select(User.display_name).where(User.id == manager_id))
        assert f'<td class="assignee nw">{shown}</td>' in row[fine.id]
    # The state as the service judges it.
    assert alert_service.sla_state(breached, now) == "breached"
    assert alert_service.sla_state(soon, now) == "due_soon"
    assert alert_service.sla_state(fine, now) == "on_time"


def test_no_outcome_is_preselected_and_closing_without_one_is_refused(db, app) -> None:  # type: ignore[no-untyped-def]
    _setup(db)
    target = next(a for a in _alerts(db) if a.status == "open")
    client, csrf = _signed_in(app, "manager", "zh-CN")
    page = client.get("/alerts").text
    for select_html in re.findall(r'<select name="outcome".*?</select>', page, flags=re.S):
        assert '<option value="" selected>' in select_html
        assert '<option value="confirmed" selected' not in select_html
    # One row: refused, naming the field, in the user's language; nothing written.
    refused = client.post(
        f"/alerts/{target.id}/move",
        data={"csrf_token": csrf, "status": "resolved", "outcome": ""},
        follow_redirects=False,
    )
    assert refused.status_code == 422
    assert "结论" in refused.text and "必填" in refused.text
    # In bulk too: the whole request is refused before any alert is touched.
    bulk = client.post(
        "/alerts/bulk",
        data={"csrf_token": csrf, "action": "resolve", "alert_ids": [target.id], "outcome": ""},
        follow_redirects=False,
    )
    assert bulk.status_code == 422 and "结论" in bulk.text and "必填" in bulk.text
    assert _alerts(db, id=target.id)[0].status == "open"
    # In English, the sentence names the field.
    client.cookies.set(LANG_COOKIE, "en")
    english = client.post(
        f"/alerts/{target.id}/move",
        data={"csrf_token": csrf, "status": "resolved"},
        follow_redirects=False,
    )
    assert english.status_code == 422 and "Outcome" in english.text
    # Acknowledging needs no outcome (the empty choice is no choice).
    ack = client.post(
        f"/alerts/{target.id}/move",
        data={"csrf_token": csrf, "status": "acknowledged", "outcome": ""},
        follow_redirects=False,
    )
    assert ack.status_code == 303
    assert _alerts(db, id=target.id)[0].status == "acknowledged"


def _bulk(client: TestClient, csrf: str, action: str, ids: list[int], **more: str):  # type: ignore[no-untyped-def]
    answer = client.post(
        "/alerts/bulk",
        data={"csrf_token": csrf, "action": action, "alert_ids": ids, **more},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    said = parse_qs(urlsplit(location).query)
    return location, {k: said.get(k, [""])[0] for k in ("bulk_done", "bulk_same", "bulk_refused")}


def test_bulk_acknowledge_then_the_same_request_again_changes_nothing(db, app) -> None:  # type: ignore[no-untyped-def]
    _setup(db)
    two = [a.id for a in _alerts(db) if a.status == "open"][:2]
    client, csrf = _signed_in(app, "manager")
    back = "status=open_any&order=due&size=25&page=1"
    location, said = _bulk(client, csrf, "acknowledge", two, back=back)
    assert said == {"bulk_done": ",".join(map(str, two)), "bulk_same": "", "bulk_refused": ""}
    # Back to the same view.
    assert location.startswith("/alerts?status=open_any&order=due&size=25&page=1&bulk=")
    after = {a.id: (a.status, a.assigned_to_id) for a in _alerts(db) if a.id in two}
    assert {s for s, _ in after.values()} == {"acknowledged"}
    shown = client.get(location)
    assert 'id="bulk-done"' in shown.text and f"#{two[0]}" in shown.text
    # The same request again: nothing changes, and the answer says so.
    _, again = _bulk(client, csrf, "acknowledge", two, back=back)
    assert again == {"bulk_done": "", "bulk_same": ",".join(map(str, two)), "bulk_refused": ""}
    assert {a.id: (a.status, a.assigned_to_id) for a in _alerts(db) if a.id in two} == after
    # Resolve both with one outcome, twice: the second time changes nothing either.
    _, resolved = _bulk(client, csrf, "resolve", two, outcome="false_alarm")
    assert resolved["bulk_done"] == ",".join(map(str, two))
    closed = {a.id: (a.status, a.outcome, a.closed_at) for a in _alerts(db) if a.id in two}
    assert {(s, o) for s, o, _ in closed.values()} == {("resolved", "false_alarm")}
    _, repeat = _bulk(client, csrf, "resolve", two, outcome="false_alarm")
    assert repeat["bulk_same"] == ",".join(map(str, two)) and not repeat["bulk_done"]
    assert {a.id: (a.status, a.outcome, a.closed_at) for a in _alerts(db) if a.id in two} == closed
    # A closed alert cannot be acknowledged: reported, left as it was.
    _, late = _bulk(client, csrf, "acknowledge", two[:1])
    assert late["bulk_refused"] == f"{two[0]}:wrong_state"
    # A foreign "back" cannot send the browser elsewhere, nor carry other parameters.
    elsewhere, _ = _bulk(client, csrf, "acknowledge", two[:1], back="next=//evil.example&x=1")
    assert elsewhere.startswith("/alerts?bulk=")


def test_bulk_as_sales_acts_only_on_alerts_they_may_see(db, app) -> None:  # type: ignore[no-untyped-def]
    ids = _setup(db)
    alerts = [a for a in _alerts(db) if a.status == "open"]
    own = next(a.id for a in alerts if a.customer_id == ids["E1"])
    team = next(a.id for a in alerts if a.customer_id == ids["E2"])  # a team-mate's customer
    others = next(a.id for a in alerts if a.customer_id == ids["N1"])  # sales2's: hidden
    product = next(a.id for a in alerts if a.customer_id is None)  # sales see none
    missing = max(a.id for a in alerts) + 1000
    client, csrf = _signed_in(app, "sales")
    _, said = _bulk(client, csrf, "acknowledge", [own, team, others, product, missing])
    assert said["bulk_done"] == ",".join(map(str, sorted([own, team])))
    refused = dict(r.split(":") for r in said["bulk_refused"].split(","))
    assert refused == {str(i): "not_found" for i in (others, product, missing)}
    by_id = {a.id: a for a in _alerts(db)}
    assert by_id[others].status == "open" and by_id[product].status == "open"
    # The page says which were refused and why, never whose they are.
    page = client.get(
        "/alerts?bulk=acknowledge&bulk_done=1&bulk_refused=" + said["bulk_refused"]
    ).text
    assert "no such alert, or not one you may see" in page
    # Assigning: sales give alerts to themselves or their team only.
    sales2 = db.scalar(select(User.id).where(User.username == "sales2"))
    _, to_stranger = _bulk(client, csrf, "assign", [own], assignee=str(sales2))
    assert to_stranger["bulk_refused"] == f"{own}:validation_failed"
    team_mate = db.scalar(select(User.id).where(User.username == "sales_east2"))
    _, to_team = _bulk(client, csrf, "assign", [own, others], assignee=str(team_mate))
    assert to_team["bulk_done"] == str(own) and to_team["bulk_refused"] == f"{others}:not_found"
    assert _alerts(db, id=own)[0].assigned_to_id == team_mate
    assert _alerts(db, id=others)[0].assigned_to_id != team_mate
    _, same = _bulk(client, csrf, "assign", [own], assignee=str(team_mate))
    assert same["bulk_same"] == str(own)
    # Someone who may not work alerts is refused the whole request.
    auditor, auditor_csrf = _signed_in(app, "auditor")
    denied = auditor.post(
        "/alerts/bulk",
        data={"csrf_token": auditor_csrf, "action": "acknowledge", "alert_ids": [team]},
        follow_redirects=False,
    )
    assert denied.status_code == 403
    # Without the CSRF token nothing happens.
    forged = client.post(
        "/alerts/bulk", data={"action": "acknowledge", "alert_ids": [team]}, follow_redirects=False
    )
    assert forged.status_code == 403


def test_bulk_assign_checks_the_assignee_may_see_each_alert(db, app) -> None:  # type: ignore[no-untyped-def]
    ids = _setup(db)
    alerts = [a for a in _alerts(db) if a.status == "open"]
    east = next(a.id for a in alerts if a.customer_id == ids["E1"])
    north = next(a.id for a in alerts if a.customer_id == ids["N1"])
    # E1 is sales's customer (its alerts are theirs); their team-mate sees it too.
    team_mate = db.scalar(select(User.id).where(User.username == "sales_east2"))
    auditor = db.scalar(select(User.id).where(User.username == "auditor"))
    client, csrf = _signed_in(app, "manager")
    _, said = _bulk(client, csrf, "assign", [east, north], assignee=str(team_mate))
    assert said["bulk_done"] == str(east)
    assert said["bulk_refused"] == f"{north}:validation_failed"  # the east may not see North
    assert _alerts(db, id=east)[0].assigned_to_id == team_mate
    # An auditor works no alerts: not someone alerts are given to.
    _, nobody = _bulk(client, csrf, "assign", [east], assignee=str(auditor))
    assert nobody["bulk_refused"] == f"{east}:validation_failed"
    page = client.get("/alerts").text
    options = re.search(r'<select name="assignee".*?</select>', page, flags=re.S)
    assert options is not None and f'value="{auditor}"' not in options.group(0)
    # Choosing nobody is refused as a whole, naming the field.
    empty = client.post(
        "/alerts/bulk",
        data={"csrf_token": csrf, "action": "assign", "alert_ids": [east], "assignee": ""},
        follow_redirects=False,
    )
    assert empty.status_code == 422 and "Assignee" in empty.text
    none = client.post(
        "/alerts/bulk", data={"csrf_token": csrf, "action": "acknowledge"}, follow_redirects=False
    )
    assert none.status_code == 422 and "Selected alerts" in none.text
