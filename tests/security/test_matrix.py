"""Every API operation checks who calls it, and each role gets exactly what its permissions
allow; the matrix in docs/security.md is the one the code enforces."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from riskdesk.main import API_PREFIX, API_ROUTERS
from riskdesk.security import matrix
from riskdesk.security.permissions import Role

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"
START, END = "<!-- matrix:start -->", "<!-- matrix:end -->"
OPERATIONS = matrix.operations(API_ROUTERS, API_PREFIX)
USERS = {
    Role.CREDIT_MANAGER: "manager",
    Role.RISK_ANALYST: "analyst",
    Role.SALES: "sales",
    Role.CUSTOMER_SERVICE: "service",
    Role.AUDITOR: "auditor",
    Role.ADMIN: "admin",
}


def test_every_operation_needs_a_signed_in_caller_and_the_openapi_lists_them_all(app) -> None:  # type: ignore[no-untyped-def]
    assert len(OPERATIONS) > 100
    assert [o for o in OPERATIONS if not o.signed_in] == []
    # What the matrix covers is what the API publishes (health and readiness are public, and
    # not a router's).
    published = {
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        for method in item
        if path not in (f"{API_PREFIX}/health", f"{API_PREFIX}/ready")
    }
    assert published == {(o.method, o.path) for o in OPERATIONS}


def test_the_documented_matrix_is_the_enforced_one() -> None:
    text = DOC.read_text(encoding="utf-8")
    documented = text[text.index(START) + len(START) : text.index(END)].strip()
    assert documented == matrix.markdown(OPERATIONS).strip(), (
        "docs/security.md is out of date: python -m riskdesk.security.matrix"
    )


def _call(client, op: matrix.Operation):  # type: ignore[no-untyped-def]
    # An id that names nothing: the permission is checked before the object is looked up or the
    # body read, and nothing real (the caller's own token, say) is changed along the way.
    path = re.sub(r"\{[^}]+\}", "999999", op.path)
    body = {} if op.method in ("POST", "PUT", "PATCH") else None
    return client.request(op.method, path, json=body)


@pytest.mark.parametrize("role", list(USERS), ids=lambda r: r.value)
def test_each_role_gets_exactly_its_permissions(role: Role, client_for) -> None:  # type: ignore[no-untyped-def]
    client = client_for(USERS[role])
    wrong = []
    for op in OPERATIONS:
        response = _call(client, op)
        denied = response.status_code == 403 and response.json()["error"]["code"] in (
            "permission_denied",
        )
        if denied == op.allows(role):
            wrong.append((op.method, op.path, response.status_code, op.requirement))
    assert wrong == []
