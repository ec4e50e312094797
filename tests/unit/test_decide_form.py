"""The four-eyes decision is one form, drawn by one macro on every desk that decides a request."""

from __future__ import annotations

import re
from pathlib import Path

from jinja2 import Environment

from riskdesk.ui.i18n import Translator
from riskdesk.ui.render import templates

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "riskdesk" / "ui" / "templates"
MACRO = TEMPLATES / "partials" / "lists.html"


def _form(call: str, locale: str = "en") -> str:
    env: Environment = templates.env
    source = '{% import "partials/lists.html" as lists with context %}' + call
    return env.from_string(source).render(t=Translator(locale), csrf_token="tok")


def _buttons(html: str) -> list[tuple[str, str]]:
    """(class, formaction or the form's action) of every button, in order."""
    return re.findall(r'<button type="submit" class="([^"]*)"(?: formaction="([^"]*)")?', html)


def test_another_persons_request_is_approved_or_rejected_with_a_comment() -> None:
    html = _form('{{ lists.decide_form("/approvals/7", false, true) }}')
    assert 'name="comment"' in html and 'placeholder="Comment"' in html
    assert _buttons(html) == [
        ("primary approve", "/approvals/7/approve"),
        ("danger reject", "/approvals/7/reject"),
    ]
    assert _form('{{ lists.decide_form("/approvals/7", false, false) }}').strip() == ""


def test_ones_own_request_is_withdrawn_even_without_the_right_to_approve() -> None:
    html = _form('{{ lists.decide_form("/approvals/7", true, false) }}', "zh-CN")
    assert "这是您本人的申请" in html
    assert 'action="/approvals/7/reject"' in html and "撤回" in html
    assert "approve" not in html and 'name="comment"' not in html


def test_where_the_author_may_not_decide_only_the_note_is_shown() -> None:
    call = '{{ lists.decide_form("/group-limit-changes/3", %s, true, own_may="nothing") }}'
    own = _form(call % "true")
    assert "Your own request" in own and "<form" not in own
    other = _form(call % "false")
    assert 'name="comment"' in other  # a group limit decision takes a comment (0050)
    assert [c for c, _ in _buttons(other)] == ["primary approve", "danger reject"]


def test_a_held_order_is_released_rejected_or_rechecked_with_a_reason() -> None:
    call = (
        '{{ lists.decide_form("/worklist/5", %s, true, own_may="reject",'
        ' own_note="credit.placed_by_you", note="reason", approve=("release", "credit.release"),'
        ' reject_label="credit.reject", more=[("recheck", "credit.recheck")]) }}'
    )
    other = _form(call % "false", "zh-CN")
    assert 'name="reason"' in other and 'placeholder="原因"' in other
    assert _buttons(other) == [
        ("primary release", "/worklist/5/release"),
        ("danger reject", "/worklist/5/reject"),
        ("recheck", "/worklist/5/recheck"),
    ]
    assert "放行" in other and "重新检查" in other
    own = _form(call % "true")
    assert "You placed this order" in own
    assert [c for c, _ in _buttons(own)] == ["danger reject", "recheck"]


def test_no_template_hand_rolls_an_approve_or_reject_form() -> None:
    """A page that decides a request calls the macro: its own approve / reject buttons would
    drift from the others' labels and four-eyes behaviour."""
    own_forms = {
        path.relative_to(TEMPLATES).as_posix()
        for path in TEMPLATES.rglob("*.html")
        if path != MACRO
        and re.search(r'formaction="[^"]*/(approve|reject|release)"', path.read_text("utf-8"))
    }
    assert own_forms == set()
