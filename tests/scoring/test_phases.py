"""Long scoring work in phases (read a snapshot, compute, store briefly): what the store phase
re-checks, since others may have written while it computed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from riskdesk.kit.errors import NotAuthenticated, PermissionDenied
from riskdesk.models import CustomerScore, IndicatorSnapshot, User
from riskdesk.scoring import registry, service
from riskdesk.scoring import repository as repo
from tests.conftest import ingest, principal
from tests.factories import order
from tests.scoring.test_service import _active, _portfolio, card


def test_a_run_stores_nothing_over_what_changed_while_it_computed(db, manager, client_for) -> None:  # type: ignore[no-untyped-def]
    ids = _portfolio(db)
    _active(db, client_for, manager, card())
    plan = service.plan_rescore(db)
    # Meanwhile LATE orders again: its event refreshes LATE's indicators with newer values.
    ingest(db, principal(db, "manager"), "orders", [order("O-LATE", "LATE")])
    db.commit()
    late = db.get(IndicatorSnapshot, ids["LATE"])
    assert late is not None
    newer = (late.computed_at, late.values["orders_count_365d"])

    summary = service.store_rescore(db, plan, principal(db, "manager"), trigger="manual")
    # GOOD is scored as planned; LATE keeps its newer indicators and gets no stale score.
    assert (summary.scored, summary.changed) == (1, 1)
    scored = set(
        db.scalars(select(CustomerScore.customer_id).where(CustomerScore.run_id.is_not(None)))
    )
    assert scored == {ids["GOOD"]}
    db.expire_all()
    late = db.get(IndicatorSnapshot, ids["LATE"])
    assert late is not None and (late.computed_at, late.values["orders_count_365d"]) == newer
    assert newer[1] == 1


def test_in_one_transaction_the_run_scores_everyone_it_planned(db, manager, client_for) -> None:  # type: ignore[no-untyped-def]
    ids = _portfolio(db)
    _active(db, client_for, manager, card())
    summary = service.rescore_all(db, principal(db, "manager"), trigger="manual")
    assert (summary.scored, summary.unscored) == (2, 1)
    assert set(repo.latest_scores(db, list(ids.values()))) == {ids["GOOD"], ids["LATE"]}


def _data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(5)
    dpd = rng.integers(0, 120, 300).astype(float)
    y = (rng.uniform(0, 1, 300) < 0.05 + dpd / 200).astype(int)
    return pd.DataFrame({"dpd_max": dpd, "paydex": rng.uniform(20, 100, 300)}), y


def test_a_model_stored_after_another_of_its_name_takes_the_next_number(db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    analyst = principal(db, "analyst")
    X, y = _data()
    trained = registry.fit_model(analyst, family="scorecard", X=X, y=y, folds=2)
    first = registry.store_model(db, analyst, trained, name="race", data_source="t", target="t")
    assert first.version == 1
    # A concurrent store read the highest number before this one committed (PostgreSQL):
    # its number is taken by the time it inserts, so it takes the next one.
    taken = iter([1])
    real = repo.next_model_version
    monkeypatch.setattr(repo, "next_model_version", lambda s, n: next(taken, None) or real(s, n))
    second = registry.store_model(db, analyst, trained, name="race", data_source="t", target="t")
    assert second.version == 2
    assert [v.version for v in repo.model_versions(db, "race")] == [2, 1]


def test_a_model_is_not_stored_for_a_caller_who_lost_the_right_meanwhile(db) -> None:  # type: ignore[no-untyped-def]
    analyst = principal(db, "analyst")
    X, y = _data()
    trained = registry.fit_model(analyst, family="scorecard", X=X, y=y, folds=2)
    user = db.scalars(select(User).where(User.username == "analyst")).one()
    user.role = "sales"
    db.flush()
    with pytest.raises(PermissionDenied):
        registry.store_model(db, analyst, trained, name="late", data_source="t", target="t")
    user.role, user.is_active = "risk_analyst", False
    db.flush()
    with pytest.raises(NotAuthenticated):
        registry.store_model(db, analyst, trained, name="late", data_source="t", target="t")
    assert repo.model_versions(db, "late") == []
