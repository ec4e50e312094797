"""The credit manager's home page in a real browser: reached from /, drawn in both languages
(canvas and ECharts data), a filter changes the figures, and a bar and a card open the list
behind them, filtered; the trend charts (ageing by month end, DSO, CEI) and the ECL card.
Set RISKDESK_SCREENSHOTS to a directory to keep full-page shots."""

from __future__ import annotations

import re

import pytest

from riskdesk.db import unit_of_work
from riskdesk.kit.timeutil import today
from riskdesk.models.customers import customer_code
from riskdesk.security import service as security_service
from riskdesk.security.permissions import Role
from tests.conftest import PASSWORD
from tests.portfolio.seed import Book, ecl_run, seed
from tests.ui.conftest import _FACTORIES, new_context, shot
from tests.ui.test_error_pages import _sign_in

pytestmark = pytest.mark.browser
# The bars' values (a bar that links carries its own cursor: {value, cursor}).
SERIES = """id => echarts.getInstanceByDom(document.getElementById(id)).getOption().series[0].data
                .map(d => d !== null && typeof d === "object" ? d.value : d)"""


@pytest.fixture(scope="module")
def book(live_server: str) -> Book:
    """The hand-made portfolio, written once into the live server's database."""
    with unit_of_work(_FACTORIES[live_server]) as session:
        security_service.create_user(
            session,
            username="sales2",
            display_name="sales2",
            role=Role.SALES,
            password=PASSWORD,
            team="north",
        )
        found = seed(session)
        # An ECL run: C's results, in a portfolio-wide run of today.
        ecl_run(session, today(), "191000.00", "9550.00", {found.c: ("18000.00", "3600.00")})
        return found


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_the_portfolio_page_as_a_credit_manager(
    browser, live_server: str, book: Book, locale: str
) -> None:  # type: ignore[no-untyped-def]
    context = new_context(browser, "zh-CN" if locale == "zh-CN" else "en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _sign_in(page, live_server, "manager")
    page.goto(f"{live_server}/")
    assert page.url == f"{live_server}/portfolio"
    title = {"zh-CN": "信用组合总览", "en": "Credit portfolio"}[locale]
    assert page.inner_text("h1") == title
    assert page.inner_text("#kpi-exposure .kpi-value") == "191,000.00"
    # Every chart is drawn: a canvas, and an ECharts instance holding the figures.
    for chart in ("utilisation", "ageing", "tiers", "alerts", "concentration-industry"):
        assert page.locator(f"#chart-{chart} canvas").count() == 1, chart
    assert page.evaluate(SERIES, "chart-ageing") == [42000, 15000, 15000, 10000, 8000]
    assert page.evaluate(SERIES, "chart-alerts") == [4, 3, 2, 1, 1, 2]
    main = page.inner_text("main")
    assert "portfolio." not in main and "tier." not in main  # no raw keys
    if locale == "zh-CN":  # no English enum values in the Chinese page
        assert not re.search(r"\b(unrated|current|over_90|no_limit|high|low|medium)\b", main)
    else:  # tiers are words, capitalised as "Unrated" is, not the stored codes
        tiers = page.locator("#tier-table tbody tr td:first-child").all_inner_texts()
        assert tiers == ["Low", "Medium", "High", "Critical", "Unrated"], tiers
    assert errors == []
    shot(page, f"portfolio-{locale}")

    # A filter changes the figures, and stays in the address.
    with page.expect_navigation(url=re.compile(r".*/portfolio\?.*region=North.*")):
        page.select_option("select[name=region]", "North")
    assert page.inner_text("#kpi-exposure .kpi-value") == "61,000.00"
    assert page.evaluate(SERIES, "chart-ageing") == [0, 0, 0, 10000, 8000]
    shot(page, f"portfolio-north-{locale}")

    # A bar opens the list behind it, filtered: the over-90 bucket of the North region.
    page.wait_for_timeout(2000)  # the bars grow for a second (ECharts' animation, by the clock)
    box = page.locator("#chart-ageing").bounding_box()
    x, y = page.evaluate(
        """() => echarts.getInstanceByDom(document.getElementById('chart-ageing'))
                 .convertToPixel({seriesIndex: 0}, [4, 4000])"""
    )
    with page.expect_navigation(url=re.compile(r".*/customers\?.*ageing=over_90.*")):
        page.mouse.click(box["x"] + x, box["y"] + y)
    assert "region=North" in page.url
    codes = page.locator("#customers tbody td:first-child a").all_inner_texts()
    assert codes == [customer_code(book.c)]
    assert page.locator("#drilldown").count() == 1
    shot(page, f"customers-drilldown-{locale}")

    # A card does too: the held orders of the North region.
    page.go_back()
    page.click("#kpi-held")
    page.wait_for_url(re.compile(r".*/worklist\?region=North$"))
    assert page.locator("#scope-note").count() == 1
    assert customer_code(book.c) in page.inner_text("main")
    assert customer_code(book.a) not in page.inner_text("main")
    shot(page, f"worklist-north-{locale}")
    context.close()


OPTION = "id => echarts.getInstanceByDom(document.getElementById(id)).getOption()"
BUCKET_NAMES = {
    "zh-CN": ["未到期", "逾期 1–30 天", "逾期 31–60 天", "逾期 61–90 天", "逾期 90 天以上"],
    "en": ["Current", "1–30 days", "31–60 days", "61–90 days", "Over 90 days"],
}


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_the_trend_charts_and_the_ecl_card(
    browser, live_server: str, book: Book, locale: str
) -> None:  # type: ignore[no-untyped-def]
    context = new_context(browser, "zh-CN" if locale == "zh-CN" else "en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _sign_in(page, live_server, "manager")
    page.goto(f"{live_server}/portfolio")
    for chart in ("ageing-trend", "dso", "cei"):
        assert page.locator(f"#chart-{chart} canvas").count() == 1, chart
    ageing = page.evaluate(OPTION, "chart-ageing-trend")
    assert [s["name"] for s in ageing["series"]] == BUCKET_NAMES[locale]
    assert all(len(s["data"]) == 13 for s in ageing["series"])
    # Today's bar is the ageing card's figures.
    assert [s["data"][12]["value"] for s in ageing["series"]] == [42000, 15000, 15000, 10000, 8000]
    # Only today's bar links, so only it shows the hand (each bar carries its own cursor).
    assert [s["data"][12]["cursor"] for s in ageing["series"]] == ["pointer"] * 5
    assert {d["cursor"] for s in ageing["series"] for d in s["data"][:12]} == {"default"}
    dso = page.evaluate(OPTION, "chart-dso")
    names = [s["name"] for s in dso["series"]]
    assert (
        names
        == {
            "zh-CN": ["应收账款周转天数", "最佳周转天数", "平均逾期天数"],
            "en": ["DSO", "Best possible DSO", "ADD"],
        }[locale]
    )
    assert any(v is not None for v in dso["series"][0]["data"])  # months with sales
    cei = page.evaluate(OPTION, "chart-cei")["series"][0]["data"]
    assert len(cei) == 13 and any(v is not None for v in cei)
    assert page.inner_text("#ecl-total") == "9,550.00"
    assert page.inner_text("#ecl-coverage") == "5.00%"
    main = page.inner_text("main")
    assert "portfolio." not in main and "ecl." not in main
    assert errors == []
    page.wait_for_timeout(1500)  # the lines draw for a second (ECharts' animation)
    shot(page, f"portfolio-trends-{locale}")

    # Today's over-90 bucket opens its customers.
    page.locator("#chart-ageing-trend").scroll_into_view_if_needed()  # below the fold
    page.wait_for_timeout(2000)  # the bars grow for a second (ECharts' animation)
    box = page.locator("#chart-ageing-trend").bounding_box()
    x, y = page.evaluate(
        """() => echarts.getInstanceByDom(document.getElementById('chart-ageing-trend'))
                 .convertToPixel({gridIndex: 0}, [12, 86000])"""
    )
    # Hovering: a past month's bar (the fullest) keeps the arrow, today's shows the hand.
    cursor = "() => document.querySelector('#chart-ageing-trend > div').style.cursor"
    past_x, past_y = page.evaluate(
        """() => {
             const chart = echarts.getInstanceByDom(document.getElementById('chart-ageing-trend'));
             const series = chart.getOption().series;
             const totals = [...Array(12).keys()].map(
               i => series.reduce((sum, s) => sum + s.data[i].value, 0));
             const month = totals.indexOf(Math.max(...totals));
             return chart.convertToPixel({gridIndex: 0}, [month, totals[month] / 2]);
           }"""
    )
    page.mouse.move(box["x"] + past_x, box["y"] + past_y)
    page.wait_for_timeout(300)
    assert page.evaluate(cursor) in ("", "default")
    page.mouse.move(box["x"] + x, box["y"] + y)
    page.wait_for_timeout(300)
    assert page.evaluate(cursor) == "pointer"
    with page.expect_navigation(url=re.compile(r".*/customers\?ageing=over_90$")):
        page.mouse.click(box["x"] + x, box["y"] + y)
    codes = page.locator("#customers tbody td:first-child a").all_inner_texts()
    assert codes == [customer_code(book.c)]

    # The ECL card opens the run's report; filtered, it sums the customers in scope.
    page.go_back()
    page.click("#ecl-link")
    page.wait_for_url(re.compile(r".*/ecl/runs/\d+$"))
    assert "9,550.00" in page.inner_text("main")  # the run's report, not an error page
    shot(page, f"portfolio-ecl-run-{locale}")
    page.goto(f"{live_server}/portfolio?region=North")
    assert page.inner_text("#ecl-total") == "3,600.00"
    assert page.inner_text("#ecl-coverage") == "20.00%"
    page.wait_for_timeout(1500)
    shot(page, f"portfolio-trends-north-{locale}")
    context.close()
