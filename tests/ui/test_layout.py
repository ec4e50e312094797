"""Layout that a look at the pages found broken, measured in a real browser at 1280 px in both
languages: the alert queue's assignee, a rule's severity cap and window, a complaint's category
and product read on one line; the complaint desk's description header heads its own column; a
case's alerts are apart; the customer search shows its whole placeholder. Set
RISKDESK_SCREENSHOTS to a directory to keep the shots."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from riskdesk.alerts import service as alert_service
from riskdesk.customers import repository as customer_repo
from riskdesk.db import unit_of_work
from riskdesk.kit.timeutil import utcnow
from riskdesk.models import Alert, User
from riskdesk.monitoring import service as monitoring_service
from riskdesk.monitoring.schemas import RuleIn
from riskdesk.pipeline import intake
from riskdesk.security import service as security_service
from tests.ui.conftest import _FACTORIES, new_context, shot
from tests.ui.test_alert_queue import _sign_in

pytestmark = pytest.mark.browser
LOCALES = ("en-US", "zh-CN")

# How many lines an element's text takes: line boxes whose tops differ by more than a few px.
LINES = """el => {
  const range = document.createRange();
  range.selectNodeContents(el);
  const tops = [...range.getClientRects()].filter(r => r.width > 0).map(r => r.top);
  tops.sort((a, b) => a - b);
  let lines = 0, last = -1e9;
  for (const top of tops) { if (top - last > 6) { lines += 1; last = top; } }
  return lines;
}"""


@pytest.fixture(scope="module")
def seeded(live_server: str) -> dict[str, int]:
    """Two open alerts of one customer (one case), assigned to a salesperson with a two-word
    name, and two complaints with a category, a product code and no description."""
    with unit_of_work(_FACTORIES[live_server]) as session:
        session.execute(
            update(User).where(User.username == "sales").values(display_name="销售 Wang Fang")
        )
        sales = security_service.get_user_by_username_or_raise(session, "sales")
        manager = security_service.get_user_by_username_or_raise(session, "manager")
        refs = customer_repo.customer_ids_by_ref(session, {("erp", "W1")})
        cid = next(iter(refs.values()))
        start = utcnow() - dt.timedelta(hours=1)
        for i in range(2):
            alert_service.raise_hits(
                session,
                [(cid, {"dpd_max": 40 + i})],
                source="rule",
                code=f"layout_test_{i}",
                category="payment",
                warning_type="payment_deterioration",
                severity="high",
                titles=("Layout test", "版式测试"),
                dedup_days=0,
                version_id=None,
                now=start + dt.timedelta(minutes=i),
            )
        session.flush()
        alerts = list(session.scalars(select(Alert).where(Alert.rule_code.like("layout_test_%"))))
        for alert in alerts:
            alert.assigned_to_id = sales.id
        opened = (utcnow() - dt.timedelta(hours=2)).isoformat()
        intake.ingest(
            session,
            security_service.system_principal(session, manager),
            "complaints",
            [
                {"source": "erp", "external_id": f"LK{i}", "customer_external_id": "W1",
                 "severity": "medium", "opened_at": opened, "category": "delivery",
                 "product": "OFFC-001"}
                for i in range(2)
            ],
        )  # fmt: skip
        # A rule whose long expression leaves its severity cap and window little room.
        long = " or ".join(f"dpd_max > {n} and ar_open_total > {n * 1000}" for n in range(30, 38))
        rule = monitoring_service.create_rule(
            session,
            security_service.system_principal(session, manager),
            RuleIn(code="layout_long", name_en="Long rule", name_zh="长规则",
                   category="payment", severity="high", expression=long,
                   dedup_days=60).model_dump(),
        )  # fmt: skip
        assert rule is not None
        case_id = alerts[0].case_id
        assert case_id is not None and all(a.case_id == case_id for a in alerts)
        return {"case": case_id, "alert": alerts[0].id}


def _lines(page, selector: str) -> int:  # type: ignore[no-untyped-def]
    return int(page.locator(selector).first.evaluate(LINES))


@pytest.mark.parametrize("locale", LOCALES)
def test_short_values_read_on_one_line(browser, live_server, seeded, locale) -> None:  # type: ignore[no-untyped-def]
    page = new_context(browser, locale).new_page()
    _sign_in(page, live_server, "manager")
    page.goto(f"{live_server}/alerts?code=layout_test_0")
    assert _lines(page, f"#alert-{seeded['alert']} td.assignee") == 1
    shot(page, f"layout-alerts-{locale}")
    page.goto(f"{live_server}/rules")
    for cell in ("td.severity", "td.dedup"):
        assert _lines(page, f"#rule-layout_long tr.version {cell}") == 1, cell
    shot(page, f"layout-rules-{locale}")
    page.goto(f"{live_server}/complaints")
    row = page.locator("#complaint-desk tbody tr").first
    for cell in ("td.category", "td.product"):
        assert int(row.locator(cell).evaluate(LINES)) == 1, cell
    # The description header heads the description, not the reply box beside it.
    header = page.locator("#complaint-desk th.description").bounding_box()
    reply = row.locator("input[name=response]").bounding_box()
    assert header is not None and reply is not None
    assert header["x"] + header["width"] <= reply["x"], (header, reply)
    assert header["width"] >= 100, header
    shot(page, f"layout-complaints-{locale}")
    page.context.close()


@pytest.mark.parametrize("locale", LOCALES)
def test_a_case_keeps_its_alerts_apart(browser, live_server, seeded, locale) -> None:  # type: ignore[no-untyped-def]
    page = new_context(browser, locale).new_page()
    _sign_in(page, live_server, "manager")
    page.goto(f"{live_server}/cases/{seeded['case']}")
    items = page.locator("#case-alerts article.alert-item")
    assert items.count() >= 2
    for i in range(items.count() - 1):
        buttons = items.nth(i).locator("form.alert-actions").bounding_box()
        heading = items.nth(i + 1).locator("h3").bounding_box()
        assert buttons is not None and heading is not None
        assert heading["y"] - (buttons["y"] + buttons["height"]) >= 16, (i, buttons, heading)
    shot(page, f"layout-case-{locale}")
    page.context.close()


# The placeholder's text width against the room inside the box, in the box's own font.
PLACEHOLDER_FITS = """el => {
  const style = getComputedStyle(el);
  const ctx = document.createElement("canvas").getContext("2d");
  ctx.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
  const room = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return [ctx.measureText(el.placeholder).width, room];
}"""


@pytest.mark.parametrize("locale", LOCALES)
def test_the_customer_search_shows_its_whole_placeholder(browser, live_server, locale) -> None:  # type: ignore[no-untyped-def]
    page = new_context(browser, locale).new_page()
    _sign_in(page, live_server, "manager")
    page.goto(f"{live_server}/customers")
    text, room = page.locator("#customer-search").evaluate(PLACEHOLDER_FITS)
    assert text <= room, (locale, text, room)
    shot(page, f"layout-customers-{locale}")
    page.context.close()
