"""The portfolio dashboard's figures on a hand-made portfolio (tests/portfolio/seed.py),
worked out by hand: totals, utilisation bands, ageing, tiers, top exposures, concentration
(HHI), held orders, limit requests, the alert funnel and reviews; filters; sales' view."""

from __future__ import annotations

from typing import Any

import pytest

from tests.portfolio.seed import Book

URL = "/api/v1/portfolio/summary"


def _hhi(*exposures: int) -> float:
    total = sum(exposures)
    return round(sum(e * e for e in exposures) / (total * total) * 10_000, 1)


def _by(items: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {i[key]: i for i in items}


def test_every_figure_of_the_whole_book(book: Book, manager) -> None:  # type: ignore[no-untyped-def]
    answer = manager.get(URL)
    assert answer.status_code == 200, answer.text
    s = answer.json()
    assert s["currency"] == "CNY" and s["filters"]["period_days"] == 30
    # Money is a string with two places, as everywhere in the API; merged customers never count,
    # nor consignment stock (information only).
    assert s["totals"] == {
        "customers": 4,
        "exposure": "191000.00",  # 80,000 + 50,000 + 60,000 + 1,000
        "credit_limit": "350000.00",
        "available": "159000.00",
        "utilisation": pytest.approx(191_000 / 350_000),
    }
    bands = _by(s["utilisation"], "band")
    assert [b["band"] for b in s["utilisation"]] == [
        "no_limit", "under_50", "50_80", "80_100", "over_100",
    ]  # fmt: skip
    assert {b: (v["customers"], v["exposure"]) for b, v in bands.items()} == {
        "no_limit": (1, "1000.00"),  # D: limit 0
        "under_50": (1, "50000.00"),  # B: 25 %
        "50_80": (0, "0.00"),
        "80_100": (1, "80000.00"),  # A: 80 % (the band's lower edge)
        "over_100": (1, "60000.00"),  # C: 120 %
    }
    ageing = {a["bucket"]: (a["customers"], a["amount"]) for a in s["ageing"]}
    assert ageing == {
        "current": (2, "42000.00"),  # A 30,000 not yet due; B 12,000 due today
        "1_30": (1, "15000.00"),  # A: 20,000 less 5,000 paid, 30 days late
        "31_60": (1, "15000.00"),  # A: 31 days late
        "61_90": (1, "10000.00"),  # C: 90 days late
        "over_90": (1, "8000.00"),  # C: 91 days late (C's settled invoice is not open)
    }
    assert s["overdue"] == {
        "open_receivables": "90000.00",
        "overdue": "48000.00",
        "share": pytest.approx(48 / 90),
        "customers": 2,
    }
    tiers = {t["tier"]: (t["customers"], t["exposure"]) for t in s["tiers"]}
    assert [t["tier"] for t in s["tiers"]] == ["low", "medium", "high", "critical", "unrated"]
    assert tiers == {
        "low": (1, "50000.00"),
        "medium": (1, "60000.00"),
        "high": (1, "80000.00"),
        "critical": (0, "0.00"),
        "unrated": (1, "1000.00"),
    }
    top = s["top_exposures"]
    assert [t["customer_id"] for t in top] == [book.a, book.c, book.b, book.d]
    assert top[0]["name"] == "杭州恒远制造有限公司" and top[0]["utilisation"] == 0.8
    assert top[3]["name"] is None  # an individual's name is not on the dashboard
    conc = _by(s["concentration"], "dimension")
    assert conc["industry"]["hhi"] == _hhi(140_000, 50_000, 1_000)
    assert [(i["key"], i["exposure"]) for i in conc["industry"]["items"]] == [
        ("制造", "140000.00"), ("零售", "50000.00"), ("unknown", "1000.00"),
    ]  # fmt: skip
    assert conc["region"]["hhi"] == _hhi(130_000, 61_000)
    # The group holds A and B; C and D, outside any group, stand alone.
    assert conc["group"]["hhi"] == _hhi(130_000, 60_000, 1_000)
    assert [(i["key"], i["name"], i["customer_id"]) for i in conc["group"]["items"]] == [
        ("HY", "恒远集团", None), (None, None, book.c), (None, None, book.d),
    ]  # fmt: skip
    assert conc["group"]["items"][0]["share"] == pytest.approx(130 / 191)
    assert s["held_orders"] == {"count": 2, "amount": "10000.00"}
    assert s["limit_requests"] == {"count": 1, "amount": "50000.00"}  # one expired, one decided
    funnel = {k: v for k, v in s["alerts"].items() if k != "since"}
    assert funnel == {
        "raised": 4,  # one older than the period, a product alert and a merged one left out
        "worked": 3,
        "closed": 2,
        "confirmed": 1,
        "false_alarm": 1,
        "sla_breached": 2,  # open past due; escalated
        "open": 2,
    }
    assert s["reviews"] == {"overdue": 1, "due": 2, "horizon_days": 30}


def test_filters_narrow_every_figure(book: Book, manager) -> None:  # type: ignore[no-untyped-def]
    north = manager.get(URL, params={"region": "North"}).json()
    assert north["totals"]["customers"] == 2
    assert north["totals"]["exposure"] == "61000.00"
    assert north["totals"]["credit_limit"] == "50000.00"
    assert north["overdue"]["overdue"] == "18000.00"
    assert north["held_orders"] == {"count": 1, "amount": "3000.00"}
    assert north["limit_requests"]["count"] == 0
    assert north["alerts"]["raised"] == 1 and north["alerts"]["false_alarm"] == 1
    assert north["reviews"] == {"overdue": 0, "due": 0, "horizon_days": 30}
    unrated = manager.get(URL, params={"tier": "unrated"}).json()
    assert [t["customer_id"] for t in unrated["top_exposures"]] == [book.d]
    made = manager.get(URL, params={"industry": "制造", "segment": "b2b_sme"}).json()
    assert made["totals"]["exposure"] == "140000.00"
    assert made["concentration"][0]["hhi"] == 10_000.0  # one industry
    # A longer period takes in the alert of 60 days ago.
    assert manager.get(URL, params={"period_days": 90}).json()["alerts"]["raised"] == 5


def test_sales_see_only_their_own_customers(book: Book, db, client_for) -> None:  # type: ignore[no-untyped-def]
    sales = client_for("sales")
    s = sales.get(URL).json()
    assert s["totals"]["customers"] == 1 and s["totals"]["exposure"] == "80000.00"
    assert [t["customer_id"] for t in s["top_exposures"]] == [book.a]
    assert s["overdue"]["overdue"] == "30000.00"
    assert s["held_orders"] == {"count": 1, "amount": "7000.00"}
    assert s["limit_requests"] == {"count": 1, "amount": "50000.00"}
    assert s["alerts"]["raised"] == 2
    assert s["reviews"] == {"overdue": 1, "due": 1, "horizon_days": 30}
    # Asking for another owner's customers shows nothing, not them.
    from riskdesk.security import service as security_service

    other = security_service.get_user_by_username_or_raise(db, "sales2").id
    hidden = sales.get(URL, params={"owner_id": other}).json()
    assert hidden["totals"]["customers"] == 0 and hidden["top_exposures"] == []
    assert hidden["totals"]["utilisation"] is None and hidden["overdue"]["share"] is None


def test_who_may_read_it_and_bad_input(book: Book, client_for) -> None:  # type: ignore[no-untyped-def]
    refused = client_for("service").get(URL)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
    for user in ("analyst", "auditor", "admin"):
        assert client_for(user).get(URL).status_code == 200, user
    manager = client_for("manager")
    for params, field in (
        ({"owner_id": 0}, "owner_id"),
        ({"period_days": 0}, "period_days"),
        ({"region": "x" * 65}, "region"),
    ):
        answer = manager.get(URL, params=params)
        assert answer.status_code == 422, params
        assert field in answer.text, answer.text


def test_an_empty_book_answers_zeros(manager) -> None:  # type: ignore[no-untyped-def]
    s = manager.get(URL).json()
    assert s["totals"] == {
        "customers": 0,
        "exposure": "0.00",
        "credit_limit": "0.00",
        "available": "0.00",
        "utilisation": None,
    }
    assert s["top_exposures"] == [] and all(c["hhi"] is None for c in s["concentration"])


def test_a_book_of_billions(db, manager) -> None:  # type: ignore[no-untyped-def]
    """Squares of billions overflow SQLite's 64-bit integers: the HHI is summed as floats."""
    from tests.portfolio.seed import _customer

    for n, region in enumerate(("R1", "R2", "R3"), start=1):
        _customer(
            db, name=f"大客户{n}", region=region, segment="b2b_enterprise", industry="能源",
            owner_id=None, group_id=None, tier="low", limit="9000000000", review=None,
            exposure={"open_receivables": f"{n * 3_000_000_000}"},
        )  # fmt: skip
    db.commit()
    s = manager.get(URL).json()
    assert s["totals"]["exposure"] == "18000000000.00"
    conc = _by(s["concentration"], "dimension")
    assert conc["region"]["hhi"] == _hhi(3, 6, 9)
    assert conc["industry"]["hhi"] == 10_000.0
