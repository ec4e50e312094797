"""The portfolio's collection trends and ECL card on a small hand-made book, worked by hand.

As of 2026-03-15 the trend months are March 2025 to February 2026, then March 1-15; the
month end before them (2025-02-28) only opens the first. Two live customers and a merged one:

    A (East, sales')  I1 1,000 issued 2025-12-10, due 2026-01-09; 400 paid 2026-01-31 (on
                      the month end: counts), 600 paid 2026-03-10
                      I2 3,000 issued 2026-01-15, due 2026-02-14, unpaid
                      I3   600 issued 2026-02-20, due 2026-03-22; paid in full 2026-02-25
                      I6   900 issued 2026-03-16 (after today: not yet there)
                      I0 5,000 issued 2024-12-01, paid in full 2025-01-15 (before it all)
    B (North)         I4 2,000 issued 2025-11-01, due 2025-12-01, unpaid
                      I5   500 issued 2026-03-01, due 2026-03-31, unpaid
                      I7   700 issued 2025-01-10, due 2025-02-09; paid 2025-04-10
    M (merged)        7,000 issued 2025-12-01, unpaid: never counts

Month end    open invoices (days past due -> bucket)             AR     current  sales
2025-02-28   I7 700 (19: 1_30): the AR the first month begins with
2025-03-31   I7 700 (50: 31_60)                                    700       0       0
2025-04-30   none (I7 paid)                                          0       0       0
2025-10-31   none                                                    0       0       0
2025-11-30   I4 2,000 (due tomorrow: current)                    2,000   2,000   2,000
2025-12-31   I4 2,000 (30: 1_30); I1 1,000 (current)             3,000   1,000   1,000
2026-01-31   I4 (61: 61_90); I1 600 (22: 1_30); I2 3,000 (cur)   5,600   3,000   3,000
2026-02-28   I4 (89: 61_90); I1 600 (50: 31_60); I2 (14: 1_30)   5,600       0     600
2026-03-15   I4 (104: over_90); I2 (29: 1_30); I5 500 (current)  5,500     500     500

DSO = AR / sales x days; best = current / sales x days; CEI = (begin + sales - AR) /
(begin + sales - current) x 100:
    March 2025: no sales, no DSO; CEI (700 + 0 - 700) / (700 + 0 - 0) = 0
    April 2025: no sales; CEI (700 + 0 - 0) / 700 = 100 (all collected)
    May 2025 to October: nothing open, nothing sold: no DSO, CEI 0/0: none
    November  30 days: DSO 2,000/2,000x30 = 30; best 30; ADD 0; CEI 0/0: none
    December  31 days: DSO 3,000/1,000x31 = 93; best 31; ADD 62; CEI 0/2,000 = 0
    January   31 days: DSO 5,600/3,000x31 = 57.87; best 31; ADD 26.87; CEI 400/3,000 = 13.33
    February  28 days: DSO 5,600/600x28 = 261.33; best 0; ADD 261.33; CEI 600/6,200 = 9.68
    March 1-15 15 days: DSO 5,500/500x15 = 165; best 15; ADD 150; CEI 600/5,600 = 10.71
North only (B): January has no sales (DSO none) and CEI (2,000 + 0 - 2,000) / 2,000 = 0.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.orm import Session

from riskdesk.models import Invoice, Payment
from riskdesk.portfolio import service
from riskdesk.portfolio.schemas import PortfolioFilter
from riskdesk.security import service as security_service
from tests.conftest import principal
from tests.portfolio.seed import _customer, _key, ecl_run

AS_OF = dt.date(2026, 3, 15)
D = dt.date


def _invoice(
    session: Session, cid: int, amount: str, issued: dt.date, due: dt.date, *paid: Any
) -> None:
    invoice = Invoice(
        customer_id=cid, source="erp", external_id=_key(), content_hash="x",
        amount=Decimal(amount), currency="CNY", issue_date=issued, due_date=due,
    )  # fmt: skip
    session.add(invoice)
    session.flush()
    for value, day in paid:
        session.add(
            Payment(
                customer_id=cid, source="erp", external_id=_key(), content_hash="x",
                invoice_id=invoice.id, amount=Decimal(value), currency="CNY", paid_on=day,
                method="bank_transfer",
            )
        )  # fmt: skip
    session.flush()


def _book(session: Session) -> dict[str, int]:
    sales = security_service.get_user_by_username_or_raise(session, "sales").id
    common: dict[str, Any] = {
        "segment": "b2b_sme", "industry": "制造", "group_id": None, "tier": "low",
        "limit": "100000", "review": None, "exposure": {},
    }  # fmt: skip
    a = _customer(session, name="甲公司", region="East", owner_id=sales, **common)
    b = _customer(session, name="乙公司", region="North", owner_id=None, **common)
    m = _customer(session, name="已合并", region="East", owner_id=sales, status="merged", **common)
    _invoice(session, a, "1000", D(2025, 12, 10), D(2026, 1, 9),
             ("400", D(2026, 1, 31)), ("600", D(2026, 3, 10)))  # fmt: skip
    _invoice(session, a, "3000", D(2026, 1, 15), D(2026, 2, 14))
    _invoice(session, a, "600", D(2026, 2, 20), D(2026, 3, 22), ("600", D(2026, 2, 25)))
    _invoice(session, a, "900", D(2026, 3, 16), D(2026, 4, 15))
    _invoice(session, b, "2000", D(2025, 11, 1), D(2025, 12, 1))
    _invoice(session, b, "500", D(2026, 3, 1), D(2026, 3, 31))
    _invoice(session, a, "5000", D(2024, 12, 1), D(2025, 1, 1), ("5000", D(2025, 1, 15)))
    _invoice(session, b, "700", D(2025, 1, 10), D(2025, 2, 9), ("700", D(2025, 4, 10)))
    _invoice(session, m, "7000", D(2025, 12, 1), D(2025, 12, 31))
    session.commit()
    return {"a": a, "b": b, "m": m}


def _summary(db: Session, user: str, **filters: Any) -> Any:
    return service.summary(db, principal(db, user), flt=PortfolioFilter(**filters), as_of=AS_OF)


def _amounts(ageing: dict[str, Decimal]) -> tuple[int, ...]:
    return tuple(int(ageing[b]) for b in ("current", "1_30", "31_60", "61_90", "over_90"))


def test_ageing_dso_and_cei_by_month(db: Session) -> None:
    _book(db)
    trends = _summary(db, "manager").trends
    assert [t.month_end for t in trends][:2] == [D(2025, 3, 31), D(2025, 4, 30)]
    assert [t.month_end for t in trends][-4:] == [
        D(2025, 12, 31), D(2026, 1, 31), D(2026, 2, 28), AS_OF,
    ]  # fmt: skip
    assert [t.days for t in trends][-4:] == [31, 31, 28, 15]
    assert [t.month_to_date for t in trends][-2:] == [False, True]
    by_end = {t.month_end: t for t in trends}
    march, april = by_end[D(2025, 3, 31)], by_end[D(2025, 4, 30)]
    assert _amounts(march.ageing) == (0, 0, 700, 0, 0)
    assert (march.sales, march.dso, march.add, march.cei) == (0, None, None, 0.0)
    assert (april.ar, april.dso, april.cei) == (0, None, 100.0)
    for end in (D(2025, 5, 31), D(2025, 10, 31)):
        quiet = by_end[end]
        assert (quiet.ar, quiet.sales, quiet.dso, quiet.cei) == (0, 0, None, None), end
    expected = {
        # month end: (ageing amounts, sales, DSO, best DSO, ADD, CEI)
        D(2025, 11, 30): ((2000, 0, 0, 0, 0), 2000, 30.0, 30.0, 0.0, None),
        D(2025, 12, 31): ((1000, 2000, 0, 0, 0), 1000, 93.0, 31.0, 62.0, 0.0),
        D(2026, 1, 31): ((3000, 600, 0, 2000, 0), 3000, 57.87, 31.0, 26.87, 13.33),
        D(2026, 2, 28): ((0, 3000, 600, 2000, 0), 600, 261.33, 0.0, 261.33, 9.68),
        AS_OF: ((500, 3000, 0, 0, 2000), 500, 165.0, 15.0, 150.0, 10.71),
    }
    for end, (ageing, sales, dso, best, add, cei) in expected.items():
        t = by_end[end]
        assert _amounts(t.ageing) == ageing, end
        assert t.ar == sum(ageing) and t.current_ar == ageing[0], end
        assert (t.sales, t.dso, t.best_dso, t.add, t.cei) == (sales, dso, best, add, cei), end
    # Today's column is the ageing card's figures: both count an invoice from its issue date
    # (I6, issued after today, is in neither).
    today = {a.bucket: a.amount for a in _summary(db, "manager").ageing}
    assert trends[-1].ageing == today


def test_the_trends_keep_to_the_scope(db: Session, client_for) -> None:  # type: ignore[no-untyped-def]
    _book(db)
    north = {t.month_end: t for t in _summary(db, "manager", region="North").trends}
    january = north[D(2026, 1, 31)]
    assert _amounts(january.ageing) == (0, 0, 0, 2000, 0)
    assert (january.sales, january.dso, january.best_dso, january.add) == (0, None, None, None)
    assert january.cei == 0.0
    assert north[AS_OF].ar == 2500 and north[AS_OF].dso == 75.0  # 2,500 / 500 x 15
    # Sales see their own customer (A) only: in December just I1, current.
    own = {t.month_end: t for t in _summary(db, "sales").trends}
    assert _amounts(own[D(2025, 12, 31)].ageing) == (1000, 0, 0, 0, 0)
    assert own[D(2025, 11, 30)].ar == 0
    # The API answers the same figures, money as strings.
    api = client_for("manager").get("/api/v1/portfolio/summary", params={"region": "North"})
    assert api.status_code == 200, api.text
    trends = api.json()["trends"]
    assert len(trends) == 13
    assert set(trends[-1]) == {
        "month_end", "days", "month_to_date", "sales", "ar", "current_ar", "ageing",
        "dso", "best_dso", "add", "cei",
    }  # fmt: skip


def test_the_ecl_card(db: Session, client_for) -> None:  # type: ignore[no-untyped-def]
    ids = _book(db)
    manager = client_for("manager")
    url = "/api/v1/portfolio/summary"
    assert manager.get(url).json()["ecl"] == {
        "run_id": None, "as_of": None, "customers": 0, "balance": "0.00", "ecl": "0.00",
        "coverage": None, "scoped": False,
    }  # fmt: skip
    ecl_run(db, D(2026, 1, 31), "1.00", "1.00", {})  # an older run
    rows = {ids["a"]: ("5000.00", "300.00"), ids["b"]: ("2500.00", "450.00"),
            ids["m"]: ("7000.00", "7000.00")}  # fmt: skip
    latest = ecl_run(db, D(2026, 3, 15), "14500.00", "7750.00", rows)
    whole = manager.get(url).json()["ecl"]
    # No filter: the run's own totals (the merged customer was in the book on its date).
    assert whole == {
        "run_id": latest, "as_of": "2026-03-15", "customers": 3, "balance": "14500.00",
        "ecl": "7750.00", "coverage": pytest.approx(7750 / 14500), "scoped": False,
    }  # fmt: skip
    north = manager.get(url, params={"region": "North"}).json()["ecl"]
    assert (north["customers"], north["balance"], north["ecl"], north["scoped"]) == (
        1, "2500.00", "450.00", True,
    )  # fmt: skip
    assert north["coverage"] == pytest.approx(0.18)
    # Sales and admin may read the dashboard but not ECL: no card.
    for user in ("sales", "admin"):
        answer = client_for(user).get(url)
        assert answer.status_code == 200 and answer.json()["ecl"] is None, user
    assert client_for("auditor").get(url).json()["ecl"]["run_id"] == latest


def test_the_ageing_as_of_a_past_day_is_what_it_was_then(db: Session) -> None:
    """The committee pack's month end: payments made later and invoices issued later count
    not. As of 2026-02-28: a's first invoice still has 600 open (paid on 03-10), 50 days past
    due; a's 3,000 is 14 days past due; b's 2,000 is 89; b's 500 is issued on 03-01."""
    _book(db)
    day = D(2026, 2, 28)
    s = service.summary(db, principal(db, "manager"), flt=PortfolioFilter(), as_of=day)
    ageing = {a.bucket: (a.customers, a.amount) for a in s.ageing}
    assert ageing == {
        "current": (0, Decimal("0.00")),
        "1_30": (1, Decimal("3000.00")),
        "31_60": (1, Decimal("600.00")),
        "61_90": (1, Decimal("2000.00")),
        "over_90": (0, Decimal("0.00")),
    }
    assert (s.overdue.overdue, s.overdue.customers) == (Decimal("5600.00"), 2)
    by_end = {t.month_end: t for t in s.trends}
    assert _amounts(by_end[day].ageing) == (0, 3000, 600, 2000, 0)
