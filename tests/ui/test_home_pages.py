"""Each role's home page in a real browser: signing in lands on it, its charts are drawn in
both languages (a canvas, and ECharts holding the figures), and a figure opens the list
behind it, filtered. Set RISKDESK_SCREENSHOTS to a directory to keep full-page shots."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from riskdesk.db import unit_of_work
from riskdesk.models.customers import customer_code
from riskdesk.security import service as security_service
from riskdesk.security.permissions import Role
from tests.conftest import PASSWORD
from tests.home.seed import HomeBook, seed_home
from tests.ui.conftest import _FACTORIES, landing, new_context, shot

pytestmark = pytest.mark.browser
SERIES = """id => echarts.getInstanceByDom(document.getElementById(id)).getOption().series
                .map(s => s.data.map(d => d !== null && typeof d === "object" ? d.value : d))"""
# How far below the chart's top the tallest bar ends, in a bar chart with its figures written
# above the bars (null for other charts).
TALLEST_TOP = """id => {
    const chart = echarts.getInstanceByDom(document.getElementById(id));
    const s = chart.getOption().series[0];
    if (s.type !== "bar" || !s.label || !s.label.show || s.label.position !== "top") return null;
    const values = s.data.map(d => d !== null && typeof d === "object" ? d.value : d);
    const i = values.indexOf(Math.max(...values));
    return chart.convertToPixel({seriesIndex: 0}, [i, values[i]])[1];
}"""
LABEL_ROOM = 17  # ECharts' 12 px label, 5 px above its bar


@pytest.fixture(scope="module")
def book(live_server: str) -> HomeBook:
    """The home pages' book, written once into the live server's database."""
    with unit_of_work(_FACTORIES[live_server]) as session:
        for username, role, team in (
            ("sales2", Role.SALES, "north"),
            ("service", Role.CUSTOMER_SERVICE, "east"),
        ):
            security_service.create_user(
                session,
                username=username,
                display_name=username,
                role=role,
                password=PASSWORD,
                team=team,
            )
        return seed_home(session)


@dataclass(frozen=True)
class Home:
    """What a role's home shows, and one drill-down to follow."""

    user: str
    titles: tuple[str, str]  # zh-CN, en
    charts: tuple[str, ...]
    link: str  # the figure to click
    lands: str  # where it leads (a pattern)
    rows: str  # the rows of the list it opens


HOMES = (
    Home(
        "analyst", ("我的预警工作台", "My alert desk"), ("by-code", "sla"),
        "#kpi-open", r".*/alerts\?assigned=me$", "#alert-queue tbody tr[id^=alert-]",
    ),
    Home(
        "sales", ("我的客户", "My customers"), ("utilisation", "ageing"),
        "#kpi-held", r".*/worklist$", ".held-order",
    ),
    Home(
        "service", ("客服工作台", "Customer service desk"), ("complaints", "satisfaction"),
        "#kpi-open-breached", r".*/complaints\?breached=true$", "#complaint-desk tbody tr[id]",
    ),
    Home(
        "auditor", ("审计概览", "Audit overview"), ("activity", "approvals", "reveals"),
        "#all-reveals", r".*/audit\?action=reveal&since=.*", "#audit-entries tr.entry",
    ),
    Home(
        "admin", ("系统概览", "System overview"), ("jobs", "deliveries"),
        "#kpi-jobs-failed", r".*/jobs\?status=failed&since=.*", "#jobs tbody tr",
    ),
)  # fmt: skip
# The worklist also lists the held order of sales' merged customer, which the figure (the
# portfolio's count, over live customers) leaves out: a known difference between the two.
# The job list opened from the tile holds the jobs failed in the same 24 hours (not the one of
# two days ago), but the live server's job workers may take up (and fail) the seeded queued
# and running jobs meanwhile: at least the one.
EXPECTED_ROWS = {"analyst": 3, "sales": 2, "service": 2, "auditor": 3, "admin": None}


def _sign_in(page, base: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation(url=landing(username)):
        page.click("button[type=submit]")


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
@pytest.mark.parametrize("home", HOMES, ids=[h.user for h in HOMES])
def test_each_role_lands_on_its_home(
    browser, live_server: str, book: HomeBook, home: Home, locale: str
) -> None:  # type: ignore[no-untyped-def]
    context = new_context(browser, "zh-CN" if locale == "zh-CN" else "en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _sign_in(page, live_server, home.user)
    assert page.inner_text("h1") == home.titles[0 if locale == "zh-CN" else 1]
    assert page.locator("#nav-home.active").inner_text() == (
        "首页" if locale == "zh-CN" else "Home"
    )
    for chart in home.charts:
        assert page.locator(f"#chart-{chart} canvas").count() == 1, chart
        data = page.evaluate(SERIES, f"chart-{chart}")
        assert any(v for series in data for v in series if v), (chart, data)
        # The tallest bar's figure is not cut off by the top of the canvas.
        top = page.evaluate(TALLEST_TOP, f"chart-{chart}")
        assert top is None or top >= LABEL_ROOM, (chart, top)
    main = page.inner_text("main")
    assert "home." not in main and "portfolio." not in main  # no raw keys
    assert not re.search(r"\d[eE][+-]?\d", main)  # no scientific notation
    if locale == "zh-CN":  # no English enum values in the Chinese page
        assert not re.search(
            r"\b(open_within|open_breached|closed_late|pending|delivered|queued|running|"
            r"reveal|write|champion|over_90|under_50)\b",
            main,
        ), main
    if home.user == "analyst":  # the champion's PSI and validation AUC, a challenger unscored
        assert page.locator("#model-health tbody tr").count() == 2
        assert "0.116" in page.inner_text("#model-health") and "0.812" in page.inner_text(
            "#model-health"
        )
        # The matured AUC with its month, flagged (more than 0.05 below validation).
        matured = page.locator(".matured-auc.warn")
        assert matured.count() == 1 and "0.740" in matured.inner_text()
        assert "2025-10" in matured.inner_text()
    assert errors == []
    page.wait_for_timeout(1200)  # the bars grow for a second (ECharts' animation)
    shot(page, f"home-{home.user}-{locale}")

    page.click(home.link)
    page.wait_for_url(re.compile(home.lands))
    rows = page.locator(home.rows).count()
    expected = EXPECTED_ROWS[home.user]
    assert rows == expected if expected is not None else rows >= 1, (home.user, rows)
    if home.user == "sales":
        assert customer_code(book.book.a) in page.inner_text("main")
        assert customer_code(book.book.c) not in page.inner_text("main")  # sales2's
    shot(page, f"home-{home.user}-drilldown-{locale}")
    context.close()


def test_a_bar_of_the_analyst_chart_opens_that_rule_and_week(
    browser, live_server: str, book: HomeBook
) -> None:  # type: ignore[no-untyped-def]
    context = new_context(browser, "zh-CN")
    page = context.new_page()
    _sign_in(page, live_server, "analyst")
    page.wait_for_timeout(1500)  # the bars grow for a second (ECharts' animation)
    data = page.evaluate(SERIES, "chart-by-code")  # dpd_30 at the bottom, utilisation_high on top
    assert data[1][-1] == 7
    # Below the chart by warning type: scrolled into view, so the click lands on the bar.
    page.locator("#chart-by-code").scroll_into_view_if_needed()
    box = page.locator("#chart-by-code").bounding_box()
    x, y = page.evaluate(
        """v => echarts.getInstanceByDom(document.getElementById('chart-by-code'))
                 .convertToPixel({seriesIndex: 1}, [11, v])""",
        data[0][-1] + 3.5,
    )
    with page.expect_navigation(url=re.compile(r".*/alerts\?code=utilisation_high&status=any.*")):
        page.mouse.click(box["x"] + x, box["y"] + y)
    assert page.locator("#alert-queue tbody tr[id^=alert-]").count() == 7
    assert page.locator("#scope-note").count() == 1
    shot(page, "home-analyst-bar-zh-CN")
    context.close()


def test_the_filters_change_the_figures(browser, live_server: str, book: HomeBook) -> None:  # type: ignore[no-untyped-def]
    context = new_context(browser, "zh-CN")
    page = context.new_page()
    _sign_in(page, live_server, "sales")
    assert page.inner_text("#kpi-customers .kpi-value") == "1"
    # Sales' one customer is rated high: the unrated among theirs are none.
    with page.expect_navigation(url=re.compile(r".*/home/sales\?.*tier=unrated.*")):
        page.select_option("#home-filters select[name=tier]", "unrated")
    assert page.inner_text("#kpi-customers .kpi-value") == "0"
    assert page.locator("#chart-utilisation").count() == 0  # no data: no chart
    assert "tier=unrated" in (page.get_attribute("#kpi-exposure", "href") or "")
    shot(page, "home-sales-filtered-zh-CN")
    page.click("#home-filters a.reset")
    page.wait_for_url(re.compile(r".*/home/sales$"))
    assert page.inner_text("#kpi-customers .kpi-value") == "1"
    # The analyst's period: the SLA record over the last 7 days.
    context.clear_cookies()
    _sign_in(page, live_server, "analyst")
    # (the filter bar sends its empty choices too: "all")
    with page.expect_navigation(url=re.compile(r".*/home/analyst\?.*period_days=7$")):
        page.select_option("#home-filters select[name=period_days]", "7")
    assert "7" in page.inner_text("#home-kpis")
    shot(page, "home-analyst-period-zh-CN")
    context.close()


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_the_homes_filtered_by_region_and_segment(
    browser, live_server: str, book: HomeBook, locale: str
) -> None:  # type: ignore[no-untyped-def]
    context = new_context(browser, "zh-CN" if locale == "zh-CN" else "en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # The analyst picks the North in the filter bar (it applies at once): c's alerts only.
    _sign_in(page, live_server, "analyst")
    with page.expect_navigation(url=re.compile(r".*/home/analyst\?region=North.*")):
        page.select_option("#home-filters select[name=region]", "North")
    assert page.inner_text("#kpi-open .kpi-value") == "1"
    assert page.locator("#models-not-narrowed").count() == 1
    page.wait_for_timeout(1200)
    shot(page, f"home-analyst-north-{locale}")
    page.click("#kpi-open")
    page.wait_for_url(re.compile(r".*/alerts\?region=North&assigned=me$"))
    assert page.locator("#alert-queue tbody tr[id^=alert-]").count() == 1
    assert page.locator("#scope-note").count() == 1
    context.close()

    # Customer service's one customer is in the b2b_sme segment, none in b2b_enterprise.
    context = new_context(browser, "zh-CN" if locale == "zh-CN" else "en-US")
    page = context.new_page()
    _sign_in(page, live_server, "service")
    page.goto(f"{live_server}/home/service?segment=b2b_sme")
    assert page.inner_text("#kpi-open-breached .kpi-value") == "2"
    page.wait_for_timeout(1200)
    shot(page, f"home-service-sme-{locale}")
    page.click("#kpi-open-breached")
    page.wait_for_url(re.compile(r".*/complaints\?segment=b2b_sme&breached=true$"))
    assert page.locator("#complaint-desk tbody tr[id]").count() == 2
    shot(page, f"complaints-sme-{locale}")
    page.goto(f"{live_server}/home/service?segment=b2b_enterprise")
    assert page.inner_text("#kpi-open-breached .kpi-value") == "0"
    context.close()

    # The auditor's figures stay whole, and the page says so.
    context = new_context(browser, "zh-CN" if locale == "zh-CN" else "en-US")
    page = context.new_page()
    _sign_in(page, live_server, "auditor")
    page.goto(f"{live_server}/home/auditor?region=East")
    assert page.locator("#auditor-not-narrowed").count() == 1
    assert page.locator("#home-filters select[name=owner_id]").count() == 0
    page.wait_for_timeout(1200)
    shot(page, f"home-auditor-east-{locale}")
    context.close()

    # The admin's failed-jobs tile opens the jobs list of the same 24 hours.
    context = new_context(browser, "zh-CN" if locale == "zh-CN" else "en-US")
    page = context.new_page()
    _sign_in(page, live_server, "admin")
    page.click("#kpi-jobs-failed")
    page.wait_for_url(re.compile(r".*/jobs\?status=failed&since=.*"))
    assert page.locator("#jobs-since").count() == 1
    shot(page, f"jobs-since-{locale}")
    assert errors == []
    context.close()
