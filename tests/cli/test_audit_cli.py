"""riskdesk audit verify and audit checkpoint: exit codes and what they say, on a SQLite file."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from riskdesk.cli.main import app
from riskdesk.config import get_settings
from riskdesk.models.audit import GENESIS

runner = CliRunner()


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RISKDESK_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("RISKDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("RISKDESK_AUDIT_CHECKPOINT_FILES", raising=False)
    get_settings.cache_clear()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    yield tmp_path
    get_settings.cache_clear()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["audit", *args])
    return result.exit_code, " ".join(result.output.split())  # rich wraps long lines


def _users(n: int) -> None:
    for i in range(n):
        made = runner.invoke(
            app, ["users", "create", f"u{i}", "--role", "auditor", "--password", "Audit-pass-2026"]
        )
        assert made.exit_code == 0, made.output


def test_verify_exit_codes_and_checkpoint(cli_env: Path) -> None:
    # A new installation: nothing written, nothing to vouch for.
    code, out = _run("verify")
    assert code == 0 and "every chain is whole" in out, out
    code, out = _run("checkpoint")
    assert code == 0 and "the audit log is empty" in out, out

    _users(3)
    code, out = _run("verify")
    assert code == 3, out  # whole as far as it goes, but nothing vouches for its end
    assert "no checkpoint vouches for the end of the log" in out
    missing = f"{cli_env / 'data' / 'audit-checkpoints.jsonl'}(missing)"
    assert missing in out.replace(" ", "")  # a long path may be folded anywhere

    code, out = _run("checkpoint")
    assert code == 0 and "checkpoint at entry 3 of chain 0" in out, out
    path = cli_env / "data" / "audit-checkpoints.jsonl"
    assert path.stat().st_mode & 0o777 == 0o600
    line = json.loads(path.read_text())
    assert (line["chain"], line["seq"]) == ("audit_log", 3)
    code, out = _run("checkpoint")
    assert code == 0 and "unchanged since the checkpoint" in out, out
    code, out = _run("verify")
    assert code == 0 and "every chain is whole" in out, out
    assert "anchor: entry 3 of chain 0" in out and "holds" in out
    assert f"--expect0/3:{line['hash']}" in out.replace(" ", "")

    # A head kept elsewhere: the right one holds, a wrong one is a finding, a bad one is refused.
    assert _run("verify", "--expect", f"0/3:{line['hash']}")[0] == 0
    assert _run("verify", "--expect", f"3:{line['hash']}")[0] == 0  # chain 0, as before 0026
    code, out = _run("verify", "--expect", f"3:{'a' * 64}")
    assert code == 1 and "is not the one the head you expect" in out, out
    code, out = _run("verify", "--expect", "three")
    assert code == 2 and "--expect" in out, out
    code, out = _run("verify", "--expect", f"16/3:{line['hash']}")
    assert code == 2 and "a chain from 0 to 15" in out, out

    # Every entry deleted and the head reset, without any key.
    with sqlite3.connect(cli_env / "cli.db") as conn:
        conn.execute("DELETE FROM audit_log")
        conn.execute(f"UPDATE audit_head SET seq = 0, hash = '{GENESIS}', mac = ''")
    code, out = _run("verify")
    assert code == 1, out
    assert "deleted: chain 0: entries 1-3 deleted: the chain is empty" in out and "emptied" in out
    code, out = _run("checkpoint")
    assert code == 1 and "no checkpoint taken" in out and "no longer holds entry 3" in out, out
    # The checkpoint file gone as well: still caught (the users were each made with an entry).
    path.unlink()
    code, out = _run("verify")
    assert code == 1 and "the log was emptied" in out, out


def test_verify_reads_checkpoints_kept_elsewhere_and_names_a_forged_one(cli_env: Path) -> None:
    _users(2)
    assert _run("checkpoint")[0] == 0
    path = cli_env / "data" / "audit-checkpoints.jsonl"
    kept = cli_env / "kept.log"
    kept.write_text("Jan 01 host riskdesk: audit checkpoint " + path.read_text())
    path.unlink()
    assert _run("verify")[0] == 3
    code, out = _run("verify", "--checkpoints", str(kept))
    assert code == 0 and "anchor: entry 2" in out, out
    forged = json.loads(kept.read_text().split("checkpoint ", 1)[1]) | {"seq": 99}
    kept.write_text(json.dumps(forged) + "\n")
    code, out = _run("verify", "--checkpoints", str(kept))
    assert code == 1 and f"checkpoint:{kept}:1failsitsMAC" in out.replace(" ", ""), out
