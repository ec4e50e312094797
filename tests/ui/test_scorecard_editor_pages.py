"""The scorecard editor's pages (TestClient): a new scorecard from the form, a draft copied from
the active version, an invalid bin refused next to its field in both languages, the live
preview (nothing saved), saving (twice: no change), a stale edit, and four-eyes approval."""

from __future__ import annotations

import re
from typing import Any

from riskdesk.models import ScorecardVersion
from riskdesk.ui.i18n import LANG_COOKIE
from riskdesk.ui.scorecard_pages import state_of
from tests.scoring.test_service import _active, _portfolio, card
from tests.ui.visible_text import leaks


def form_of(definition: dict[str, Any], **extra: str) -> dict[str, str]:
    """The editor's form fields holding a definition, as the browser posts them."""
    state = state_of(definition)
    form: dict[str, str] = {
        "base_points": state["base_points"],
        "reason_count": state["reason_count"],
        "note": state["note"],
    }
    for i, f in enumerate(state["factors"]):
        for key in ("code", "input", "label_en", "label_zh", "kind", "missing_points"):
            form[f"factors.{i}.{key}"] = f[key]
        if f["kind"] == "weight":
            for key, value in f["weight"].items():
                form[f"factors.{i}.weight.{key}"] = value
        for j, b in enumerate(f["bins"]):
            for key, value in b.items():
                form[f"factors.{i}.bins.{j}.{key}"] = value
    for section in ("ratings", "tiers"):
        for k, b in enumerate(state[section]):
            for key, value in b.items():
                form[f"{section}.{k}.{key}"] = value
    return form | extra


def _stamp(page: str) -> str:
    found = re.search(r'name="draft_stamp" value="([^"]*)"', page)
    assert found is not None
    return found.group(1)


def _errors(page: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for field, text in re.findall(
        r'<span class="field-error" role="alert" data-field="([^"]+)">([^<]*)</span>', page
    ):
        found.setdefault(field, []).append(text)
    return found


def _no_leaks(client: Any, url: str) -> None:
    for locale in ("zh-CN", "en"):
        client.cookies.set(LANG_COOKIE, locale)
        page = client.get(url)
        assert page.status_code == 200, (url, locale, page.text[:500])
        assert leaks(page.text, locale) == [], (url, locale, leaks(page.text, locale))
    client.cookies.set(LANG_COOKIE, "en")


def test_a_new_scorecard_from_the_form_then_a_second_person_approves(db, client_for) -> None:  # type: ignore[no-untyped-def]
    manager = client_for("manager")
    _no_leaks(manager, "/scorecards/new")
    assert client_for("sales").get("/scorecards/new").status_code == 403
    body = card("ui_card")
    form = form_of(body["definition"]) | {
        "code": "ui_card",
        "name": "界面评分卡",
        "customer_kind": "company",
        "segments": "",
        "priority": "",
        "op": "save",
    }
    # A row added: the form comes back with it, nothing is saved.
    more = manager.post("/scorecards/new", data=form | {"op": "add_bin:0"})
    assert more.status_code == 200 and 'name="factors.0.bins.3.points"' in more.text
    assert db.query(ScorecardVersion).count() == 0
    # A bad code: refused next to the field, in the page's language.
    manager.cookies.set(LANG_COOKIE, "zh-CN")
    bad = manager.post("/scorecards/new", data=form | {"code": "Bad Code"})
    assert bad.status_code == 422 and 'id="form-errors"' in bad.text
    assert _errors(bad.text)["code"] == ["不是允许的值"]
    manager.cookies.set(LANG_COOKIE, "en")
    created = manager.post("/scorecards/new", data=form, follow_redirects=False)
    assert created.status_code == 303, created.text[:2000]
    draft_url = created.headers["location"].split("?")[0]
    assert created.headers["location"].endswith("?done=created")
    _no_leaks(manager, draft_url)
    # The same form again: the same draft; another scorecard under that code: refused by the code.
    again = manager.post("/scorecards/new", data=form, follow_redirects=False)
    assert again.headers["location"].split("?")[0] == draft_url
    clash = manager.post("/scorecards/new", data=form | {"name": "另一张"})
    assert clash.status_code == 409 and "exists already" in _errors(clash.text)["code"][0]
    version = db.query(ScorecardVersion).one()
    assert version.status == "draft" and version.definition["factors"][0]["name"] == "dpd_max"
    # The author may not approve it; a second manager does, on the scorecards page.
    own = manager.post(f"/scorecard-versions/{version.id}/approve", follow_redirects=False)
    assert own.status_code == 403
    ok = client_for("manager2").post(
        f"/scorecard-versions/{version.id}/approve", follow_redirects=False
    )
    assert ok.status_code == 303
    db.refresh(version)
    assert version.status == "active"
    # An approved version is no longer edited: a clear refusal, not a 500.
    gone = manager.get(draft_url)
    assert gone.status_code == 409 and 'id="error-page"' in gone.text


def test_edit_a_draft_with_preview_save_stale_edit_and_four_eyes(db, manager, client_for) -> None:  # type: ignore[no-untyped-def]
    _portfolio(db)
    _active(db, client_for, manager, card())
    assert manager.post("/api/v1/scoring-runs", json={}).status_code == 201
    ui = client_for("analyst")
    ui.cookies.set(LANG_COOKIE, "en")
    scorecards = ui.get("/scorecards")
    assert 'action="/scorecards/b2b/drafts"' in scorecards.text
    copied = ui.post("/scorecards/b2b/drafts", follow_redirects=False)
    assert copied.status_code == 303 and copied.headers["location"].endswith("?done=copied")
    url = copied.headers["location"].split("?")[0]
    # Asking again opens the same draft.
    assert ui.post("/scorecards/b2b/drafts", follow_redirects=False).headers["location"] == url
    versions = manager.get("/api/v1/scorecards/b2b").json()["versions"]
    draft, active = versions[0], versions[1]
    assert draft["status"] == "draft" and draft["definition"] == active["definition"]
    page = ui.get(url)
    assert page.status_code == 200
    stamp = _stamp(page.text)
    definition = draft["definition"]

    # LATE is 45 days past due: moving the 31-day edge to 50 gives it 200 more points.
    form = form_of(definition, draft_stamp=stamp, op="save")
    moved = form | {"factors.0.bins.1.upper": "50", "factors.0.bins.2.lower": "50"}
    # A bin that does not start where the one before it ends: refused next to that field,
    # nothing saved, and in Chinese on a Chinese page.
    gap = form | {"factors.0.bins.2.lower": "60"}
    refused = ui.post(url, data=gap)
    assert refused.status_code == 422
    errors = _errors(refused.text)
    assert errors == {
        "factors.0.bins.2.lower": ["bin 3: must start where the bin before it ends (31)"]
    }
    ui.cookies.set(LANG_COOKIE, "zh-CN")
    refused = ui.post(url, data=gap | {"factors.0.bins.0.points": "很多"})
    assert _errors(refused.text) == {
        "factors.0.bins.0.points": ["必须是整数"],
    }
    refused = ui.post(url, data=gap)
    assert _errors(refused.text) == {
        "factors.0.bins.2.lower": ["分档 3：下限必须等于上一档的上限（31）"]
    }
    assert "因子 1 · 分档 3 · 下限（含）" in refused.text
    assert leaks(refused.text, "zh-CN", ("B2B scorecard",)) == []  # its name, as entered
    ui.cookies.set(LANG_COOKIE, "en")
    assert manager.get("/api/v1/scorecards/b2b").json()["versions"][0]["definition"] == definition

    # The live preview: the draft as it is in the form, beside the current ratings.
    preview = ui.post(f"{url}/preview", data=moved)
    assert preview.status_code == 200 and 'id="preview-tiers"' in preview.text
    assert "Risk tier: 1 safer, 0 riskier, 1 unchanged." in preview.text
    assert "Rating: 1 up, 0 down, 1 unchanged." in preview.text
    assert re.search(r'data-tier="high">.*?class="num proposed">1<', preview.text, re.S)
    unchanged = ui.post(f"{url}/preview", data=form)
    assert "Risk tier: 0 safer, 0 riskier, 2 unchanged." in unchanged.text
    invalid = ui.post(f"{url}/preview", data=gap)
    assert 'id="preview-invalid"' in invalid.text and "Factor 1 · Bin 3" in invalid.text
    ui.cookies.set(LANG_COOKIE, "zh-CN")
    zh = ui.post(f"{url}/preview", data=moved)
    assert "风险等级：1 位更安全" in zh.text and leaks(zh.text, "zh-CN") == []
    ui.cookies.set(LANG_COOKIE, "en")
    # Previewing saves nothing.
    assert manager.get("/api/v1/scorecards/b2b").json()["versions"][0]["definition"] == definition

    # Save: the draft stays a draft; the same save again changes nothing.
    saved = ui.post(url, data=moved, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == f"{url}?done=saved"
    again = ui.post(url, data=moved, follow_redirects=False)
    assert again.headers["location"] == f"{url}?done=unchanged"
    stored = manager.get("/api/v1/scorecards/b2b").json()["versions"][0]
    assert stored["status"] == "draft"
    assert stored["definition"]["factors"][0]["bins"][1] == {"lower": 1, "upper": 50, "points": 200}

    # A stale edit: someone saved since this form was opened.
    other = client_for("manager2")
    fresh = _stamp(other.get(url).text)
    assert (
        other.post(
            url,
            data=form_of(stored["definition"], draft_stamp=fresh, base_points="190"),
            follow_redirects=False,
        ).status_code
        == 303
    )
    stale = ui.post(url, data=moved | {"base_points": "180"})
    assert stale.status_code == 409 and "Someone changed this draft" in stale.text
    ui.cookies.set(LANG_COOKIE, "zh-CN")
    stale = ui.post(url, data=moved | {"base_points": "180"})
    assert stale.status_code == 409 and "已有他人修改" in stale.text
    ui.cookies.set(LANG_COOKIE, "en")
    assert (
        manager.get("/api/v1/scorecards/b2b").json()["versions"][0]["definition"]["base_points"]
        == 190
    )

    # Submit: to the scorecards page, where a second person approves; not the editors.
    current = ui.get(url)
    submitted = ui.post(
        url,
        data=form_of(stored["definition"], draft_stamp=_stamp(current.text), base_points="190")
        | {"op": "submit"},
        follow_redirects=False,
    )
    assert submitted.status_code == 303
    assert submitted.headers["location"].startswith(
        f"/scorecards?done={draft['id']}&status=submitted"
    )
    assert "Submitted for approval" in ui.get(submitted.headers["location"]).text
    for editor in (manager2 := other, ui):
        refused = editor.post(f"/scorecard-versions/{draft['id']}/approve", follow_redirects=False)
        assert refused.status_code == 403, editor
    assert manager2 is other
    approved = manager.post(f"/scorecard-versions/{draft['id']}/approve", follow_redirects=False)
    assert approved.status_code == 303
    # Approved meanwhile: the editor's save is refused with a message, not a 500.
    late = ui.post(url, data=moved | {"base_points": "170"})
    assert late.status_code == 409 and 'id="error-page"' in late.text
    assert "no longer a draft" in late.text
