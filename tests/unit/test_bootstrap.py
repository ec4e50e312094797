"""riskdesk.bootstrap: the audit trail hooks in from above, once, and nothing opens a session
before it has."""

from __future__ import annotations

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from riskdesk import bootstrap, db
from riskdesk.audit import trail


def test_a_unit_of_work_is_refused_before_the_bootstrap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "_hooks", None)
    refused = pytest.raises(RuntimeError, match=r"bootstrap\.install\(\) was not called")
    with refused, db.unit_of_work(sessionmaker()):
        pass  # pragma: no cover - never reached


def test_installing_twice_registers_each_hook_once(monkeypatch: pytest.MonkeyPatch) -> None:
    bootstrap.install()
    for name, hook in trail._LISTENERS:
        assert event.contains(Session, name, hook), name
    again: list[object] = []
    monkeypatch.setattr(trail.event, "listen", lambda *args, **kw: again.append(args))
    bootstrap.install()
    assert again == []  # each listener is there already: none is added a second time
    assert db.session_hooks().committed is trail.append_pending_views
