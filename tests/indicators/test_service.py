"""Indicators in the database: refreshed by events, recomputed in batch, served by the API."""

from __future__ import annotations

import datetime as dt

import pytest

from riskdesk.indicators import service
from riskdesk.kit.timeutil import today
from tests.factories import company


def _days_ago(n: int) -> str:
    return (today() - dt.timedelta(days=n)).isoformat()


def test_events_refresh_indicators_and_batch_agrees(manager, db) -> None:
    cid = manager.post("/api/v1/customers", json=company("IN1")).json()["id"]
    fresh = manager.get(f"/api/v1/customers/{cid}/indicators").json()
    values = {i["name"]: i["value"] for i in fresh["indicators"]}
    assert fresh["as_of"] == today().isoformat()
    assert values["orders_count_365d"] == 0
    for n, ago in enumerate((5, 40)):
        manager.post(
            "/api/v1/orders",
            json={
                "source": "erp",
                "external_id": f"IO{n}",
                "customer_external_id": "IN1",
                "ordered_at": f"{_days_ago(ago)}T09:00:00Z",
                "amount": "1000.00",
                "currency": "CNY",
                "payment_method": "cash_on_delivery" if n == 0 else "credit",
                "lines": [{"category": "food", "amount": "1000.00"}],
            },
        )
    manager.post(
        "/api/v1/invoices",
        json={
            "source": "erp",
            "external_id": "II1",
            "customer_external_id": "IN1",
            "order_external_id": "IO1",
            "amount": "1000.00",
            "currency": "CNY",
            "issue_date": _days_ago(40),
            "due_date": _days_ago(10),
        },
    )
    manager.post(
        "/api/v1/payments",
        json={
            "source": "erp",
            "external_id": "IP1",
            "invoice_external_id": "II1",
            "amount": "250.00",
            "currency": "CNY",
            "paid_on": _days_ago(2),
        },
    )
    body = manager.get(f"/api/v1/customers/{cid}/indicators").json()
    values = {i["name"]: i["value"] for i in body["indicators"]}
    assert values["orders_count_30d"] == 1 and values["orders_count_90d"] == 2
    assert values["cod_share_90d"] == 0.5
    assert values["ar_open_total"] == 750 and values["ar_1_30"] == 750
    assert values["dpd_max"] == 10
    names = {i["name"] for i in body["indicators"]}
    assert {"paydex", "dso_90d", "return_rate_90d", "rfm_recency_score"} <= names
    entry = next(i for i in body["indicators"] if i["name"] == "dso_90d")
    assert entry["description_zh"] and entry["unit"] == "days" and entry["window_days"] == 90
    before = dict(service.get_snapshot(db, cid).values)  # type: ignore[union-attr]
    service.run_batch(db)
    after = service.get_snapshot(db, cid).values  # type: ignore[union-attr]
    own = {k: v for k, v in before.items() if "percentile" not in k and not k.startswith("rfm")}
    assert own == {k: after[k] for k in own}


def test_catalogue_and_visibility(manager, client_for) -> None:
    catalogue = manager.get("/api/v1/indicators").json()
    assert len(catalogue) >= 60
    assert any(c["population"] for c in catalogue)
    other = manager.post("/api/v1/customers", json=company("IN2", owner="sales2")).json()["id"]
    assert client_for("sales").get(f"/api/v1/customers/{other}/indicators").status_code == 404
    assert client_for("sales2").get(f"/api/v1/customers/{other}/indicators").status_code == 200


POPULATION = ("percentile", "rfm_", "peer_ratio", "return_abuse_surprise")


def test_events_advance_the_stored_state_and_agree_with_the_whole_record(db) -> None:  # type: ignore[no-untyped-def]
    """Events processed through each customer's stored state give the values the whole record
    gives, step after step, late events and a complaint's resolution included; after the first
    build the state is only merged into (built once), and each queue row names its rows."""
    from sqlalchemy import select

    from riskdesk.indicators import repository as repo
    from riskdesk.indicators.compute import compute
    from riskdesk.models import IndicatorState, QueuedWork
    from riskdesk.pipeline import intake
    from tests.conftest import ingest, principal, processed
    from tests.factories import order, payment

    p = principal(db, "manager")
    ingest(db, p, "customers", [company("ST1"), company("ST2")])
    refs: list[list[int] | None] = []

    def step(kind: str, records: list[dict[str, object]]) -> None:
        report = intake.ingest(db, p, kind, records, skip_invalid=True)
        assert all(r.status == "created" for r in report.results), report.results
        refs.extend(db.scalars(select(QueuedWork.refs).where(QueuedWork.kind == kind)))
        processed(db)

    def agree() -> None:
        ids = sorted(db.scalars(select(IndicatorState.customer_id)))
        assert len(ids) == 2
        want = compute(repo.load_frames(db, ids), today(), reference=service.population(db))
        for row in want.iter_rows(named=True):
            stored = service.get_snapshot(db, row["customer_id"]).values  # type: ignore[union-attr]
            for name, value in row.items():
                if name == "customer_id" or any(p in name for p in POPULATION):
                    continue
                got = stored[name]
                assert (got is None and value is None) or abs(got - value) < 1e-6, (
                    name,
                    got,
                    value,
                )

    def at(days: int) -> str:
        return f"{_days_ago(days)}T09:00:00Z"

    step("orders", [order(f"SO{n}", "ST1", "800.00", ordered_at=at(n * 20 + 3)) for n in range(6)])
    step("orders", [order("SO9", "ST2", "500.00", ordered_at=at(400))])  # late, a year old
    built = {
        r[0]: r[1] for r in db.execute(select(IndicatorState.customer_id, IndicatorState.built_at))
    }
    agree()
    invoices = [
        {
            "source": "erp",
            "external_id": f"SI{n}",
            "customer_external_id": "ST1",
            "order_external_id": f"SO{n}",
            "amount": "800.00",
            "currency": "CNY",
            "issue_date": _days_ago(n * 20 + 3),
            "due_date": _days_ago(n * 20 - 27),
        }
        for n in range(6)
    ]
    step("invoices", invoices)
    step(
        "payments",
        [payment(f"SP{n}", f"SI{n}", "800.00", paid_on=_days_ago(n * 20)) for n in (2, 3, 4, 5)],
    )
    step("payments", [payment("SP6", "SI1", "300.00", paid_on=_days_ago(1))])
    complaint = {
        "source": "erp",
        "external_id": "SC1",
        "customer_external_id": "ST2",
        "severity": "high",
        "category": "product_quality",
        "opened_at": at(10),
    }
    step("complaints", [complaint])
    step("returns", [{"source": "erp", "external_id": "SR1", "order_external_id": "SO1",
                      "amount": "100.00", "currency": "CNY", "returned_on": _days_ago(5),
                      "reason": "damaged_in_transit"}])  # fmt: skip
    call = {"channel": "phone", "kind": "sales_call", "occurred_at": at(3)}
    step("interactions", [{"source": "erp", "external_id": "SX1", "customer_external_id": "ST2",
                           **call}])  # fmt: skip
    step("surveys", [{"source": "erp", "external_id": "SV1", "customer_external_id": "ST1",
                      "survey_type": "csat", "score": 2, "responded_at": at(4)}])  # fmt: skip
    agree()
    # Built once from the record, merged into since; every queue row named its rows.
    now_built = {
        r[0]: r[1] for r in db.execute(select(IndicatorState.customer_id, IndicatorState.built_at))
    }
    assert now_built == built
    assert refs and all(r for r in refs)
    # Warnings that wait out late payment feeds read the receivables from the states too.
    from polars.testing import assert_frame_equal

    from riskdesk.indicators.compute import receivables

    ids = sorted(built)
    assert_frame_equal(
        receivables(service.event_frames(db, ids, as_of=today()), today(), overdue_grace_days=5),
        receivables(repo.load_frames(db, ids), today(), overdue_grace_days=5),
    )
    first = sorted(built)[0]
    values = service.get_snapshot(db, first).values  # type: ignore[union-attr]
    assert values["orders_count_365d"] == 6 and values["returns_count_30d"] == 1
    assert values["ar_open_total"] == pytest.approx(800 * 2 - 300)
    # An edit in place drops the states; the next event rebuilds its customer's from the record.
    service.refresh(db, sorted(built))
    assert db.scalar(select(IndicatorState.customer_id)) is None
    contact = {"channel": "email", "kind": "support", "occurred_at": at(1)}
    step("interactions", [{"source": "erp", "external_id": "SX2", "customer_external_id": "ST1",
                           **contact}])  # fmt: skip
    assert list(db.scalars(select(IndicatorState.customer_id))) == [first]
    values = service.get_snapshot(db, first).values  # type: ignore[union-attr]
    assert values["interactions_count_90d"] == 1


def test_a_large_population_is_read_once_a_day_not_per_event(db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Past REFERENCE_POINTS customers the summary is stored and read instead of every
    snapshot; a day later it is rebuilt; a batch stores a fresh one."""
    from sqlalchemy import func, select, update

    from riskdesk.indicators import repository as repo
    from riskdesk.indicators.compute import REFERENCE_POINTS
    from riskdesk.kit.timeutil import utcnow
    from riskdesk.models import IndicatorReference
    from tests.conftest import ingest, principal

    n = REFERENCE_POINTS + 20
    ingest(db, principal(db, "manager"), "customers", [company(f"RP{i}") for i in range(n)])
    assert service.population(db) is not None
    stored = db.scalar(select(func.count()).select_from(IndicatorReference))
    assert stored == 1
    reads = []
    real = repo.snapshot_population
    monkeypatch.setattr(repo, "snapshot_population", lambda s: reads.append(1) or real(s))
    for _ in range(3):
        ref = service.population(db)
        assert ref is not None and ref.customers >= n
    assert reads == []
    db.execute(update(IndicatorReference).values(computed_at=utcnow() - dt.timedelta(days=2)))
    service.population(db)
    assert reads == [1]
    assert db.scalar(select(func.count()).select_from(IndicatorReference)) == 2
