"""The credit policy editors rendered by the server (the browser tests are
tests/ui/test_policy_browser.py): tier policies, the approval matrix and delegations, alert
routes and SLAs, and the review queue's horizon. Each page checks the API's permission, a bad
field is named on the page in the reader's language, and a repeated submission changes
nothing."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from riskdesk.kit.timeutil import today
from riskdesk.models import AlertRoute, AlertSla, ApprovalAuthority, ApprovalDelegation, TierPolicy
from riskdesk.ui.i18n import LANG_COOKIE


def _main(html: str) -> str:
    return html.split("<main>", 1)[1]


def test_the_policy_pages_in_both_languages_and_who_may_open_them(client_for) -> None:  # type: ignore[no-untyped-def]
    manager = client_for("manager")
    for locale, words in (
        ("zh-CN", ("风险等级政策", "审批权限表", "处理时限（SLA）", "额度倍数")),
        ("en", ("Tier policies", "Approval matrix", "Response times (SLA)", "Limit multiple")),
    ):
        manager.cookies.set(LANG_COOKIE, locale)
        shown = ""
        for path in ("/policy/tiers", "/policy/approvals", "/policy/alert-routes"):
            page = manager.get(path)
            assert page.status_code == 200, (path, page.text)
            assert "policy." not in _main(page.text), (path, locale)  # no raw keys
            assert 'id="nav-policy"' in page.text
            shown += page.text
        for word in words:
            assert word in shown, (locale, word)
    # Editors for those who hold the permission; others read (or see no link at all).
    assert 'id="tier-form-critical"' in manager.get("/policy/tiers").text
    analyst = client_for("analyst")
    tiers = analyst.get("/policy/tiers").text
    assert 'id="tier-form-critical"' not in tiers and 'id="nav-policy"' in tiers
    assert 'id="new-route"' in analyst.get("/policy/alert-routes").text
    approvals = analyst.get("/policy/approvals").text
    assert 'id="new-authority"' not in approvals and 'id="new-delegation"' in approvals
    sales = client_for("sales")
    page = sales.get("/policy/approvals")
    assert page.status_code == 200 and 'id="nav-policy"' not in page.text
    assert 'id="new-delegation"' not in page.text
    assert sales.post("/policy/tiers/low", data={"limit_multiplier": "1"}).status_code == 403
    assert analyst.post("/policy/tiers/low", data={"limit_multiplier": "1"}).status_code == 403
    assert sales.post("/policy/alert-routes", data={}).status_code == 403


def _form(html: str, form_id: str) -> dict[str, str]:
    form = html.split(f'id="{form_id}"', 1)[1].split("</form>", 1)[0]
    values = dict(re.findall(r'<input name="([a-z_]+)" value="([^"]*)"', form))
    for name in re.findall(r'<input type="checkbox" name="([a-z_]+)" value="on" checked', form):
        values[name] = "on"
    return values


def test_a_tier_edited_then_saved_again_changes_nothing(db, client_for) -> None:  # type: ignore[no-untyped-def]
    manager = client_for("manager")
    data = _form(manager.get("/policy/tiers").text, "tier-form-high")
    assert data["review_months"] == "3"
    data |= {"review_months": "2", "payment_terms_days": "25", "max_limit": "800000"}
    saved = manager.post("/policy/tiers/high", data=data, follow_redirects=False)
    assert saved.status_code == 303 and "done=saved" in saved.headers["location"]
    policy = db.get(TierPolicy, "high")
    db.refresh(policy)
    assert (policy.review_months, policy.payment_terms_days) == (2, 25)
    assert policy.max_limit == 800000
    stamp = policy.updated_at
    again = manager.post("/policy/tiers/high", data=data, follow_redirects=False)
    assert "done=unchanged" in again.headers["location"]
    db.refresh(policy)
    assert policy.updated_at == stamp
    page = manager.get(again.headers["location"]).text
    row = page.split('id="tier-high"', 1)[1].split("</tr>", 1)[0]
    assert "every 2 months" in row or "每 2 个月" in row


def test_a_tiers_bad_fields_are_named_next_to_each_field(db, client_for) -> None:  # type: ignore[no-untyped-def]
    manager = client_for("manager")
    data = _form(manager.get("/policy/tiers").text, "tier-form-low")
    bad = data | {"limit_multiplier": "lots", "review_months": "0", "min_limit": "5000"}
    bad["max_limit"] = "100"
    for locale, words in (
        ("en", ("Limit multiple", "Review every (months)")),
        ("zh-CN", ("额度倍数", "复审周期（月）")),
    ):
        manager.cookies.set(LANG_COOKIE, locale)
        page = manager.post("/policy/tiers/low", data=bad)
        assert page.status_code == 422, page.text
        assert 'id="form-errors"' in page.text and '<details id="edit-low" open' in page.text
        for name in ("limit_multiplier", "review_months"):
            assert f'id="field-error-{name}"' in page.text, (locale, name)
        for word in words:
            assert word in page.text
        assert 'value="lots"' in page.text  # what was typed stays in the form
    # The cross-field check names its field.
    page = manager.post("/policy/tiers/low", data=data | {"min_limit": "5000", "max_limit": "1"})
    assert page.status_code == 422 and 'id="field-error-max_limit"' in page.text
    assert "不能低于最低额度" in page.text
    policy = db.get(TierPolicy, "low")
    db.refresh(policy)
    assert policy.review_months == 12  # nothing was written
    bogus = manager.post("/policy/tiers/bogus", data=data)
    assert bogus.status_code == 404 and "<html" in bogus.text


def test_the_approval_matrix_add_again_and_remove(db, client_for) -> None:  # type: ignore[no-untyped-def]
    manager = client_for("manager")
    manager.cookies.set(LANG_COOKIE, "en")
    rows = lambda: db.scalars(select(ApprovalAuthority)).all()  # noqa: E731
    before = len(rows())
    form = {"username": "analyst", "tier": "high", "max_limit": "250000"}
    first = manager.post("/policy/authorities", data=form, follow_redirects=False)
    assert first.status_code == 303 and "done=added" in first.headers["location"]
    again = manager.post("/policy/authorities", data=form, follow_redirects=False)
    assert again.status_code == 303
    db.expire_all()
    assert len(rows()) == before + 1
    added = next(r for r in rows() if r.tier == "high" and r.user_id is not None)
    page = manager.get("/policy/approvals").text
    assert f'id="authority-{added.id}"' in page and "250,000.00" in page
    both = manager.post("/policy/authorities", data=form | {"role": "sales"})
    assert both.status_code == 422 and 'id="field-error-username"' in both.text
    nobody = manager.post("/policy/authorities", data={"username": "nobody", "max_limit": "1"})
    assert nobody.status_code == 404 and 'id="field-error-username"' in nobody.text
    removed = manager.post(f"/policy/authorities/{added.id}/remove", follow_redirects=False)
    assert removed.status_code == 303
    twice = manager.post(f"/policy/authorities/{added.id}/remove")
    assert twice.status_code == 404 and 'id="form-errors"' in twice.text
    db.expire_all()
    assert len(rows()) == before


def test_a_delegation_given_again_and_revoked(db, client_for) -> None:  # type: ignore[no-untyped-def]
    manager = client_for("manager")
    start = today()
    form = {
        "to_username": "manager2",
        "valid_from": start.isoformat(),
        "valid_to": (start + dt.timedelta(days=14)).isoformat(),
        "reason": "holiday",
    }
    first = manager.post("/policy/delegations", data=form, follow_redirects=False)
    assert first.status_code == 303, first.text
    again = manager.post("/policy/delegations", data=form, follow_redirects=False)
    assert "done=unchanged" in again.headers["location"]
    found = db.scalars(select(ApprovalDelegation)).all()
    assert len(found) == 1
    # The colleague sees it and cannot revoke it; the giver can, twice with no harm.
    other = client_for("manager2").get("/policy/approvals").text
    assert f'id="delegation-{found[0].id}"' in other
    assert "revoke-delegation" not in other.split(f'id="delegation-{found[0].id}"')[1][:800]
    for _ in range(2):
        done = manager.post(f"/policy/delegations/{found[0].id}/revoke", follow_redirects=False)
        assert done.status_code == 303
    db.refresh(found[0])
    assert found[0].revoked_at is not None
    manager.cookies.set(LANG_COOKIE, "zh-CN")
    backwards = manager.post(
        "/policy/delegations", data=form | {"valid_to": (start - dt.timedelta(days=1)).isoformat()}
    )
    assert backwards.status_code == 422 and "不能早于起始日期" in backwards.text
    to_sales = manager.post("/policy/delegations", data=form | {"to_username": "sales"})
    assert to_sales.status_code == 422 and "此人的角色不能审批额度申请" in to_sales.text
    assert client_for("sales").post("/policy/delegations", data=form).status_code == 403


def test_alert_routes_add_again_remove_and_the_slas(db, client_for) -> None:  # type: ignore[no-untyped-def]
    analyst = client_for("analyst")
    analyst.cookies.set(LANG_COOKIE, "en")
    page = analyst.get("/policy/alert-routes").text
    assert 'id="sla-critical"' in page and "4 hours" in page and "168 hours" in page
    form = {
        "position": "5",
        "category": "payment",
        "min_severity": "high",
        "assign_to_owner": "on",
        "username": "analyst",
        "escalate_to": "manager2",
    }
    for _ in range(2):
        answer = analyst.post("/policy/alert-routes", data=form, follow_redirects=False)
        assert answer.status_code == 303, answer.text
    routes = db.scalars(select(AlertRoute)).all()
    assert len(routes) == 1
    page = analyst.get("/policy/alert-routes").text
    assert f'id="route-{routes[0].id}"' in page
    nobody = analyst.post("/policy/alert-routes", data={"position": "1"})
    assert nobody.status_code == 422 and 'id="field-error-username"' in nobody.text
    analyst.cookies.set(LANG_COOKIE, "zh-CN")
    bad = analyst.post("/policy/alert-routes", data=form | {"position": "-1"})
    assert bad.status_code == 422 and 'id="field-error-position"' in bad.text
    assert "序号" in bad.text
    gone = analyst.post(f"/policy/alert-routes/{routes[0].id}/remove", follow_redirects=False)
    assert gone.status_code == 303
    assert analyst.post(f"/policy/alert-routes/{routes[0].id}/remove").status_code == 404
    db.expire_all()
    assert db.scalars(select(AlertRoute)).all() == []


def test_the_review_queue_horizon_is_kept_in_the_url(client_for) -> None:  # type: ignore[no-untyped-def]
    manager = client_for("manager")
    page = manager.get("/reviews").text
    assert 'id="horizon-days"' in page and 'value="60"' in page
    assert 'class="horizon-choice active" id="horizon-60"' in page
    page = manager.get("/reviews?horizon=7&region=east").text
    assert 'class="horizon-choice active" id="horizon-7"' in page
    assert 'href="/reviews?region=east&amp;horizon=90"' in page
    assert '<input type="hidden" name="region" value="east">' in page
    assert manager.get("/reviews?horizon=999").status_code == 422


def test_the_default_horizon_shows_a_monthly_review_due_in_31_days(db, client_for) -> None:  # type: ignore[no-untyped-def]
    """The demo's critical customers are scheduled a month ahead (31 days from the 7th of
    December): the page's default horizon holds them, 30 days would not."""
    from tests.policy.test_policy import _customers
    from tests.policy.test_reviews import _tier

    ids = _customers(db)
    _tier(db, ids["H1"], "critical", next_review_date=today() + dt.timedelta(days=31))
    manager = client_for("manager")
    assert f'id="due-{ids["H1"]}"' in manager.get("/reviews").text
    assert f'id="due-{ids["H1"]}"' not in manager.get("/reviews?horizon=30").text


def test_an_sla_edited_in_the_page_in_both_languages(db, client_for) -> None:  # type: ignore[no-untyped-def]
    analyst = client_for("analyst")

    def row(html: str, severity: str) -> str:
        return html.split(f'id="sla-{severity}"', 1)[1].split("</tr>", 1)[0]

    for locale, label, field, reason, applies in (
        ("en", "Critical", "Time to act (hours)", "valid integer", "raised from then on"),
        ("zh-CN", "严重", "处理时限（小时）", "必须是整数", "此后产生的预警"),
    ):
        analyst.cookies.set(LANG_COOKIE, locale)
        page = analyst.get("/policy/alert-routes").text
        shown = row(page, "critical")
        assert f'<td class="severity">{label}</td>' in shown
        assert 'id="sla-form-critical"' in shown and 'value="4"' in shown
        assert applies in page
        # A wrong value: named on the field of its row, in the reader's language; kept there.
        bad = analyst.post("/policy/alert-slas/critical", data={"hours": "1.5"})
        assert bad.status_code == 422, bad.text
        summary = bad.text.split('id="form-errors"', 1)[1].split("</div></div>", 1)[0]
        assert field in summary and reason in summary
        shown = row(bad.text, "critical")
        assert 'id="field-error-hours"' in shown and 'value="1.5"' in shown
        assert 'aria-invalid="true"' in shown
        assert 'id="field-error-hours"' not in row(bad.text, "high")
        too_long = analyst.post("/policy/alert-slas/critical", data={"hours": "2161"})
        assert too_long.status_code == 422 and 'id="field-error-hours"' in too_long.text
        empty = analyst.post("/policy/alert-slas/critical", data={"hours": " "})
        assert empty.status_code == 422 and 'id="field-error-hours"' in empty.text
    assert db.get(AlertSla, "critical").hours == 4  # nothing was written
    saved = analyst.post("/policy/alert-slas/critical", data={"hours": "6"}, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"].endswith("done=saved#sla")
    sla = db.get(AlertSla, "critical")
    db.refresh(sla)
    assert sla.hours == 6 and sla.updated_by_id is not None
    stamp = sla.updated_at
    again = analyst.post("/policy/alert-slas/critical", data={"hours": "6"}, follow_redirects=False)
    assert "done=unchanged" in again.headers["location"]
    db.refresh(sla)
    assert sla.updated_at == stamp
    analyst.cookies.set(LANG_COOKIE, "en")
    page = analyst.get(saved.headers["location"]).text
    assert "6 hours" in row(page, "critical") and "analyst" in row(page, "critical")
    assert "As shipped" in row(page, "high")
    # The others read the table, without a form; posting is refused.
    for name in ("sales", "auditor"):
        other = client_for(name)
        page = other.get("/policy/alert-routes").text
        assert 'id="sla-critical"' in page and "sla-form" not in page
        assert 'id="sla-read-only"' in page
        assert other.post("/policy/alert-slas/critical", data={"hours": "5"}).status_code == 403
    bogus = analyst.post("/policy/alert-slas/bogus", data={"hours": "5"})
    assert bogus.status_code == 404 and "<html" in bogus.text
