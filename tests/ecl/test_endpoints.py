"""ECL runs over the API on the hand-worked portfolio of test_matrix: stored once per inputs,
the matrix and totals as worked by hand, movement against the previous run, adjustments with
four eyes, a run as a job, and who may do what."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from riskdesk.jobs import service as jobs
from riskdesk.models import AuditEntry, Customer, EclCustomerResult, EclRun, Invoice

D = dt.date
RUNS = "/api/v1/ecl/runs"
BODY = {"as_of": "2026-06-30", "lookback_months": 6}


def _rows(run: dict[str, Any], segment: str) -> dict[str, dict[str, Any]]:
    return {r["bucket"]: r for r in run["matrix"] if r["segment"] == segment}


def test_a_run_stores_the_hand_worked_matrix_once(portfolio, manager, db) -> None:  # type: ignore[no-untyped-def]
    created = manager.post(RUNS, json=BODY)
    assert created.status_code == 201, created.text
    run = created.json()
    # Every segment falls back to the portfolio (well under the minimum balance), whose
    # rates are the hand-worked ones.
    rows = _rows(run, "portfolio")
    assert [round(rows[b]["historical_rate"], 6) for b in rows] == [
        round(x, 6) for x in (1 / 24, 1 / 14, 1 / 6, 1 / 4, 1 / 4, 1.0)
    ]
    assert {r["rates_from"] for r in run["matrix"]} == {"portfolio"}
    assert Decimal(run["total_balance"]) == Decimal("6500.00")
    assert Decimal(run["total_ecl"]) == Decimal("3142.86")  # 500 + 2000/14 + 2500
    segments = {s["segment"]: s for s in run["segments"]}
    assert Decimal(segments["b2b_sme"]["ecl"]) == Decimal("642.86")
    assert Decimal(segments["consumer"]["ecl"]) == Decimal("2500.00")
    assert run["previous_run_id"] is None
    # The inputs: month-end balances per segment and bucket (A still open on 2026-01-31).
    inputs = {
        (m["segment"], m["date"], m["bucket"]): Decimal(m["balance"])
        for m in run["month_end_balances"]
    }
    assert inputs[("b2b_sme", "2026-01-31", "31_60")] == Decimal("1000")
    # The same inputs again: the same run, nothing stored twice.
    again = manager.post(RUNS, json=BODY)
    assert again.status_code == 200 and again.json()["id"] == run["id"]
    assert db.scalar(select(func.count()).select_from(EclRun)) == 1
    assert db.scalar(select(func.count()).select_from(EclCustomerResult)) == 3
    # Audit-logged like other writes.
    tables = db.scalars(select(AuditEntry.detail)).all()
    assert any("ecl_runs" in str(c) for c in tables)
    listed = manager.get(RUNS).json()
    assert [r["id"] for r in listed] == [run["id"]]


def test_the_customers_of_a_run_are_paged_largest_ecl_first(portfolio, manager) -> None:  # type: ignore[no-untyped-def]
    run = manager.post(RUNS, json=BODY).json()
    first = manager.get(f"{RUNS}/{run['id']}/customers", params={"size": 2}).json()
    assert first["total"] == 3 and len(first["items"]) == 2
    assert [i["customer_id"] for i in first["items"]] == [portfolio[4], portfolio[1]]
    assert Decimal(first["items"][0]["dpd_over_180"]) == Decimal("2500.00")
    assert first["items"][0]["name"] == "测试客户4有限公司"
    second = manager.get(f"{RUNS}/{run['id']}/customers", params={"size": 2, "page": 2}).json()
    assert [i["customer_id"] for i in second["items"]] == [portfolio[2]]
    assert Decimal(second["items"][0]["ecl"]) == Decimal("142.86")
    consumer = manager.get(f"{RUNS}/{run['id']}/customers", params={"segment": "consumer"})
    assert consumer.json()["total"] == 1
    bad = manager.get(f"{RUNS}/{run['id']}/customers", params={"segment": "nobody"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "segment"
    missing = manager.get(f"{RUNS}/999999/customers")
    assert missing.status_code == 404


def test_an_approved_adjustment_makes_a_new_run_and_its_movement(
    portfolio, client_for, manager
) -> None:  # type: ignore[no-untyped-def]
    first = manager.post(RUNS, json=BODY).json()
    proposed = manager.post(
        "/api/v1/ecl/adjustments",
        json={"segment": "portfolio", "multiplier": 1.2, "reason": "Weaker demand forecast"},
    )
    assert proposed.status_code == 201, proposed.text
    adjustment = proposed.json()
    # Not applied until approved, and not by the one who proposed it.
    assert manager.post(RUNS, json=BODY).json()["id"] == first["id"]
    own = manager.post(f"/api/v1/ecl/adjustments/{adjustment['id']}/approve", json={})
    assert own.status_code == 403 and own.json()["error"]["code"] == "four_eyes"
    approved = client_for("manager2").post(
        f"/api/v1/ecl/adjustments/{adjustment['id']}/approve", json={"comment": "agreed"}
    )
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    again = client_for("manager2").post(
        f"/api/v1/ecl/adjustments/{adjustment['id']}/approve", json={}
    )
    assert again.status_code == 409
    second = manager.post(RUNS, json=BODY)
    assert second.status_code == 201
    run = second.json()
    assert run["previous_run_id"] == first["id"]
    assert run["adjustments"][0]["multiplier"] == 1.2
    rows = _rows(run, "portfolio")
    assert rows["current"]["historical_rate"] == pytest.approx(1 / 24)
    assert rows["current"]["adjusted_rate"] == pytest.approx(1.2 / 24)
    # ECL: 600 + 2000 * 1.2 / 14 + 2500 = 3271.43; moved by 100 in 91_180, 28.57 in 1_30.
    assert Decimal(run["total_ecl"]) == Decimal("3271.43")
    moved = {(m["segment"], m["bucket"]): m for m in run["movement"]}
    assert Decimal(moved[("portfolio", "91_180")]["ecl_change"]) == Decimal("100.00")
    assert Decimal(moved[("portfolio", "1_30")]["ecl_change"]) == Decimal("28.57")
    assert Decimal(moved[("portfolio", "over_180")]["ecl_change"]) == Decimal("0.00")
    assert Decimal(moved[("portfolio", "1_30")]["balance_change"]) == Decimal("0.00")
    assert moved[("portfolio", "31_60")]["adjusted_rate_change"] == pytest.approx(0.2 / 6)
    detail = manager.get(f"{RUNS}/{run['id']}").json()
    assert detail["movement"] == run["movement"]


def test_a_run_as_a_job_stores_the_same_run(portfolio, manager, factory) -> None:  # type: ignore[no-untyped-def]
    started = manager.post(RUNS, json=BODY, headers={"Prefer": "respond-async"})
    assert started.status_code == 202, started.text
    assert started.json()["kind"] == "ecl_run"
    assert jobs.run_next(factory) == started.json()["id"]
    done = manager.get(started.headers["Location"]).json()
    assert done["status"] == "done", done
    assert Decimal(done["result"]["total_ecl"]) == Decimal("3142.86")
    sync = manager.post(RUNS, json=BODY)
    assert sync.status_code == 200 and sync.json()["id"] == done["result"]["id"]


def test_bad_input_names_the_field(portfolio, manager) -> None:  # type: ignore[no-untyped-def]
    short = manager.post(RUNS, json={**BODY, "lookback_months": 3})
    assert short.status_code == 422 and "lookback_months" in short.text
    early = manager.post(RUNS, json={"as_of": "2025-09-30", "lookback_months": 6})
    assert early.status_code == 422
    assert early.json()["error"]["code"] == "not_enough_history"
    assert early.json()["error"]["field"] == "lookback_months"
    future = manager.post(RUNS, json={"as_of": "2999-01-01"})
    assert future.status_code == 422 and "as_of" in future.text
    unknown = manager.post(
        "/api/v1/ecl/adjustments",
        json={"segment": "martians", "multiplier": 1.1, "reason": "a long enough reason"},
    )
    assert unknown.status_code == 422 and "segment" in unknown.text
    wild = manager.post(
        "/api/v1/ecl/adjustments",
        json={"segment": "consumer", "multiplier": 9, "reason": "a long enough reason"},
    )
    assert wild.status_code == 422 and "multiplier" in wild.text


@pytest.mark.parametrize(
    ("username", "reads", "runs"),
    [
        ("manager", True, True),
        ("analyst", True, False),
        ("auditor", True, False),
        ("sales", False, False),
        ("service", False, False),
        ("admin", False, False),
    ],
)
def test_who_may_read_and_run(portfolio, client_for, username, reads, runs) -> None:  # type: ignore[no-untyped-def]
    client = client_for(username)
    assert (client.get(RUNS).status_code == 200) is reads
    assert (client.get("/api/v1/ecl/adjustments").status_code == 200) is reads
    answer = client.post(RUNS, json=BODY)
    assert answer.status_code == (201 if runs else 403), answer.text
    proposal = client.post(
        "/api/v1/ecl/adjustments",
        json={"segment": "consumer", "multiplier": 1.1, "reason": "a long enough reason"},
    )
    assert proposal.status_code == (201 if runs else 403)
    # A run that does not exist reads the same as one not allowed: nothing is revealed.
    assert client.get(f"{RUNS}/999999").status_code == (404 if reads else 403)


def test_a_run_over_an_empty_book_says_why(manager, db) -> None:  # type: ignore[no-untyped-def]
    created = manager.post(RUNS, json=BODY)
    assert created.status_code == 422, created.text
    error = created.json()["error"]
    assert error["code"] == "not_enough_history" and error["field"] == "lookback_months"
    assert db.scalar(select(func.count()).select_from(EclRun)) == 0


def test_a_run_over_the_largest_amounts_stores_its_totals(db, manager) -> None:  # type: ignore[no-untyped-def]
    """Each invoice fits an amount's width; a customer's balance and the run's totals over
    three of them do not, and are stored wider."""
    largest = Decimal("9999999999999999.99")
    customer = Customer(kind="company", company_name="边界客户有限公司", segment="b2b_sme")
    db.add(customer)
    db.flush()
    for n in range(3):
        db.add(
            Invoice(
                customer_id=customer.id, source="erp", external_id=f"ECL-MAX{n}",
                content_hash="0" * 64, amount=largest, currency="CNY",
                issue_date=D(2026, 1, 1), due_date=D(2026, 1, 31),
            )
        )  # fmt: skip
    db.commit()
    created = manager.post(RUNS, json=BODY)
    assert created.status_code == 201, created.text
    total = Decimal(created.json()["total_balance"])
    # The matrix computes in floats: at 3e16 a float is exact to a few units, not to cents.
    assert abs(total - 3 * largest) < 16
