"""A rule or anomaly run as a job raises its findings in parts of RAISE_CHUNK customers, each a
short transaction: the parts cover the run exactly, and what they raise and clear is what one
transaction does."""

from __future__ import annotations

import polars as pl
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from riskdesk.jobs import kinds
from riskdesk.jobs import service as jobs
from riskdesk.models import Alert
from riskdesk.monitoring import service as monitoring_service

ASYNC = {"Prefer": "respond-async"}
OPEN = ("open", "acknowledged", "in_progress")


def _open_alerts(db: Session) -> set[tuple[int | None, str | None]]:
    db.expire_all()
    rows = db.execute(
        select(Alert.customer_id, Alert.rule_code).where(
            Alert.source == "rule", Alert.status.in_(OPEN)
        )
    )
    return {(r[0], r[1]) for r in rows}


def test_the_parts_cover_the_findings_exactly(db) -> None:  # type: ignore[no-untyped-def]
    from riskdesk.demo.loader import load_demo

    load_demo(db, customers=40, months=13, seed=5)
    db.commit()
    whole = monitoring_service.find_rule_hits(db, None)
    assert whole.marks is not None and whole.judged is not None and whole.hits
    cut = monitoring_service.parts(whole, 7)
    ids = sorted(whole.marks["customer_id"].to_list())
    assert len(cut) == -(-len(ids) // 7)
    # Each part judges its own customers, in order, and together every one once.
    judged = [sorted(p.judged.customer_ids or ()) for p in cut if p.judged is not None]
    assert [c for part in judged for c in part] == ids
    assert sum(p.customers for p in cut) == len(ids)
    for part, customers in zip(cut, judged, strict=True):
        assert part.marks is not None and sorted(part.marks["customer_id"]) == customers
        assert part.judged is not None
        assert set(part.judged.values["customer_id"]) <= set(customers)
        assert part.judged.unwatched <= set(customers)
        assert part.judged.rules == whole.judged.rules
        for h in part.hits:
            assert {cid for cid, _ in h.hits} <= set(customers)
    # Every hit, with its evidence, is in exactly one part.
    for n, h in enumerate(whole.hits):
        again = [hit for p in cut for hit in p.hits[n].hits]
        assert sorted(again, key=lambda x: x[0]) == sorted(h.hits, key=lambda x: x[0])
    values = pl.concat([p.judged.values for p in cut if p.judged is not None])
    assert values.sort("customer_id").equals(whole.judged.values.sort("customer_id"))
    assert monitoring_service.parts(whole, len(ids)) == [whole]


def test_a_rule_run_in_parts_raises_and_clears_as_one_transaction_does(
    db, manager, client_for, factory, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from riskdesk.demo.loader import load_demo

    load_demo(db, customers=60, months=14, seed=3)
    db.commit()
    monkeypatch.setattr(kinds, "RAISE_CHUNK", 7)
    before = _open_alerts(db)
    started = manager.post("/api/v1/rule-runs", headers=ASYNC)
    assert started.status_code == 202, started.text
    jobs.run_next(factory)
    done = manager.get(started.headers["Location"]).json()
    assert done["status"] == "done", done
    after = _open_alerts(db)
    # The same run in one transaction now finds everything raised: nothing new, nothing to clear.
    again = manager.post("/api/v1/rule-runs")
    assert again.status_code == 201, again.text
    assert (again.json()["raised"], again.json()["cleared"]) == (0, 0)
    assert _open_alerts(db) == after
    assert done["result"]["customers"] == again.json()["customers"]
    assert done["result"]["raised"] == len(after - before)
    # A retired rule's alerts clear in every part, whichever part their customer is in.
    code, count = max(
        ((c, sum(1 for _, k in after if k == c)) for c in {k for _, k in after}),
        key=lambda x: x[1],
    )
    assert count >= 2
    rule = next(r for r in manager.get("/api/v1/rules").json() if r["code"] == code)
    active = next(v for v in rule["versions"] if v["status"] == "active")
    assert client_for("analyst").post(f"/api/v1/rule-versions/{active['id']}/retire").is_success
    started = manager.post("/api/v1/rule-runs", headers=ASYNC)
    jobs.run_next(factory)
    cleared = manager.get(started.headers["Location"]).json()
    assert cleared["status"] == "done", cleared
    assert cleared["result"]["cleared"] == count
    assert not {k for _, k in _open_alerts(db)} & {code}


@pytest.mark.parametrize("chunk", [3, 1000])
def test_an_anomaly_run_in_parts_gives_the_same_summary(
    db, manager, factory, monkeypatch, chunk
) -> None:  # type: ignore[no-untyped-def]
    from riskdesk.demo.loader import load_demo

    load_demo(db, customers=60, months=14, seed=3)
    db.commit()
    monkeypatch.setattr(kinds, "RAISE_CHUNK", chunk)
    params = {"months": 3, "top": 5}
    started = manager.post("/api/v1/anomaly-runs", params=params, headers=ASYNC)
    jobs.run_next(factory)
    done = manager.get(started.headers["Location"]).json()
    assert done["status"] == "done", done
    again = manager.post("/api/v1/anomaly-runs", params=params)
    assert again.status_code == 201, again.text
    assert again.json()["raised"] == 0
    assert again.json()["refreshed"] == done["result"]["raised"] + done["result"]["refreshed"]
    assert again.json()["ranking"] == done["result"]["ranking"]
