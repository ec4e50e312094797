"""No input produces a 500: random JSON, wrong types and odd strings on every write endpoint."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            " ",
            "C0000001",
            "2026-01-01",
            "2026-13-45",
            "9" * 40,
            "NaN",
            "-1",
            "1e400",
            "<script>alert(1)</script>",
            "' OR 1=1 --",
            "\x00",
            "CNY",
            "company",
            "individual",
            "erp",
        ]
    ),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=8,
)


def _write_routes(client) -> list[tuple[str, str, list[str]]]:  # type: ignore[no-untyped-def]
    spec = client.get("/api/v1/openapi.json").json()
    schemas = spec["components"]["schemas"]
    routes = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            content = op.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            ref = content["application/json"]["schema"].get("$ref", "")
            props = list(schemas.get(ref.rsplit("/", 1)[-1], {}).get("properties", {}))
            routes.append((method.upper(), re.sub(r"\{[^}]+\}", "1", path), props))
    return routes


def test_random_bodies_never_cause_a_server_error(manager) -> None:
    routes = _write_routes(manager)
    assert len(routes) >= 15

    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(data=st.data())
    def probe(data: Any) -> None:
        method, path, props = data.draw(st.sampled_from(routes))
        keys = st.sampled_from(props) if props else st.text(max_size=8)
        body = data.draw(
            st.one_of(
                json_values,
                st.dictionaries(keys, json_values, max_size=len(props) or 3),
            )
        )
        response = manager.request(method, path, json=body)
        assert response.status_code < 500, (method, path, body, response.text)
        assert "error" in response.json() or response.status_code < 300

    probe()


def test_ids_beyond_the_database_range_are_refused(manager) -> None:
    """Ids that cannot exist (more than 32 bits) are a 422 or 404, never a database error."""
    huge = "99999999999999999999"
    for method, path in (
        ("GET", f"/api/v1/customers/{huge}"),
        ("GET", "/api/v1/customers/2147483648/history"),
        ("POST", f"/api/v1/credit-decisions/{huge}/release"),
        ("POST", "/api/v1/pending-changes/9223372036854775808/approve"),
    ):
        response = manager.request(method, path, json={"reason": "abc"})
        assert response.status_code == 422, (path, response.text)
    order = {
        "source": "erp",
        "external_id": "x",
        "customer_code": "C999999999999",
        "ordered_at": "2026-01-01T00:00:00Z",
        "amount": "1.00",
        "currency": "CNY",
        "lines": [{"category": "a", "amount": "1.00"}],
    }
    assert manager.post("/api/v1/orders", json=order).json()["error"]["field"] == "customer_code"
    merge = manager.post("/api/v1/customers/1/merge", json={"duplicate_id": 2**40, "reason": "dup"})
    assert merge.status_code == 422
    assert manager.get("/api/v1/customers", params={"q": "C99999999999999"}).status_code == 200
