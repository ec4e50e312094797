"""riskdesk lake export on a fresh SQLite file: writes, then writes nothing, and is audited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from riskdesk.cli.main import app
from riskdesk.config import get_settings
from riskdesk.db import make_engine, make_sessionmaker
from riskdesk.models import AuditEntry

runner = CliRunner()


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RISKDESK_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("RISKDESK_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    yield tmp_path
    get_settings.cache_clear()


def test_lake_export_command(cli_env: Path) -> None:
    demo = runner.invoke(app, ["demo", "--customers", "12", "--months", "3", "--seed", "2"])
    assert demo.exit_code == 0, demo.output
    target = cli_env / "lake"
    done = runner.invoke(app, ["lake", "export", "--to", str(target)])
    assert done.exit_code == 0, done.output
    assert "export 1:" in done.output
    manifest = json.loads((target / "_manifest.json").read_text())
    assert manifest["seq"] == 1 and manifest["kinds"]["orders"]["rows"] > 0
    assert list((target / "orders").glob("month=*/part-000001-*.parquet"))
    again = runner.invoke(app, ["lake", "export", "--to", f"file://{target}"])
    assert again.exit_code == 0, again.output
    assert "nothing new" in again.output
    bad = runner.invoke(app, ["lake", "export", "--to", "nosuchscheme://x"])
    assert bad.exit_code == 2 and "--to" in bad.output
    factory = make_sessionmaker(make_engine(get_settings().database_url))
    with factory() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.object_type == "lake")).all()
    assert [(e.action, e.object_id, e.actor) for e in entries] == [("export", "1", "cli")]
    assert f"to={target}" in entries[0].detail["fields"]
