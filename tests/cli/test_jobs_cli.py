"""The long commands' --queue (a job instead of the work, and how to follow it) and
riskdesk jobs list / show / cancel, on a SQLite file and on a PostgreSQL schema of its own."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from riskdesk.cli.main import app
from riskdesk.config import get_settings
from riskdesk.db import make_engine
from tests.conftest import PG_URL, _backends

runner = CliRunner()


@pytest.fixture(params=_backends())
def cli_db(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A migrated database holding a small demo, which the commands find in the settings."""
    schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cli.db'}"
    else:
        assert PG_URL is not None
        schema = f"rdcli_{uuid.uuid4().hex[:8]}"
        admin = make_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
    monkeypatch.setenv("RISKDESK_DATABASE_URL", url)
    monkeypatch.setenv("RISKDESK_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    loaded = runner.invoke(app, ["demo", "--customers", "20", "--months", "13", "--seed", "6"])
    assert loaded.exit_code == 0, loaded.output
    yield request.param
    get_settings.cache_clear()
    if schema is not None:
        admin = make_engine(PG_URL or "")
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())  # rich and typer wrap lines


def _queued(*args: str) -> int:
    code, out = _run(*args, "--queue")
    assert code == 0, out
    found = re.search(r"queued job (\d+) \((\w+)\) as ([\w-]+)", out)
    assert found is not None, out
    job_id = int(found.group(1))
    assert f"riskdesk jobs show {job_id}" in out and f"/jobs/{job_id}" in out
    return job_id


def test_long_commands_queue_jobs_that_a_worker_runs(cli_db: str) -> None:
    # Wrong input names the option, and queues nothing.
    for args, option in (
        (("rules", "run"), "--user"),  # who starts it must be named
        (("rules", "run", "--user", "sales"), "--user"),  # may not manage rules
        (("rules", "run", "--user", "nobody"), "--user"),
        (("rules", "run", "--user", "manager", "--as-of", "2026-13-45"), "--as-of"),
        (("scores", "run", "--user", "manager", "--as-of", "2999-01-01"), "--as-of"),
        (("warnings", "replay", "--from", "2026-01-01", "--labels", "demo"), "--labels"),
        (("model", "train", "--name", "pd", "--family", "scorecard"), "--queue"),  # a CSV
    ):
        code, out = _run(*args, "--queue")
        assert code == 2 and f"error: {option}:" in out, (args, out)
    code, out = _run("jobs", "list", "--json")
    assert code == 0 and json.loads(out)["total"] == 0

    scoring = _queued("scores", "run", "--user", "analyst")
    rules = _queued("rules", "run", "--user", "manager")
    churn = _queued("churn", "fit", "--user", "analyst")
    replay = _queued(
        "warnings", "replay", "--from", "2026-09-01", "--to", "2026-10-31", "--user", "manager"
    )
    training = _queued(
        "model", "train", "--name", "pd", "--family", "scorecard", "--from-history",
        "--user", "manager",
    )  # fmt: skip
    listed = json.loads(runner.invoke(app, ["jobs", "list", "--json"]).output)
    assert listed["total"] == 5
    assert [(j["id"], j["status"]) for j in listed["jobs"]] == [
        (training, "queued"), (replay, "queued"), (churn, "queued"), (rules, "queued"),
        (scoring, "queued"),
    ]  # fmt: skip
    kinds = {j["id"]: j["kind"] for j in listed["jobs"]}
    assert kinds == {
        scoring: "scoring_run", rules: "rule_run", churn: "churn_fit",
        replay: "warning_replay", training: "model_training",
    }  # fmt: skip
    code, out = _run("jobs", "show", str(scoring))
    assert code == 0 and f"job {scoring}: scoring_run, queued" in out, out
    assert "by analyst" in out
    code, out = _run("jobs", "list", "--status", "bogus")
    assert code == 2 and "error: --status:" in out

    # Cancelled before a worker took it: it never runs; cancelling again says why not.
    code, out = _run("jobs", "cancel", str(training))
    assert code == 0 and f"job {training} cancelled" in out, out
    code, out = _run("jobs", "cancel", str(training))
    assert code == 2 and "already cancelled" in out, out
    code, out = _run("jobs", "cancel", "999999")
    assert code == 2 and "no job 999999" in out, out

    code, out = _run("worker", "--once")
    assert code == 0 and "4 job(s) run" in out, out
    code, out = _run("jobs", "show", str(scoring))
    assert code == 0 and f"job {scoring}: scoring_run, done" in out, out
    assert "customers: 20" in out and "finished at" in out
    code, out = _run("jobs", "show", str(rules))
    assert code == 0 and "done" in out and "raised:" in out and "by manager" in out, out
    shown = json.loads(runner.invoke(app, ["jobs", "show", str(replay), "--json"]).output)
    assert shown["status"] == "done" and shown["error"] is None
    assert (
        shown["result"]["from"] == "2026-09-30" and shown["result"]["backtest_id"] > 0
    )  # month ends
    assert (
        json.loads(runner.invoke(app, ["jobs", "show", str(churn), "--json"]).output)["status"]
        == "done"
    )
    code, out = _run("jobs", "show", "999999")
    assert code == 2 and "no job 999999" in out
    code, out = _run("jobs", "list", "--status", "done")
    assert code == 0 and "4 of 4 job(s)" in out, out
    # status reads the same jobs: none left running or queued.
    assert json.loads(runner.invoke(app, ["status", "--json"]).output)["jobs"] == []
