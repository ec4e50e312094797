"""The audit log: what is recorded, masking and reveal, and tamper detection."""

from __future__ import annotations

import csv
import io
import json

from sqlalchemy import func, select, text
from typer.testing import CliRunner

from riskdesk.audit.service import verify
from riskdesk.config import get_settings
from riskdesk.db import make_sessionmaker, unit_of_work
from riskdesk.models import AuditEntry
from riskdesk.security import service as security_service
from tests.factories import person


def _entries(db, **where) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    stmt = select(AuditEntry).filter_by(**where).order_by(AuditEntry.at, AuditEntry.id)
    return list(db.scalars(stmt))


def _individual(manager, external_id: str, **extra) -> int:  # type: ignore[no-untyped-def]
    made = manager.post("/api/v1/customers", json=person(external_id, owner="sales", **extra))
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def test_a_write_is_recorded_with_who_what_where_and_no_values(db, client_for) -> None:  # type: ignore[no-untyped-def]
    manager = client_for("manager")
    cid = _individual(manager, "AU-1")
    changed = manager.patch(
        f"/api/v1/customers/{cid}", json={"phone": "13700001111", "reason": "new number"}
    )
    assert changed.status_code == 200, changed.text
    entry = _entries(db, action="write", object_type="customer", object_id=str(cid))[-1]
    manager_id = security_service.get_user_by_username_or_raise(db, "manager").id
    assert (entry.actor, entry.actor_id, entry.channel, entry.ip) == (
        "manager",
        manager_id,
        "api",
        "testclient",
    )
    assert entry.request == "PATCH /api/v1/customers/{customer_id}"
    tables = {(c["table"], c["op"]): c for c in entry.detail["changes"]}
    assert tables[("customers", "update")]["ids"] == [cid]
    assert "phone" in tables[("customers", "update")]["fields"]
    assert ("credit_file_changes", "insert") in tables
    assert "13700001111" not in json.dumps(entry.detail)
    # A refused change (the reason is required) is rolled back and leaves no entry.
    before = db.scalar(select(func.count()).select_from(AuditEntry))
    refused = manager.patch(f"/api/v1/customers/{cid}", json={"phone": "not a phone"})
    assert refused.status_code == 422
    assert db.scalar(select(func.count()).select_from(AuditEntry)) == before


def test_masking_by_role_and_logged_views_and_reveals(db, client_for) -> None:  # type: ignore[no-untyped-def]
    manager, sales, service = client_for("manager"), client_for("sales"), client_for("service")
    cid = _individual(
        manager, "AU-2", phone="13912345671", bank_account="6222020200112233445", region="east"
    )
    contact = {"name": "联系人", "phone": "13912345673", "email": "lianxi@example.org"}
    assert manager.post(f"/api/v1/customers/{cid}/contacts", json=contact).status_code == 201

    masked = sales.get(f"/api/v1/customers/{cid}").json()
    assert masked["phone"] == "+86139****5671"
    assert masked["bank_account"] == "***************3445"
    assert masked["national_id"].startswith("110") and "*" in masked["national_id"]
    assert masked["email"] == "zh***@example.com"
    assert set(masked["masked"]) == {"phone", "bank_account", "national_id", "email"}
    assert masked["name"] == "张三"  # people must know whom they call
    listed = sales.get(f"/api/v1/customers/{cid}/contacts").json()[0]
    assert listed["phone"] == "+86139****5673" and listed["email"] == "li***@example.org"
    assert sales.get(f"/api/v1/customers/{cid}/history").text.count("13912345671") == 0
    # Masked reads are not views of personal data; nothing is logged for them.
    assert _entries(db, action="view", actor="sales") == []
    # A list or search shows names, and names are personal data: which ones is logged.
    code = masked["code"]
    assert sales.get("/api/v1/customers", params={"q": "13912345671"}).json()["total"] == 1
    listed_names = _entries(db, action="view", actor="sales", object_type="customer_list")
    assert listed_names and listed_names[-1].detail["fields"] == [f"{code}.name"]
    # Guessing a masked number by searching for it leaves a trace, hit or miss.
    assert sales.get("/api/v1/customers", params={"q": "13912345670"}).json()["total"] == 0
    searches = _entries(db, action="view", actor="sales", object_type="customer_search")
    assert [(e.object_id, e.detail["fields"]) for e in searches][-2:] == [
        ("hit", ["search by bank_account", "search by phone"]),
        ("miss", ["search by bank_account", "search by phone"]),
    ]
    sales.get("/api/v1/customers", params={"q": "恒远"})  # a company name: not an identifier
    assert len(_entries(db, action="view", actor="sales", object_type="customer_search")) == 2

    full = manager.get(f"/api/v1/customers/{cid}").json()
    assert full["phone"] == "+8613912345671" and full["masked"] == []
    view = _entries(db, action="view", actor="manager", object_id=str(cid))[-1]
    assert view.detail["fields"] == ["bank_account", "email", "national_id", "phone"]

    shown = sales.post(
        f"/api/v1/customers/{cid}/reveal", json={"field": "phone", "reason": "call back"}
    )
    assert shown.status_code == 200, shown.text
    assert shown.json()["value"] == "+8613912345671"
    contact_id = listed["id"]
    shown = sales.post(
        f"/api/v1/customers/{cid}/reveal",
        json={"field": "email", "reason": "send the contract", "contact_id": contact_id},
    )
    assert shown.json()["value"] == "lianxi@example.org"
    reveals = _entries(db, action="reveal", actor="sales", object_id=str(cid))
    assert [(e.detail["fields"], e.detail["reason"]) for e in reveals] == [
        (["phone"], "call back"),
        ([f"contact.{contact_id}.email"], "send the contract"),
    ]
    # A reveal needs a reason; a customer outside one's team does not exist for them.
    no_reason = sales.post(f"/api/v1/customers/{cid}/reveal", json={"field": "phone"})
    assert no_reason.status_code == 422 and no_reason.json()["error"]["field"] == "reason"
    other = client_for("sales2").post(
        f"/api/v1/customers/{cid}/reveal", json={"field": "phone", "reason": "curious"}
    )
    assert other.status_code == 404
    assert (
        client_for("admin")
        .post(f"/api/v1/customers/{cid}/reveal", json={"field": "phone", "reason": "x" * 5})
        .status_code
        == 403
    )
    assert service.get(f"/api/v1/customers/{cid}").json()["phone"] == "+86139****5671"
    # Writing: what sales changed comes back masked, and a masked value is not taken as new.
    changed = sales.patch(
        f"/api/v1/customers/{cid}", json={"phone": "13912345679", "reason": "new number"}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["applied"][0] == {
        "field": "phone",
        "old": "+86139****5671",
        "new": "+86139****5679",
    }
    echoed = sales.patch(
        f"/api/v1/customers/{cid}", json={"email": masked["email"], "reason": "as shown"}
    )
    assert echoed.status_code == 422 and echoed.json()["error"]["code"] == "masked_value"
    assert manager.get(f"/api/v1/customers/{cid}").json()["email"] == "zhang.san@example.com"


def test_auditor_filters_and_exports_and_the_export_is_logged(db, client_for) -> None:  # type: ignore[no-untyped-def]
    manager, auditor = client_for("manager"), client_for("auditor")
    cid = _individual(manager, "AU-3")
    page = auditor.get(
        "/api/v1/audit-log", params={"actor": "manager", "action": "write", "size": 200}
    ).json()
    assert page["total"] >= 1 and {e["actor"] for e in page["items"]} == {"manager"}
    assert "POST /api/v1/customers" in {e["request"] for e in page["items"]}
    by_object = auditor.get(
        "/api/v1/audit-log", params={"object_type": "customer", "object_id": str(cid)}
    ).json()
    assert all(e["object_id"] == str(cid) for e in by_object["items"])
    exported = auditor.get("/api/v1/audit-log/export", params={"format": "csv", "actor": "manager"})
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert rows and {r["actor"] for r in rows} == {"manager"}
    lines = auditor.get("/api/v1/audit-log/export", params={"format": "jsonl"}).text.splitlines()
    assert all(json.loads(line)["hash"] for line in lines)
    assert _entries(db, action="export", actor="auditor")
    assert auditor.get("/api/v1/audit-log/verification").json()["ok"] is True
    assert manager.get("/api/v1/audit-log").status_code == 403
    bad = auditor.get("/api/v1/audit-log", params={"since": "yesterday"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "query.since"


def _write_some(factory, n: int) -> None:  # type: ignore[no-untyped-def]
    for i in range(n):
        with unit_of_work(factory) as session:
            security_service.set_email(session, username="auditor", email=f"a{i}@example.org")


def test_verify_names_edited_inserted_and_deleted_entries(own_backend, tmp_path) -> None:  # type: ignore[no-untyped-def]
    factory = make_sessionmaker(own_backend.engine)
    _write_some(factory, 8)
    with factory() as session:
        result = verify(session)
        assert result.ok, result.findings
        # One connection writing one transaction after another appends to its own chain.
        [chain] = result.used
        last = chain.head_seq
        assert chain.chain == 0 and result.entries == last >= 9

    def findings() -> list[tuple[str, int | None]]:
        with factory() as session:
            return [(f.kind, f.seq) for f in verify(session).findings]

    with own_backend.engine.begin() as conn:
        actor = conn.execute(text("SELECT actor FROM audit_log WHERE seq = 3")).scalar_one()
        conn.execute(text("UPDATE audit_log SET actor = 'someone' WHERE seq = 3"))
    assert findings() == [("edited", 3)]
    with own_backend.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = :a WHERE seq = 3"), {"a": actor})
    assert findings() == []

    with own_backend.engine.begin() as conn:
        saved = conn.execute(text("SELECT * FROM audit_log WHERE seq = 5")).mappings().one()
        conn.execute(text("DELETE FROM audit_log WHERE seq = 5"))
    assert findings() == [("deleted", 5)]
    # An edit next to the deletion is named as well.
    with own_backend.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'someone' WHERE seq = 4"))
    assert findings() == [("edited", 4), ("deleted", 5)]
    with own_backend.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = :a WHERE seq = 4"), {"a": actor})
    columns = ", ".join(saved.keys())
    values = ", ".join(f":{k}" for k in saved)
    insert = text(f"INSERT INTO audit_log ({columns}) VALUES ({values})")
    saved = {
        **saved,
        "detail": json.dumps(saved["detail"])
        if isinstance(saved["detail"], dict)
        else saved["detail"],
    }
    with own_backend.engine.begin() as conn:
        conn.execute(insert, saved)
    assert findings() == []

    # A forged entry slipped in at 4, the later ones renumbered to make room.
    with own_backend.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET seq = seq + 1000 WHERE seq >= 4"))
        conn.execute(text("UPDATE audit_log SET seq = seq - 999 WHERE seq >= 1004"))
        forged = {**dict(saved), "id": 999_999, "seq": 4, "actor": "ghost"}
        prev = conn.execute(text("SELECT hash FROM audit_log WHERE seq = 3")).scalar_one()
        forged["prev_hash"] = prev
        conn.execute(insert, forged)
        conn.execute(text("UPDATE audit_head SET seq = seq + 1 WHERE chain = 0"))
    kinds = findings()
    assert ("inserted", 4) in kinds and all(k != "edited" for k, _ in kinds), kinds

    # The head reset to "empty" to hide everything: noticed.
    with own_backend.engine.begin() as conn:
        head = conn.execute(text("SELECT seq, hash, mac FROM audit_head WHERE chain = 0")).one()
        conn.execute(
            text(f"UPDATE audit_head SET seq = 0, hash = '{'0' * 64}', mac = '' WHERE chain = 0")
        )
    assert ("head", 0) in findings()
    with own_backend.engine.begin() as conn:
        conn.execute(
            text("UPDATE audit_head SET seq = :s, hash = :h, mac = :m WHERE chain = 0"),
            {"s": head[0], "h": head[1], "m": head[2]},
        )
    with own_backend.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id = 999999"))
        conn.execute(text("UPDATE audit_log SET seq = seq + 1000 WHERE seq >= 5"))
        conn.execute(text("UPDATE audit_log SET seq = seq - 1001 WHERE seq >= 1005"))
        conn.execute(text("UPDATE audit_head SET seq = seq - 1 WHERE chain = 0"))
        conn.execute(text(f"DELETE FROM audit_log WHERE seq = {last}"))
    assert findings() == [("deleted", last)]

    if own_backend.name == "sqlite":
        from riskdesk.cli.main import app

        url = own_backend.engine.url.render_as_string(hide_password=False)
        get_settings.cache_clear()
        outcome = CliRunner().invoke(
            app,
            ["audit", "verify"],
            env={"RISKDESK_DATABASE_URL": url, "RISKDESK_DATA_DIR": str(tmp_path)},
        )
        assert outcome.exit_code == 1, outcome.output
        get_settings.cache_clear()
        assert f"chain 0: entry {last} deleted (the tail)" in outcome.output
