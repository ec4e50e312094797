"""The worklist: a customer's alerts form one case whose priority is what is at stake, the
queue sorts by it, and a team's weekly alert budget decides which new alerts are notified."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from sqlalchemy import select

from riskdesk.alerts import priority
from riskdesk.alerts import repository as alerts_repo
from riskdesk.alerts import service as alert_service
from riskdesk.config import Settings
from riskdesk.customers import repository as customer_repo
from riskdesk.models import Alert, AlertCase, Notification
from tests.conftest import ingest, principal
from tests.factories import company
from tests.monitoring.test_alerts import invoice


def test_stakes_by_signal_and_the_case_takes_the_largest() -> None:
    alerts = pl.DataFrame(
        {
            "case_id": [1, 1, 2, 3],
            "customer_id": [10, 10, 20, 30],
            "rule_code": ["new_overdue", "drifting_away", "resale_frequency", "new_overdue"],
            "warning_type": ["default_risk", "churn", "resale", "default_risk"],
        }
    )
    # new_overdue has 30 closed alerts, 24 confirmed: its live precision (0.8) replaces the prior.
    scored = priority.precision_of(alerts, {"new_overdue": (24, 6), "resale_frequency": (1, 0)})
    assert scored["precision"].to_list() == [0.8, 0.5, 0.9, 0.8]
    facts = pl.DataFrame(
        {
            "customer_id": [10, 20, 30],
            "exposure": [100_000.0, 50_000.0, 100_000.0],
            "pd": [None, None, 0.1],  # 30 has a champion model's PD
            "value_at_risk": [400_000.0, None, None],
        }
    )
    staked = priority.stakes(scored, facts)
    assert staked["stake"].to_list() == pytest.approx([80_000.0, 200_000.0, 45_000.0, 10_000.0])
    assert staked["basis"].to_list() == [
        "expected_loss", "value_at_risk", "exposure_at_risk", "expected_loss",
    ]  # fmt: skip
    cases = priority.case_priorities(staked).sort("case_id")
    assert cases.rows() == [
        (1, 200_000.0, "value_at_risk"),
        (2, 45_000.0, "exposure_at_risk"),
        (3, 10_000.0, "expected_loss"),
    ]


STAKES = {"medium": 10_000.0, "high": 100_000.0, "critical": 1_000_000.0}


def test_severity_from_stake_capped_by_precision_and_the_rule() -> None:
    staked = pl.DataFrame(
        {
            "stake": [5_000.0, 50_000.0, 2_000_000.0, 2_000_000.0, 2_000_000.0, 2_000_000.0, None],
            "precision": [0.95, 0.95, 0.95, 0.6, 0.3, 0.95, 0.95],
            "cap": ["critical", "critical", "critical", "critical", "critical", "high", "low"],
        }
    )
    graded = priority.severities(staked, STAKES)["severity"].to_list()
    # By stake; a signal right 60% of the time reaches high at most, one right 30% of the time
    # medium; the rule's severity is the ceiling; nothing at stake is low.
    assert graded == ["low", "medium", "critical", "high", "medium", "high", "low"]


def test_backtested_precision_stands_between_live_and_the_prior() -> None:
    alerts = pl.DataFrame(
        {
            "rule_code": ["new_overdue", "resale_frequency", "drifting_away"],
            "warning_type": ["default_risk", "resale", "churn"],
        }
    )
    scored = priority.precision_of(
        alerts, {"new_overdue": (18, 2)}, {"default_risk": 0.7, "resale": 0.4}
    )
    # new_overdue has 20 closed alerts: live 0.9 wins; resale takes the backtest's 0.4 over its
    # prior 0.9; churn was not backtested: its prior 0.5.
    assert scored["precision"].to_list() == [0.9, 0.4, 0.5]


def test_a_recorded_backtest_grades_new_alerts(db, manager) -> None:  # type: ignore[no-untyped-def]
    from riskdesk.models import WarningBacktest
    from riskdesk.monitoring import repository as monitoring_repo
    from riskdesk.monitoring import service as monitoring_service

    alert_service.install_default_pack(db)
    monitoring_repo.add_backtest(
        db,
        WarningBacktest(
            date_from=dt.date(2026, 1, 31),
            date_to=dt.date(2026, 11, 30),
            every="month",
            # Too few flagged customers to say anything about payment deterioration.
            precisions={
                "default_risk": {"precision": 0.4, "flagged_customers": 25},
                "payment_deterioration": {"precision": 0.1, "flagged_customers": 3},
            },
            open_share=0.05,
            rules=["new_overdue"],
        ),
    )
    assert monitoring_service.backtested_precision(db) == {"default_risk": 0.4}
    ingest(db, principal(db, "manager"), "customers", [company("BIG")])
    ingest(db, principal(db, "manager"), "invoices", [invoice("B1", "BIG", "3000000.00", 60)])
    db.commit()
    found = db.scalars(select(Alert).where(Alert.rule_code == "new_overdue")).one()
    # 1.2 million at stake, but a signal the backtest found right 40% of the time is medium.
    assert (found.precision, found.stake, found.severity) == (0.4, 1_200_000.0, "medium")


def _two_overdue(db, owner_b: str | None = None) -> dict[str, int]:  # type: ignore[no-untyped-def]
    alert_service.install_default_pack(db)
    p = principal(db, "manager")
    extra = {"owner": owner_b} if owner_b else {}
    ingest(db, p, "customers", [company("BIG", owner="sales"), company("SMALL", **extra)])
    # One batch: both customers' alerts are raised together.
    ingest(
        db,
        p,
        "invoices",
        [invoice("I-BIG", "BIG", "50000.00", 45), invoice("I-SMALL", "SMALL", "800.00", 45)],
    )
    db.commit()
    refs = customer_repo.customer_ids_by_ref(db, {("erp", "BIG"), ("erp", "SMALL")})
    return {ext: cid for (_, ext), cid in refs.items()}


def test_the_worklist_puts_the_most_at_stake_first(db, manager, client_for) -> None:  # type: ignore[no-untyped-def]
    ids = _two_overdue(db)
    got = manager.get("/api/v1/worklist")
    assert got.status_code == 200, got.text
    assert got.headers["X-Total-Count"] == "2"
    cases = got.json()
    assert [c["customer_id"] for c in cases] == [ids["BIG"], ids["SMALL"]]
    exposure = dict(alerts_repo.counted_exposure(db, [ids["BIG"]]).rows())[ids["BIG"]]
    top = cases[0]
    # Default risk without a champion model: the type's replayed precision x the exposure.
    assert top["priority"] == pytest.approx(priority.PRIOR_PRECISION["default_risk"] * exposure)
    assert top["priority_basis"] == "expected_loss" and "default_risk" in top["warning_types"]
    assert top["open_alerts"] >= 1
    # The case as the API shows it carries the same priority.
    case = manager.get(f"/api/v1/cases/{top['case_id']}").json()
    assert case["priority"] == pytest.approx(top["priority"])
    # The queue sorts the same way, and shows the amount; sales sees only their customer.
    page = manager.get("/alerts").text
    assert page.index(f"/customers/{ids['BIG']}") < page.index(f"/customers/{ids['SMALL']}")
    recent = manager.get("/alerts", params={"order": "recent"})
    assert recent.status_code == 200
    assert [c["customer_id"] for c in client_for("sales").get("/api/v1/worklist").json()] == [
        ids["BIG"]
    ]
    assert manager.get("/api/v1/worklist", params={"limit": 0}).status_code == 422
    # Paying the big invoice clears its alert; the case closes and leaves the worklist.
    p = principal(db, "manager")
    paid_on = invoice("x", "BIG", "1", 0)["due_date"]  # today
    ingest(
        db,
        p,
        "payments",
        [{"source": "erp", "external_id": "P-BIG", "invoice_external_id": "I-BIG",
          "amount": "50000.00", "currency": "CNY", "paid_on": paid_on}],
    )  # fmt: skip
    db.commit()
    left = manager.get("/api/v1/worklist").json()
    assert [c["customer_id"] for c in left] == [ids["SMALL"]]


def test_beyond_the_weekly_budget_alerts_are_listed_not_notified(db, manager, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(alert_service, "get_settings", lambda: Settings(alert_budget_per_week=1))
    ids = _two_overdue(db, owner_b="sales")
    by_customer = {
        a.customer_id: a for a in db.scalars(select(Alert).where(Alert.rule_code == "new_overdue"))
    }
    # Both go to sales; the budget of one goes to the larger stake.
    assert by_customer[ids["BIG"]].notified and not by_customer[ids["SMALL"]].notified
    sales_id = by_customer[ids["BIG"]].assigned_to_id
    told = {
        n.alert_id
        for n in db.scalars(
            select(Notification).where(
                Notification.user_id == sales_id, Notification.kind == "alert_assigned"
            )
        )
    }
    assert by_customer[ids["BIG"]].id in told and by_customer[ids["SMALL"]].id not in told
    # Still in the queue, marked.
    page = manager.get("/alerts").text
    assert "listed only" in page or "仅列出" in page
    api = manager.get(f"/api/v1/alerts/{by_customer[ids['SMALL']].id}").json()
    assert api["notified"] is False
    cases = {c.customer_id: c for c in db.scalars(select(AlertCase))}
    assert cases[ids["BIG"]].priority > cases[ids["SMALL"]].priority


def test_the_server_backtests_the_pack_when_due(db, factory) -> None:  # type: ignore[no-untyped-def]
    from riskdesk.monitoring import repository as monitoring_repo
    from riskdesk.monitoring import tasks

    alert_service.install_default_pack(db)
    db.commit()
    kept = tasks.backtest_if_due(factory, 7)
    assert kept is not None and set(kept.precisions) >= {"default_risk", "churn"}
    assert kept.rules == sorted(code for code in kept.rules) and "new_overdue" in kept.rules
    assert tasks.backtest_if_due(factory, 7) is None  # one a week
    latest = monitoring_repo.latest_backtest(db)
    assert latest is not None and latest.id == kept.id
