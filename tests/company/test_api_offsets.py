"""The API answers in UTC with an explicit offset whatever the display zone: no list the API
serves without parameters carries a naive timestamp."""

from __future__ import annotations

import re

from riskdesk.company import service as company_service
from riskdesk.main import API_PREFIX, API_ROUTERS
from riskdesk.security import matrix
from tests.conftest import ingest, principal
from tests.monitoring.test_alerts import _setup, invoice

# An ISO timestamp in a JSON string; naive when neither Z nor an offset follows.
STAMP = re.compile(r'"(\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?)(Z|[+-]\d\d:?\d\d)?"')


def test_api_timestamps_carry_their_offset(db, client_for) -> None:  # type: ignore[no-untyped-def]
    _setup(db)
    ingest(db, principal(db, "manager"), "invoices", [invoice("I1", "A", "5000.00", 45)])
    company_service.set_time_zone(db, principal(db, "admin"), "Asia/Shanghai")
    db.commit()
    paths = sorted(
        {
            op.path
            for op in matrix.operations(API_ROUTERS, API_PREFIX)
            if op.method == "GET"
            and "{" not in op.path
            and not op.path.endswith(("/export", "/metrics"))
        }
    )
    assert len(paths) > 30
    naive: list[str] = []
    checked = 0
    for username in ("manager", "admin", "auditor"):
        client = client_for(username)
        for path in paths:
            answer = client.get(path)
            if answer.status_code != 200 or "json" not in answer.headers.get("content-type", ""):
                continue
            checked += 1
            naive += [
                f"{path}: {m.group(1)}" for m in STAMP.finditer(answer.text) if not m.group(2)
            ]
    assert checked > 30
    assert naive == [], "\n".join(naive[:20])
