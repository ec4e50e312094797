"""Churn risk on the credit file: BG/NBD fitted on everyone's purchase days, combined with the
customer's decline signals."""

from __future__ import annotations

import datetime as dt

from riskdesk.customers import repository as customer_repo
from riskdesk.kit.timeutil import utcnow
from tests.conftest import ingest, principal
from tests.factories import company, order


def _at(days_ago: int) -> str:
    return (utcnow() - dt.timedelta(days=days_ago)).replace(microsecond=0).isoformat()


def test_a_customer_who_stopped_buying_has_the_higher_churn_risk(db, client_for) -> None:  # type: ignore[no-untyped-def]
    p = principal(db, "manager")
    names = [f"R{i}" for i in range(6)] + ["GONE", "FEW"]
    ingest(db, p, "customers", [company(n, owner="sales") for n in names])
    orders = []
    for i in range(6):  # regular buyers: every 2-3 weeks for a year, up to last week
        orders += [order(f"R{i}-{k}", f"R{i}", ordered_at=_at(7 + k * (14 + i))) for k in range(20)]
    # Bought as often, then nothing for eight months.
    orders += [order(f"G-{k}", "GONE", ordered_at=_at(240 + k * 14)) for k in range(10)]
    orders += [order("F-1", "FEW", ordered_at=_at(300))]
    ingest(db, p, "orders", orders)
    db.commit()
    manager = client_for("manager")
    refs = customer_repo.customer_ids_by_ref(db, {("erp", n) for n in names})
    ids = {ext: cid for (_, ext), cid in refs.items()}
    before = manager.get(f"/api/v1/customers/{ids['GONE']}/churn-risk").json()
    assert before["fit"] is None and before["risk"] is None
    fitted = manager.post("/api/v1/churn-fits")
    assert fitted.status_code == 201 and fitted.json()["customers"] == 8
    regular = manager.get(f"/api/v1/customers/{ids['R0']}/churn-risk").json()
    gone = manager.get(f"/api/v1/customers/{ids['GONE']}/churn-risk").json()
    assert regular["p_alive"] > 0.8 > 0.3 > gone["p_alive"]
    assert regular["expected_purchases"] > 3 > gone["expected_purchases"]
    assert gone["risk"] > 0.6 and gone["band"] == "high" and regular["band"] == "low"
    # Stopped ordering: full decline; ordering as ever (against their own earlier rate): little.
    assert gone["decline"] == 1.0 and regular["decline"] < 0.2
    assert abs(gone["risk"] - (1 - gone["p_alive"] * (1 - 1.0 / 2))) < 1e-9
    # Sales sees only their own customers; customers' risks need customers:read.
    assert (
        client_for("sales2").get(f"/api/v1/customers/{ids['GONE']}/churn-risk").status_code == 404
    )
    assert client_for("sales").post("/api/v1/churn-fits").status_code == 403
