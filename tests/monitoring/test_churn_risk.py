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


def test_the_database_counts_purchase_days_as_the_summary_does(db) -> None:  # type: ignore[no-untyped-def]
    """The event path reads each customer's purchase days counted by the database; it must be
    ``churn.summarise`` of the orders themselves, with the UTC day and the cut-off as Polars
    sees them (orders late on a UTC day, two on one day, one after the cut-off)."""
    import polars as pl
    from polars.testing import assert_frame_equal

    from riskdesk.monitoring import churn
    from riskdesk.monitoring import repository as monitoring_repo

    p = principal(db, "manager")
    ingest(db, p, "customers", [company(n, owner="sales") for n in ("PA", "PB", "PC")])
    base = (utcnow() - dt.timedelta(days=1)).replace(hour=23, minute=59, second=58)
    base = base.replace(microsecond=0)
    stamps = {
        "PA": [base - dt.timedelta(days=d) for d in (3, 3, 40, 41, 200)] + [base],
        "PB": [base - dt.timedelta(days=10, hours=23, minutes=59)],
        "PC": [base],  # after the cut-off: not counted
    }
    ingest(
        db,
        p,
        "orders",
        [
            order(f"{ext}-{k}", ext, ordered_at=at.isoformat())
            for ext, ats in stamps.items()
            for k, at in enumerate(ats)
        ],
    )
    db.commit()
    refs = customer_repo.customer_ids_by_ref(db, {("erp", n) for n in stamps})
    ids = sorted(refs.values())
    day = base.date() - dt.timedelta(days=1)
    for asked in (ids, None):
        expected = (
            churn.summarise(
                monitoring_repo.purchase_days(db, day, asked), day, customer="customer_id"
            )
            .rename({"customer": "customer_id"})
            .sort("customer_id")
        )
        counted = churn.summary_of(monitoring_repo.purchase_counts(db, day, asked), day)
        assert_frame_equal(counted.sort("customer_id"), expected, check_column_order=False)
        assert counted.height == 2  # PC ordered only after the cut-off
    pa = counted.filter(pl.col("customer_id") == refs[("erp", "PA")]).row(0, named=True)
    assert pa["x"] == 3.0 and abs(pa["T"] - 199 / 7) < 1e-9
