"""Files on disk are the owner's only: a real server start makes what an older version left
readable private, and what it writes from then on (database, WAL, documents) is born private."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from riskdesk.db import make_engine, make_sessionmaker, unit_of_work
from riskdesk.migrations import runner
from riskdesk.security import keys
from riskdesk.security import service as security_service
from riskdesk.security.storage import sqlite_files, tighten_tree
from tests.conftest import PASSWORD, PG_URL, _backends
from tests.factories import company


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _call(base: str, token: str, path: str, body: bytes, content_type: str) -> dict:  # type: ignore[type-arg]
    request = urllib.request.Request(
        base + path,
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())  # type: ignore[no-any-return]


@pytest.fixture(params=_backends())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each backend, as a URL a separate server process can open."""
    if request.param == "sqlite":
        (tmp_path / "data").mkdir()
        yield f"sqlite:///{tmp_path / 'data' / 'riskdesk.db'}"
        return
    assert PG_URL is not None
    schema = f"rdperm_{uuid.uuid4().hex[:8]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_a_real_server_start_and_upload_leave_nothing_readable_by_others(
    tmp_path: Path, database_url: str
) -> None:
    data = tmp_path / "data"
    old_document = data / "documents" / "ab" / ("ab" + "0" * 62)
    old_document.parent.mkdir(parents=True, exist_ok=True)
    old_document.write_bytes(b"%PDF-1.4 an older upload")
    key_file = data / "keyring.json"
    keys.write_file(keys.current(), key_file)
    (data / "secret_key").write_text("an-older-secret-key-0123456789")
    url = database_url
    engine = make_engine(url)
    runner.upgrade(engine)
    with unit_of_work(make_sessionmaker(engine)) as session:
        user = security_service.create_user(
            session, username="manager", display_name="M", role="credit_manager", password=PASSWORD
        )
        scopes = sorted(p.value for p in security_service.permissions_for(user.role))
        _, token = security_service.issue_token(session, user=user, name="t", scopes=scopes)
    engine.dispose()
    # What an older version left behind: readable by everyone.
    for path in (data, old_document.parent.parent, old_document.parent):
        path.chmod(0o755)
    sqlite = [p for p in sqlite_files(url) if p.exists()]
    for path in (old_document, key_file, data / "secret_key", *sqlite):
        path.chmod(0o644)

    port = _free_port()
    env = os.environ | {
        "RISKDESK_DATABASE_URL": url,
        "RISKDESK_DATA_DIR": str(data),
        "RISKDESK_KEY_FILE": str(key_file),
        "RISKDESK_DELIVERY_INTERVAL_SECONDS": "0",
        "RISKDESK_LOG_LEVEL": "warning",
    }
    env.pop("RISKDESK_SECRET_KEY", None)
    env.pop("RISKDESK_KEYRING", None)
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "riskdesk.cli.main", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        # The server's own umask is what is tested: start it from a permissive one.
        preexec_fn=lambda: os.umask(0o022),
    )
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(base + "/health", timeout=5):
                    break
            except (urllib.error.URLError, OSError):  # not listening yet, or still starting
                assert server.poll() is None, (tmp_path / "server.log").read_text()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        customer = _call(
            base, token, "/customers", json.dumps(company("P1")).encode(), "application/json"
        )
        boundary = "riskdesk-test-boundary"
        upload = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n%PDF-1.4 a new upload\r\n"
            f"--{boundary}--\r\n"
        ).encode()
        document = _call(
            base,
            token,
            f"/customers/{customer['id']}/documents",
            upload,
            f"multipart/form-data; boundary={boundary}",
        )
        new_document = data / "documents" / document["sha256"][:2] / document["sha256"]
        database = [p for p in sqlite_files(url) if p.exists()]
        if sqlite:  # the main file, and while the server runs in WAL mode, its WAL and SHM
            names = [p.name for p in database]
            assert names == ["riskdesk.db", "riskdesk.db-wal", "riskdesk.db-shm"]
        files = (*database, new_document, old_document, key_file, data / "secret_key")
        folders = (data, data / "documents", old_document.parent, new_document.parent)
        modes = {str(p.relative_to(tmp_path)): oct(_mode(p)) for p in (*files, *folders)}
        assert all(_mode(p) == 0o600 for p in files), modes
        assert all(_mode(p) == 0o700 for p in folders), modes
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


def test_tightening_takes_only_group_and_other_bits_and_leaves_links(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    script = root / "sub" / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    outside = tmp_path / "outside.txt"
    outside.write_text("not ours to change")
    outside.chmod(0o644)
    (root / "link").symlink_to(outside)
    root.chmod(0o775)
    (root / "sub").chmod(0o755)
    assert tighten_tree(root) == 3
    assert (_mode(root), _mode(root / "sub"), _mode(script)) == (0o700, 0o700, 0o700)
    assert _mode(outside) == 0o644  # a link is not followed
    assert tighten_tree(root) == 0
    assert [p.name for p in sqlite_files(f"sqlite:///{tmp_path / 'x.db'}")] == [
        "x.db", "x.db-wal", "x.db-shm", "x.db-journal",
    ]  # fmt: skip
    assert sqlite_files("sqlite://") == []
    assert sqlite_files("postgresql+psycopg://u@h/db") == []
