"""Alerts for integrators: cursor pages, filters by code, observed date and status, and the
CSV / JSON lines export, all within what the caller may see."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from typing import Any

import openpyxl
from sqlalchemy import select

from riskdesk.alerts import service as alert_service
from riskdesk.kit.timeutil import today, utcnow
from riskdesk.models import Alert, AuditEntry, User
from riskdesk.ui.i18n import LANG_COOKIE
from tests.conftest import ingest, principal
from tests.factories import company

DAYS = (dt.date(2026, 1, 5), dt.date(2026, 2, 10), dt.date(2026, 3, 15))
CODES = ("late_payer", "big_buyer")


def _setup(db) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Customers of the east team (sales, sales_east2), of north (sales2, in the North region)
    and of nobody (an enterprise), and for each an alert per code and observed day: 24 alerts,
    and one product alert."""
    from riskdesk.customers import repository as customer_repo

    ingest(
        db,
        principal(db, "manager"),
        "customers",
        [
            company("E1", owner="sales"),
            company("E2", owner="sales_east2"),
            company("N1", owner="sales2", region="North"),
            company("X1", segment="b2b_enterprise"),
        ],
    )
    refs = customer_repo.customer_ids_by_ref(db, {("erp", x) for x in ("E1", "E2", "N1", "X1")})
    ids = {ext: cid for (_, ext), cid in refs.items()}
    start = utcnow() - dt.timedelta(days=1)
    step = 0
    for day in DAYS:
        for code in CODES:
            step += 1
            alert_service.raise_hits(
                db,
                [(cid, {"day": day.isoformat(), "code": code}) for cid in ids.values()],
                source="rule",
                code=code,
                category="payment",
                warning_type="payment_deterioration",
                severity="high",
                titles=("Test", "测试"),
                dedup_days=0,  # each run raises anew
                version_id=None,
                now=start + dt.timedelta(minutes=step),
                observed_on=day,
            )
    alert_service.raise_product_alerts(
        db,
        [("P-1", "high", {"complaints": 9})],
        code="complaint_surge_product",
        category="complaints",
        titles=("Surge {product}", "激增 {product}"),
        dedup_days=7,
        now=start + dt.timedelta(minutes=30),
        observed_on=DAYS[-1],
    )
    # Some alerts are worked: status narrows with the other filters.
    for alert in db.scalars(select(Alert).where(Alert.rule_code == "late_payer")):
        if alert.observed_on == DAYS[1]:
            alert.status = "acknowledged"
    db.commit()
    return ids


def _walk(client, limit: int, **params: Any) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Every page of GET /alerts, following X-Next-Cursor."""
    seen: list[dict[str, Any]] = []
    cursor = None
    for _ in range(200):
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/alerts", params=query)
        assert page.status_code == 200, page.text
        assert len(page.json()) <= limit
        seen.extend(page.json())
        cursor = page.headers.get("X-Next-Cursor")
        if cursor is None:
            assert "Link" not in page.headers
            return seen
        assert page.headers["Link"].endswith('>; rel="next"') and cursor in page.headers["Link"]
    raise AssertionError("the pages never ended")


def test_cursor_pages_walk_every_alert_exactly_once(db, manager) -> None:  # type: ignore[no-untyped-def]
    _setup(db)
    everything = manager.get("/api/v1/alerts", params={"limit": 1000})
    assert "X-Next-Cursor" not in everything.headers
    assert len(everything.json()) == 25
    walked = _walk(manager, 4)
    ids = [a["id"] for a in walked]
    assert len(ids) == len(set(ids)) == 25
    assert ids == sorted(ids, reverse=True) == [a["id"] for a in everything.json()]
    # The Link header is the next page's address, filters kept.
    first = manager.get("/api/v1/alerts", params={"limit": 3, "code": "big_buyer"})
    following = manager.get(first.headers["Link"].split(">")[0].removeprefix("<"))
    assert [a["rule_code"] for a in following.json()] == ["big_buyer"] * 3
    assert following.json()[0]["id"] < first.json()[-1]["id"]
    # An exact fit: the last full page says there is no more.
    exact = manager.get("/api/v1/alerts", params={"limit": 25})
    assert len(exact.json()) == 25 and "X-Next-Cursor" not in exact.headers


def test_filters_by_code_observed_dates_and_status_combine(db, manager) -> None:  # type: ignore[no-untyped-def]
    _setup(db)
    everything = manager.get("/api/v1/alerts", params={"limit": 1000}).json()
    assert {a["observed_on"] for a in everything} == {d.isoformat() for d in DAYS}

    def expect(pred) -> set[int]:  # type: ignore[no-untyped-def]
        return {a["id"] for a in everything if pred(a)}

    def got(**params: Any) -> set[int]:
        return {a["id"] for a in _walk(manager, 5, **params)}

    assert got(code="late_payer") == expect(lambda a: a["rule_code"] == "late_payer")
    both = got(code="late_payer,complaint_surge_product")
    assert both == got(code=["late_payer", "complaint_surge_product"])
    assert both == expect(lambda a: a["rule_code"] in ("late_payer", "complaint_surge_product"))
    window = {"observed_from": "2026-02-01", "observed_to": "2026-03-15"}
    assert got(**window) == expect(lambda a: "2026-02-01" <= a["observed_on"] <= "2026-03-15")
    combined = got(code="late_payer", status="open", **window)
    assert combined == expect(
        lambda a: (
            a["rule_code"] == "late_payer"
            and a["status"] == "open"
            and a["observed_on"] >= "2026-02-01"
        )
    )
    assert len(combined) == 4  # February's were acknowledged: March's four remain
    assert got(status="acknowledged", observed_to="2026-01-31") == set()
    raised = got(raised_from=(utcnow() - dt.timedelta(days=2)).isoformat())
    assert raised == expect(lambda a: True)


def test_bad_dates_and_cursors_answer_422_naming_the_field(db, manager) -> None:  # type: ignore[no-untyped-def]
    _setup(db)
    cases = [
        ({"observed_from": "2026-03-01", "observed_to": "2026-02-01"}, "observed_from"),
        ({"observed_from": "2026-13-01"}, "observed_from"),
        ({"observed_to": "1066-10-14"}, "observed_to"),
        ({"raised_from": "2026-03-02T00:00Z", "raised_to": "2026-03-01T00:00Z"}, "raised_from"),
        ({"cursor": "not a cursor"}, "cursor"),
        ({"cursor": "aWQ6MA"}, "cursor"),  # id:0
        ({"cursor": "aWQ6OTk5OTk5OTk5OTk"}, "cursor"),  # past any id
        ({"cursor": "YWRtaW46MQ"}, "cursor"),  # admin:1
    ]
    for params, field in cases:
        for path in ("/api/v1/alerts", "/api/v1/alerts/export"):
            answer = manager.get(path, params=params)
            assert answer.status_code == 422 or "cursor" in params, (path, params, answer.text)
            if answer.status_code == 422:
                assert field in (answer.json()["error"]["field"] or ""), (params, answer.text)
    assert manager.get("/api/v1/alerts", params={"limit": 0}).status_code == 422
    assert manager.get("/api/v1/alerts", params={"limit": 1001}).status_code == 422


def test_sales_pages_and_export_hold_only_their_teams_alerts(db, client_for) -> None:  # type: ignore[no-untyped-def]
    ids = _setup(db)
    east = {ids["E1"], ids["E2"]}
    sales = client_for("sales")
    walked = _walk(sales, 3)
    assert len(walked) == 12 and {a["customer_id"] for a in walked} == east
    # A cursor from a wider view shows nothing more: the rows after it are narrowed again.
    wide = client_for("manager").get("/api/v1/alerts", params={"limit": 1})
    after = sales.get("/api/v1/alerts", params={"cursor": wide.headers["X-Next-Cursor"]})
    assert {a["customer_id"] for a in after.json()} <= east
    # Nor does asking for another team's customer by id.
    assert sales.get("/api/v1/alerts", params={"customer_id": ids["N1"]}).json() == []
    rows = list(csv.DictReader(io.StringIO(sales.get("/api/v1/alerts/export").text)))
    assert len(rows) == 12 and {int(r["customer_id"]) for r in rows} == east
    lines = sales.get("/api/v1/alerts/export", params={"format": "jsonl"}).text.splitlines()
    assert {json.loads(line)["customer_id"] for line in lines} == east


def test_export_as_csv_and_json_lines_matches_the_filtered_list(db, client_for) -> None:  # type: ignore[no-untyped-def]
    _setup(db)
    analyst = client_for("analyst")
    params = {"code": "big_buyer", "observed_from": "2026-02-01"}
    listed = _walk(analyst, 1000, **params)
    answer = analyst.get("/api/v1/alerts/export", params=params)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith("attachment;") and utcnow().strftime("%Y%m%d") in disposition
    assert disposition.endswith('.csv"')
    reader = csv.DictReader(io.StringIO(answer.text))
    rows = list(reader)
    assert reader.fieldnames is not None and "evidence" not in reader.fieldnames
    assert {"id", "customer_code", "code", "observed_on", "assignee", "title_zh"} <= set(
        reader.fieldnames
    )
    assert len(rows) == len(listed) == 8
    assert [int(r["id"]) for r in rows] == [a["id"] for a in listed]
    by_id = {a["id"]: a for a in listed}
    for row in rows:
        alert = by_id[int(row["id"])]
        assert row["observed_on"] == alert["observed_on"] and row["code"] == "big_buyer"
        assert row["customer_code"] == f"C{alert['customer_id']:07d}"
        assert row["title_zh"] == "测试"
    jsonl = analyst.get("/api/v1/alerts/export", params={**params, "format": "jsonl"})
    assert jsonl.headers["content-type"].startswith("application/x-ndjson")
    records = [json.loads(line) for line in jsonl.text.splitlines()]
    assert [r["id"] for r in records] == [a["id"] for a in listed]
    assert all(r["evidence"]["code"] == "big_buyer" for r in records)
    logged = db.scalars(
        select(AuditEntry).where(AuditEntry.action == "export", AuditEntry.actor == "analyst")
    ).all()
    assert logged and {e.object_type for e in logged} == {"alert"}
    # The same permission as the list: a token without it gets neither.
    narrow = client_for("analyst", scopes=["events:read"])
    assert narrow.get("/api/v1/alerts").status_code == 403
    assert narrow.get("/api/v1/alerts/export").status_code == 403


def test_export_reads_in_batches(db, manager, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _setup(db)
    monkeypatch.setattr(alert_service, "EXPORT_BATCH", 4)
    rows = list(csv.DictReader(io.StringIO(manager.get("/api/v1/alerts/export").text)))
    ids = [int(r["id"]) for r in rows]
    assert len(ids) == len(set(ids)) == 25 and ids == sorted(ids, reverse=True)


def test_new_alerts_are_observed_on_the_business_date_judged(db, manager) -> None:  # type: ignore[no-untyped-def]
    ids = _setup(db)
    now = utcnow()
    common: dict[str, Any] = {
        "source": "rule",
        "category": "payment",
        "warning_type": "payment_deterioration",
        "severity": "low",
        "titles": ("t", "t"),
        "dedup_days": 0,
        "version_id": None,
        "now": now,
    }
    alert_service.raise_hits(db, [(ids["X1"], {})], code="today_rule", **common)
    alert_service.raise_hits(
        db, [(ids["X1"], {})], code="past_rule", observed_on=dt.date(2025, 6, 30), **common
    )
    db.commit()
    found = {
        a["rule_code"]: a
        for a in manager.get("/api/v1/alerts", params={"code": "today_rule,past_rule"}).json()
    }
    assert found["today_rule"]["observed_on"] == today().isoformat()
    assert found["past_rule"]["observed_on"] == "2025-06-30"
    detail = manager.get(f"/api/v1/alerts/{found['past_rule']['id']}").json()
    assert detail["observed_on"] == "2025-06-30" and detail["raised_at"].startswith(
        now.date().isoformat()
    )


def test_the_queue_shows_observed_dates_and_downloads_what_it_filters(db, manager) -> None:  # type: ignore[no-untyped-def]
    _setup(db)
    params = {"status": "open_any", "observed_from": "2026-03-01", "observed_to": "2026-03-31"}
    manager.cookies.set(LANG_COOKIE, "zh-CN")
    assert "数据日期" in manager.get("/alerts", params=params).text
    manager.cookies.set(LANG_COOKIE, "en")
    page = manager.get("/alerts", params=params)
    assert page.status_code == 200, page.text
    assert "Observed on" in page.text and "Download CSV" in page.text
    assert "2026-03-15" in page.text and "2026-01-05" not in page.text
    link = re.search(r'id="alerts-export-csv"', page.text)
    assert link is not None
    href = re.search(r'href="(/alerts/export\?[^"]+)" id="alerts-export-csv"', page.text)
    assert href is not None and "observed_from=2026-03-01" in href.group(1)
    download = manager.get(href.group(1).replace("&amp;", "&"))
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert len(rows) == 9 and {r["observed_on"] for r in rows} == {"2026-03-15"}
    wrong = manager.get(
        "/alerts", params={"observed_from": "2026-04-01", "observed_to": "2026-03-01"}
    )
    assert wrong.status_code == 422


def test_alerts_filter_by_warning_type(db, manager) -> None:  # type: ignore[no-untyped-def]
    ids = _setup(db)
    common: dict[str, Any] = {
        "source": "rule",
        "category": "other",
        "severity": "low",
        "titles": ("t", "t"),
        "dedup_days": 0,
        "version_id": None,
        "now": utcnow(),
    }
    alert_service.raise_hits(
        db, [(ids["X1"], {})], code="typed_churn", warning_type="churn", **common
    )
    alert_service.raise_hits(
        db, [(ids["X1"], {})], code="typed_resale", warning_type="resale", **common
    )
    db.commit()

    def codes(**params: Any) -> set[str]:
        got = manager.get("/api/v1/alerts", params={"code": "typed_churn,typed_resale", **params})
        assert got.status_code == 200, got.text
        return {a["rule_code"] for a in got.json()}

    assert codes(warning_type="churn") == {"typed_churn"}
    assert codes(warning_type=["churn", "resale"]) == {"typed_churn", "typed_resale"}
    assert codes() == {"typed_churn", "typed_resale"}
    bad = manager.get("/api/v1/alerts", params={"warning_type": "gossip"})
    assert bad.status_code == 422 and "warning_type" in bad.text
    lines = manager.get(
        "/api/v1/alerts/export", params={"format": "jsonl", "warning_type": "resale"}
    ).text.splitlines()
    assert {json.loads(line)["warning_type"] for line in lines} == {"resale"}


def _exported_ids(client, path: str, fmt: str, params: dict[str, Any]) -> list[int]:  # type: ignore[no-untyped-def]
    """The alert ids of an export, in its order, whatever its format (a link from a page
    holds its query and format already: no ``params``)."""
    answer = client.get(path, params={**params, "format": fmt}) if params else client.get(path)
    assert answer.status_code == 200, answer.text
    if fmt == "csv":
        return [int(r["id"]) for r in csv.DictReader(io.StringIO(answer.text))]
    if fmt == "jsonl":
        return [json.loads(line)["id"] for line in answer.text.splitlines()]
    sheet = openpyxl.load_workbook(io.BytesIO(answer.content)).worksheets[0]
    return [row[0].value for row in sheet.iter_rows(min_row=2) if row[0].value is not None]


def test_the_customer_filters_narrow_the_list_and_every_export_alike(db, manager) -> None:  # type: ignore[no-untyped-def]
    ids = _setup(db)
    cases = (
        ({"region": "North"}, {ids["N1"]}),
        ({"segment": "b2b_enterprise"}, {ids["X1"]}),
        ({"region": "East", "segment": "b2b_sme"}, {ids["E1"], ids["E2"]}),
        ({"region": "North", "code": "late_payer", "status": "any"}, {ids["N1"]}),
        (
            {"owner_id": str(db.scalar(select(User.id).where(User.username == "sales")))},
            {ids["E1"]},
        ),
        ({"region": "Nowhere"}, set()),
        ({"region": "", "segment": ""}, {*ids.values(), None}),  # blank: no filter
    )
    for params, customers in cases:
        listed = _walk(manager, 1000, **params)
        # A customer filter leaves the product alerts (of no customer) out.
        assert {a["customer_id"] for a in listed} == customers, params
        expected = [a["id"] for a in listed]
        for fmt in ("csv", "jsonl", "xlsx"):
            got = _exported_ids(manager, "/api/v1/alerts/export", fmt, params)
            assert got == expected, (params, fmt)
    assert len(_walk(manager, 1000, region="North")) == 6
    # The audit log says which customers were asked for, not the query they made.
    manager.get("/api/v1/alerts/export", params={"region": "North", "format": "csv"})
    manager.get("/api/v1/alerts/export", params={"region": "North", "format": "xlsx"})
    logged = db.scalars(
        select(AuditEntry).where(AuditEntry.action == "export", AuditEntry.actor == "manager")
    ).all()
    said = [" ".join(e.detail.get("fields", ())) for e in logged]
    assert any("region=North" in s and "format=csv" in s for s in said), said
    assert any("filter.region=North" in s and "format=xlsx" in s for s in said), said
    assert not any("SELECT" in s.upper() for s in said), said


def test_the_queue_downloads_what_it_shows_under_customer_filters_and_assignment(
    db, manager, client_for
) -> None:  # type: ignore[no-untyped-def]
    ids = _setup(db)
    manager.cookies.set(LANG_COOKIE, "en")
    page = manager.get("/alerts", params={"region": "North", "status": "any"})
    assert page.status_code == 200, page.text
    shown = {int(i) for i in re.findall(r'id="alert-(\d+)"', page.text)}
    north = set(db.scalars(select(Alert.id).where(Alert.customer_id == ids["N1"])).all())
    assert shown == north and len(north) == 6
    for fmt in ("csv", "jsonl", "xlsx"):
        href = re.search(rf'href="(/alerts/export\?[^"]+)" id="alerts-export-{fmt}"', page.text)
        assert href is not None and "region=North" in href.group(1), fmt
        got = _exported_ids(manager, href.group(1).replace("&amp;", "&"), fmt, {})
        assert set(got) == north, fmt
    # Whose work it is narrows the queue and so its download.
    mine = db.scalars(select(Alert).where(Alert.customer_id.is_not(None))).all()[:5]
    analyst_id = db.scalar(select(User.id).where(User.username == "analyst"))
    for alert in mine:
        alert.assigned_to_id = analyst_id
    db.commit()
    analyst = client_for("analyst")
    queue = analyst.get("/alerts", params={"assigned": "me", "status": "any"})
    assert queue.status_code == 200, queue.text
    assert {int(i) for i in re.findall(r'id="alert-(\d+)"', queue.text)} == {a.id for a in mine}
    href = re.search(r'href="(/alerts/export\?[^"]+)" id="alerts-export-csv"', queue.text)
    assert href is not None and "assigned=me" in href.group(1)
    got = _exported_ids(analyst, href.group(1).replace("&amp;", "&"), "csv", {})
    assert set(got) == {a.id for a in mine}
    for fmt in ("csv", "jsonl", "xlsx"):
        api = _exported_ids(analyst, "/api/v1/alerts/export", fmt, {"assigned": "me"})
        assert set(api) == {a.id for a in mine}, fmt
    listed = _walk(analyst, 1000, assigned="me")
    assert {a["id"] for a in listed} == {a.id for a in mine}
    assert analyst.get("/api/v1/alerts", params={"assigned": "them"}).status_code == 422


def test_dashboard_alert_links_carry_its_filters_to_the_queue_and_its_download(db, manager) -> None:  # type: ignore[no-untyped-def]
    ids = _setup(db)
    # Alerts observed today, inside the dashboard's period: of North and of the East.
    alert_service.raise_hits(
        db,
        [(ids["N1"], {}), (ids["X1"], {})],
        source="rule",
        code="fresh_rule",
        category="payment",
        warning_type="payment_deterioration",
        severity="high",
        titles=("t", "t"),
        dedup_days=0,
        version_id=None,
        now=utcnow(),
        observed_on=today(),
    )
    db.commit()
    dashboard = manager.get("/portfolio", params={"region": "North"})
    assert dashboard.status_code == 200, dashboard.text
    kpi = re.search(r'href="(/alerts\?[^"]+)"[^>]*id="kpi-alerts"', dashboard.text)
    assert kpi is not None and "region=North" in kpi.group(1)
    queue = manager.get(kpi.group(1).replace("&amp;", "&"))
    assert queue.status_code == 200, queue.text
    customers = set(
        db.scalars(
            select(Alert.customer_id).where(
                Alert.id.in_([int(i) for i in re.findall(r'id="alert-(\d+)"', queue.text)])
            )
        ).all()
    )
    assert customers == {ids["N1"]}
    href = re.search(r'href="(/alerts/export\?[^"]+)" id="alerts-export-jsonl"', queue.text)
    assert href is not None and "region=North" in href.group(1)
    got = _exported_ids(manager, href.group(1).replace("&amp;", "&"), "jsonl", {})
    assert set(got) == {int(i) for i in re.findall(r'id="alert-(\d+)"', queue.text)}
