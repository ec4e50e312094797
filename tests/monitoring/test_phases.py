"""A rule run over everyone finds its hits from a snapshot and raises them in a short write:
what the write re-checks, since others may have written while it computed."""

from __future__ import annotations

from riskdesk.alerts import service as alert_service
from riskdesk.models import Alert
from riskdesk.monitoring import repository as repo
from riskdesk.monitoring import service
from tests.conftest import ingest, principal
from tests.factories import order
from tests.monitoring.test_alerts import _setup, invoice


def _hits(db) -> dict[tuple[int, str], int]:  # type: ignore[no-untyped-def]
    db.expire_all()
    return {(a.customer_id, a.rule_code): a.hits for a in db.query(Alert).all()}


def test_a_rule_run_leaves_alone_whoever_changed_while_it_computed(db) -> None:  # type: ignore[no-untyped-def]
    ids = _setup(db)
    p = principal(db, "manager")
    ingest(db, p, "invoices", [invoice("J1", "A", "900.00", 100), invoice("J2", "B", "800.00", 45)])
    db.commit()
    raised = _hits(db)
    assert {cid for cid, _ in raised} == {ids["A"], ids["B"]}
    findings = service.find_rule_hits(db, None)
    # Meanwhile A orders: its event re-evaluates A's rules on newer values.
    ingest(db, p, "orders", [order("O-A", "A")])
    db.commit()
    after_event = _hits(db)

    summary = alert_service.raise_alerts(db, findings)
    now = _hits(db)
    # B's alerts are refreshed by the run; A's stay as its own event left them.
    assert {k: v for k, v in now.items() if k[0] == ids["A"]} == {
        k: v for k, v in after_event.items() if k[0] == ids["A"]
    }
    b_keys = [k for k in raised if k[0] == ids["B"]]
    assert b_keys and all(now[k] == after_event[k] + 1 for k in b_keys)
    assert (summary.raised, summary.refreshed) == (0, len(b_keys))


def test_a_rule_retired_while_the_run_computed_raises_nothing(db) -> None:  # type: ignore[no-untyped-def]
    ids = _setup(db)
    p = principal(db, "manager")
    ingest(db, p, "invoices", [invoice("J2", "B", "800.00", 45)])
    db.commit()
    before = _hits(db)
    assert (ids["B"], "new_overdue") in before
    findings = service.find_rule_hits(db, None)
    version = next(v for r, v in repo.active_versions(db) if r.code == "new_overdue")
    version.status = "retired"
    db.commit()
    alert_service.raise_alerts(db, findings)
    now = _hits(db)
    assert now[(ids["B"], "new_overdue")] == before[(ids["B"], "new_overdue")]
    assert all(now[k] == before[k] + 1 for k in before if k[1] != "new_overdue")
