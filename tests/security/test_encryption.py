"""Field encryption: no personal data in the raw database, search by blind index, rotation."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from riskdesk.config import Settings
from riskdesk.db import make_sessionmaker, unit_of_work
from riskdesk.main import create_app
from riskdesk.models import Customer
from riskdesk.security import keys
from riskdesk.security import service as security_service
from riskdesk.security.rotation import key_usage, reencrypt
from tests.factories import person, resident_id

SECRETS = {
    "name": "欧阳娜娜测试",
    "national_id": resident_id(417),
    "phone": "13912345671",
    "email": "nana.ouyang.test@example.org",
    "address": "上海市徐汇区漕溪北路八八八号",
    "bank_account": "6222020200112233445",
}


def _client(backend, tmp_path: Path, username: str) -> TestClient:  # type: ignore[no-untyped-def]
    factory = make_sessionmaker(backend.engine)
    with unit_of_work(factory) as session:
        user = security_service.get_user_by_username_or_raise(session, username)
        scopes = sorted(p.value for p in security_service.permissions_for(user.role))
        _, raw = security_service.issue_token(session, user=user, name="t", scopes=scopes)
    settings = Settings(
        database_url="sqlite://",
        secret_key="k" * 32,
        data_dir=tmp_path,
        delivery_interval_seconds=0,
    )
    client = TestClient(create_app(settings, session_factory=factory))
    client.headers["Authorization"] = f"Bearer {raw}"
    return client


def _raw_dump(backend, tmp_path: Path) -> bytes:  # type: ignore[no-untyped-def]
    """Everything the database holds, as the bytes an attacker with the files would read."""
    engine = backend.engine
    if backend.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            path = Path(conn.engine.url.database or "")
        parts = [path.read_bytes()]
        for suffix in ("-wal", "-journal"):
            extra = path.with_name(path.name + suffix)
            if extra.exists():
                parts.append(extra.read_bytes())
        return b"".join(parts)
    chunks: list[str] = []
    with engine.connect() as conn:
        for name in inspect(conn).get_table_names():
            rows = conn.execute(text(f'SELECT t::text FROM "{name}" t'))
            chunks.extend(r for (r,) in rows)
    return "\n".join(chunks).encode()


def test_no_personal_data_in_the_raw_database(own_backend, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Every way personal data comes in (create, change, approval queue, contact, user e-mail,
    webhook secret) leaves only ciphertext in the file or table; the API still reads it back."""
    manager = _client(own_backend, tmp_path, "manager")
    record = person("ENC-1", **SECRETS)
    made = manager.post("/api/v1/customers", json=record)
    assert made.status_code == 201, made.text
    cid = made.json()["id"]
    # A changed phone lands in the history; a changed ID number waits for approval.
    changed = manager.patch(
        f"/api/v1/customers/{cid}",
        json={"phone": "13912345672", "national_id": resident_id(418), "reason": "moved"},
    )
    assert changed.status_code == 200, changed.text
    contact = {"name": "司马光测试", "phone": "13912345673", "email": "sima.guang@example.org"}
    assert manager.post(f"/api/v1/customers/{cid}/contacts", json=contact).status_code == 201
    admin = _client(own_backend, tmp_path, "admin")
    hook = admin.post(
        "/api/v1/webhooks",
        json={"name": "crm", "url": "https://crm.invalid/h", "events": ["alert.raised"]},
    )
    assert hook.status_code == 201, hook.text
    secret = hook.json()["secret"]
    with unit_of_work(make_sessionmaker(own_backend.engine)) as session:
        security_service.set_email(
            session, username="manager", email="credit.boss.test@example.org"
        )

    read = manager.get(f"/api/v1/customers/{cid}").json()
    assert read["name"] == SECRETS["name"] and read["phone"] == "+8613912345672"
    assert read["bank_account"] == SECRETS["bank_account"]

    dump = _raw_dump(own_backend, tmp_path)
    # The scan is real: a company-free value that is not personal data is found as it is.
    assert b"ENC-1" in dump
    plain = [
        *SECRETS.values(),
        "+8613912345671",
        "+8613912345672",
        resident_id(418),
        *contact.values(),
        "+8613912345673",
        "credit.boss.test@example.org",
        secret,
    ]
    leaked = [value for value in plain if value.encode() in dump]
    assert leaked == []
    assert b"v1:" + keys.current().active.encode() in dump


def test_search_by_personal_data_uses_the_blind_index(manager) -> None:  # type: ignore[no-untyped-def]
    made = manager.post("/api/v1/customers", json=person("BI-1", **SECRETS))
    assert made.status_code == 201, made.text
    code = made.json()["id"]
    # Exact matches in the forms people type them: spacing, case, a local phone number.
    for query in (
        "欧阳 娜娜测试",
        SECRETS["national_id"].lower(),
        "139 1234 5671",
        "+86 139-1234-5671",
        "Nana.Ouyang.Test@Example.org",
        "6222 0202 0011 2233 445",
    ):
        found = manager.get("/api/v1/customers", params={"q": query}).json()
        assert [c["id"] for c in found["items"]] == [code], query
    # Not a substring search: part of a name or number finds nothing.
    for query in ("欧阳", "1391234", "nana.ouyang"):
        found = manager.get("/api/v1/customers", params={"q": query}).json()
        assert code not in [c["id"] for c in found["items"]], query


def test_tampered_or_moved_ciphertext_does_not_open(db, factory) -> None:  # type: ignore[no-untyped-def]
    sealed = keys.seal("13800138000", "customers.phone")
    assert keys.open_sealed(sealed, "customers.phone") == "13800138000"
    with pytest.raises(keys.KeyringError, match="authentication"):
        keys.open_sealed(sealed, "customers.email")  # copied into another column
    head, body = sealed.rsplit(":", 1)
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    with pytest.raises(keys.KeyringError):
        keys.open_sealed(f"{head}:{flipped}", "customers.phone")
    with pytest.raises(keys.KeyringError, match="not in the keyring"):
        keys.open_sealed("v1:knone:AAAA", "customers.phone")


def test_keyring_file_errors_name_the_problem(tmp_path: Path) -> None:
    ring = json.loads(keys.generate().to_json())
    ring["active"] = "missing"
    with pytest.raises(keys.KeyringError, match="active key 'missing'"):
        keys.parse(json.dumps(ring))
    ring = json.loads(keys.generate().to_json())
    ring["index_key"] = "c2hvcnQ="
    with pytest.raises(keys.KeyringError, match="index_key must be 32 bytes"):
        keys.parse(json.dumps(ring))
    with pytest.raises(keys.KeyringError, match="not JSON"):
        keys.parse("{")


def test_rotation_reencrypts_everything_while_writes_go_on(own_backend, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`keys rotate` on a file keyring: new values and old ones end under the new key, while
    another thread keeps changing customers; the old key can then be retired."""
    key_file = tmp_path / "keyring.json"
    before = keys.current()
    keys.write_file(before, key_file)
    keys.use(key_file)
    try:
        factory = make_sessionmaker(own_backend.engine)
        manager = _client(own_backend, tmp_path, "manager")
        ids = []
        for n in range(30):
            made = manager.post(
                "/api/v1/customers",
                json=person(f"ROT-{n}", phone=f"1391234{n:04d}", national_id=resident_id(n)),
            )
            assert made.status_code == 201, made.text
            ids.append(made.json()["id"])
        old_id = keys.current().active
        stop = threading.Event()
        errors: list[str] = []

        def keep_writing() -> None:
            n = 0
            while not stop.is_set():
                n += 1
                cid = ids[n % len(ids)]
                got = manager.patch(
                    f"/api/v1/customers/{cid}", json={"address": f"地址 {n}", "reason": "w"}
                )
                if got.status_code != 200:
                    errors.append(got.text)

        writer = threading.Thread(target=keep_writing)
        writer.start()
        try:
            rotated = keys.with_new_active_key(keys.current())
            keys.write_file(rotated, key_file)
            report = reencrypt(factory)
        finally:
            stop.set()
            writer.join()
        assert errors == []
        assert report.key_id == rotated.active and report.rewritten > 0
        # Anything written by the thread after the last pass used the new key as well.
        with factory() as session:
            usage = key_usage(session)
            assert set(usage) == {rotated.active}, usage
            rows = session.query(Customer).filter(Customer.id.in_(ids)).all()
            assert sorted(c.phone or "" for c in rows)[0] == "+8613912340000"
        got = manager.get("/api/v1/customers", params={"q": "13912340007"}).json()
        assert [c["id"] for c in got["items"]] == [ids[7]]
        keys.write_file(keys.without_key(keys.current(), old_id), key_file)
        assert manager.get(f"/api/v1/customers/{ids[3]}").status_code == 200
    finally:
        keys.use(before.to_json())
