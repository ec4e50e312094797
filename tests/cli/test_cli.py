"""The command line: db upgrade, users, tokens, import and demo, on a fresh SQLite file."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from riskdesk.cli.main import app
from riskdesk.config import get_settings
from tests.factories import uscc

runner = CliRunner()


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RISKDESK_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("RISKDESK_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    yield tmp_path
    get_settings.cache_clear()


def test_users_and_tokens(cli_env: Path) -> None:
    created = runner.invoke(
        app,
        [
            "users",
            "create",
            "alice",
            "--role",
            "risk_analyst",
            "--name",
            "Alice",
            "--password",
            "Lantern-harbour-1",
        ],
    )
    assert created.exit_code == 0, created.output
    weak = runner.invoke(app, ["users", "create", "bob", "--role", "sales", "--password", "x"])
    assert weak.exit_code == 2 and "password" in weak.output
    # Ten characters (the old minimum), a common password, the user's own name: refused.
    for password, problem in (
        ("Rk7#qz!Lm2", "password_too_short"),
        ("Password123!", "password_too_common"),
        ("Bobby-lantern-58", "password_contains_name"),
    ):
        refused = runner.invoke(
            app, ["users", "create", "bobby", "--role", "sales", "--password", password]
        )
        assert refused.exit_code == 2 and problem in refused.output, (password, refused.output)
    listed = runner.invoke(app, ["users", "list"])
    assert "alice" in listed.output and "risk_analyst" in listed.output
    changed = runner.invoke(app, ["users", "set-role", "alice", "credit_manager"])
    assert changed.exit_code == 0 and "credit_manager" in changed.output
    token = runner.invoke(app, ["users", "token", "alice", "--name", "erp", "--scope", "read"])
    assert token.exit_code == 0, token.output
    raw = token.output.strip().splitlines()[-1]
    assert raw.startswith("rd_")
    revoked = runner.invoke(app, ["users", "token", "alice", "--revoke", "1"])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    bad_scope = runner.invoke(app, ["users", "token", "alice", "--scope", "everything"])
    assert bad_scope.exit_code == 2


def test_users_unlock_and_set_password(cli_env: Path) -> None:
    from sqlalchemy import select

    from riskdesk.db import make_engine, make_sessionmaker, unit_of_work
    from riskdesk.kit.errors import NotAuthenticated
    from riskdesk.models import AuditEntry
    from riskdesk.security import service as security_service

    made = runner.invoke(
        app, ["users", "create", "carol", "--role", "sales", "--password", "Lantern-harbour-1"]
    )
    assert made.exit_code == 0, made.output
    factory = make_sessionmaker(make_engine(get_settings().database_url))
    for _ in range(security_service.DEFAULT_LOCKOUT.failures):
        with unit_of_work(factory) as session, contextlib.suppress(NotAuthenticated):
            security_service.authenticate(session, username="carol", password="Wrong-1-guess")
    listed = runner.invoke(app, ["users", "list"])
    assert "locked until" in listed.output, listed.output
    assert runner.invoke(app, ["users", "unlock", "nobody"]).exit_code == 2
    unlocked = runner.invoke(app, ["users", "unlock", "carol"])
    assert unlocked.exit_code == 0 and "carol is unlocked" in unlocked.output, unlocked.output
    assert "locked until" not in runner.invoke(app, ["users", "list"]).output
    with unit_of_work(factory) as session:
        user = security_service.authenticate(
            session, username="carol", password="Lantern-harbour-1"
        )
        # (The command's words come from sys.argv, which is pytest's here.)
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.channel == "cli", AuditEntry.object_type == "user")
        ).one()
        assert entry.object_id == str(user.id)
        assert "locked_until" in entry.detail["changes"][0]["fields"]
    weak = runner.invoke(app, ["users", "set-password", "carol", "--password", "Rk7#qz!Lm2"])
    assert weak.exit_code == 2 and "password_too_short" in weak.output
    reset = runner.invoke(app, ["users", "set-password", "carol"], input="Quay-otter-ledger\n" * 2)
    assert reset.exit_code == 0, reset.output
    with unit_of_work(factory) as session:
        carol = security_service.authenticate(
            session, username="carol", password="Quay-otter-ledger"
        )
        # A password someone else set: carol chooses her own at the next sign-in.
        assert carol.password_change_required
    assert "must change password" in runner.invoke(app, ["users", "list"]).output
    kept = runner.invoke(
        app,
        ["users", "set-password", "carol", "--password", "Otter-quay-ledger", "--keep-password"],
    )
    assert kept.exit_code == 0, kept.output
    with unit_of_work(factory) as session:
        carol = security_service.get_user_by_username_or_raise(session, "carol")
        assert not carol.password_change_required
    # Created for someone else: they choose their own at the first sign-in.
    assert runner.invoke(
        app, ["users", "create", "dan", "--role", "sales", "--password", "Lantern-harbour-2",
              "--must-change-password"]
    ).exit_code == 0  # fmt: skip
    with unit_of_work(factory) as session:
        dan = security_service.get_user_by_username_or_raise(session, "dan")
        assert dan.password_change_required


def test_users_disable_and_enable(cli_env: Path) -> None:
    from riskdesk.db import make_engine, make_sessionmaker, unit_of_work
    from riskdesk.kit.errors import NotAuthenticated
    from riskdesk.security import service as security_service

    for name, role in (("dora", "sales"), ("root", "admin")):
        made = runner.invoke(
            app, ["users", "create", name, "--role", role, "--password", "Lantern-harbour-1"]
        )
        assert made.exit_code == 0, made.output
    disabled = runner.invoke(app, ["users", "disable", "dora"])
    assert disabled.exit_code == 0 and "dora is disabled" in disabled.output, disabled.output
    assert "disabled" in runner.invoke(app, ["users", "list"]).output
    factory = make_sessionmaker(make_engine(get_settings().database_url))
    with unit_of_work(factory) as session, pytest.raises(NotAuthenticated):
        security_service.authenticate(session, username="dora", password="Lantern-harbour-1")
    assert runner.invoke(app, ["users", "enable", "dora"]).exit_code == 0
    with unit_of_work(factory) as session:
        security_service.authenticate(session, username="dora", password="Lantern-harbour-1")
    last = runner.invoke(app, ["users", "disable", "root"])
    assert last.exit_code == 2 and "last_admin" in last.output, last.output
    demoted = runner.invoke(app, ["users", "set-role", "root", "auditor"])
    assert demoted.exit_code == 2 and "last_admin" in demoted.output, demoted.output


def test_import_command(cli_env: Path) -> None:
    runner.invoke(
        app, ["users", "create", "ops", "--role", "credit_manager", "--password", "Ops-pass-2026"]
    )
    csv = cli_env / "customers.csv"
    csv.write_text(
        "source,external_id,kind,name,tax_id\n"
        f"erp,E1,company,一号公司有限公司,{uscc()}\n"
        "erp,E2,company,二号公司有限公司,BAD\n",
        encoding="utf-8",
    )
    rejected = runner.invoke(
        app, ["import", "customers", str(csv), "--user", "ops", "--format", "json"]
    )
    assert rejected.exit_code == 1
    body = json.loads(rejected.output)
    assert body["status"] == "rejected" and body["created"] == 0
    assert body["errors"][0]["row"] == 3 and body["errors"][0]["field"] == "tax_id"
    done = runner.invoke(
        app,
        ["import", "customers", str(csv), "--user", "ops", "--skip-invalid", "--format", "json"],
    )
    assert done.exit_code == 0 and json.loads(done.output)["created"] == 1
    again = runner.invoke(
        app,
        ["import", "customers", str(csv), "--user", "ops", "--skip-invalid", "--format", "json"],
    )
    assert json.loads(again.output)["duplicates"] == 1
    mapping = cli_env / "map.yaml"
    mapping.write_text("columns: {external_id: nope}\n")
    bad_map = runner.invoke(
        app, ["import", "customers", str(csv), "--mapping", str(mapping), "--user", "ops"]
    )
    assert bad_map.exit_code == 1 and "nope" in bad_map.output


def test_demo_loads_a_population(cli_env: Path) -> None:
    result = runner.invoke(app, ["demo", "--customers", "60", "--months", "14", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "customers 60" in result.output
    assert "deteriorating" in result.output
    # Day one has work waiting on every worklist (the practice walkthroughs act on it).
    assert (
        "today's work: 6 held orders, 4 limit requests, 2 credit-file changes waiting for a "
        "second person" in " ".join(result.output.split())
    ), result.output
    again = runner.invoke(app, ["demo", "--customers", "5"])
    assert again.exit_code == 1
    # Expected credit loss as of the last month end and today: the ECL page and its movement
    # have something to show on day one.
    assert "expected credit loss: as of " in result.output
    # The demo stores the dashboard's month ends; a later pass has nothing to store.
    from riskdesk.config import get_settings
    from riskdesk.db import make_engine, make_sessionmaker
    from riskdesk.portfolio import month_end_repository

    factory = make_sessionmaker(make_engine(get_settings().database_url))
    with factory() as session:
        stored = month_end_repository.months(session)
        from sqlalchemy import func, select

        from riskdesk.models import (
            CreditDecision,
            CustomerScore,
            EclRun,
            LimitRequest,
            PendingChange,
        )
        from riskdesk.portfolio import migration

        # Scored at the last quarter's end too, then today: the migration has two quarters.
        rated = session.execute(
            select(CustomerScore.as_of, func.count()).group_by(CustomerScore.as_of)
        ).all()
        held = session.scalars(select(CreditDecision.status)).all()
        asked = session.scalars(select(LimitRequest.status)).all()
        waiting = session.scalar(select(func.count()).select_from(PendingChange))
        ecl = session.execute(select(EclRun.as_of, EclRun.customers)).all()
        from riskdesk.company import service as company_service

        # A Chinese company's demo reads times on Shanghai's clock.
        assert company_service.display_time_zone(session, "UTC") == "Asia/Shanghai"
    assert len(stored) == 14 and all(stored.values())
    assert held == ["held"] * 6 and asked == ["pending"] * 4 and waiting == 2
    month_end = dt.date.today().replace(day=1) - dt.timedelta(days=1)
    assert sorted(day for day, _ in ecl) == [month_end, dt.date.today()]
    assert all(n > 0 for _, n in ecl), ecl
    _, previous_end, _ = migration.period(None, dt.date.today())
    assert sorted(day for day, _ in rated) == [previous_end, dt.date.today()]
    assert len({n for _, n in rated}) == 1, rated  # everyone, both times
    ends = runner.invoke(app, ["portfolio", "month-ends"])
    assert ends.exit_code == 0, ends.output
    assert "stored: none; dropped: none" in ends.output
    moved = runner.invoke(app, ["portfolio", "month-ends", "--as-of", "1999-13-01"])
    assert moved.exit_code == 2 and "--as-of" in moved.output
    # After a hand edit the triggers do not follow, rebuild derives the balances afresh.
    from sqlalchemy import text

    with factory.begin() as session:
        session.execute(text("DELETE FROM invoice_balances WHERE invoice_id IN "
                             "(SELECT invoice_id FROM invoice_balances LIMIT 3)"))  # fmt: skip
    rebuilt = runner.invoke(app, ["portfolio", "rebuild"])
    assert rebuilt.exit_code == 0, rebuilt.output
    kept = re.search(r"open invoices kept: (\d+) before, (\d+) derived afresh", rebuilt.output)
    assert kept is not None and int(kept[2]) == int(kept[1]) + 3, rebuilt.output
    assert "month ends stored: " in rebuilt.output
    # Another pass holding the lease: the command waits for it rather than skip its work.
    import threading

    from riskdesk.pipeline import repository as leases
    from riskdesk.portfolio import month_ends

    let_go = threading.Event()

    def hold() -> None:
        with leases.job_lease(factory.kw["bind"], month_ends.LEASE_ID, scope="month_ends"):
            holding.set()
            let_go.wait(10)

    holding = threading.Event()
    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(10)
    threading.Timer(1.0, let_go.set).start()
    waited = runner.invoke(app, ["portfolio", "month-ends"])
    assert let_go.is_set() and waited.exit_code == 0, waited.output
    holder.join(10)


def test_warnings_replay_writes_its_report_and_leaves_the_queue(cli_env: Path) -> None:
    loaded = runner.invoke(
        app, ["demo", "--customers", "60", "--months", "14", "--seed", "3",
              "--end-date", "2026-06-30"],
    )  # fmt: skip
    assert loaded.exit_code == 0, loaded.output
    out = cli_env / "replay.json"
    run = runner.invoke(
        app,
        ["warnings", "replay", "--from", "2026-01-01", "--to", "2026-06-30", "--labels", "demo",
         "--out", str(out)],
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    assert "deteriorating" in run.output and "open at 2026-06-30" in run.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["from"] == "2026-01-31" and report["to"] == "2026-06-30"
    assert report["labels"]["behaviours"]["deteriorating"]["customers"] > 0
    shipped = runner.invoke(
        app,
        ["warnings", "replay", "--from", "2026-04-01", "--to", "2026-06-30", "--pack", "shipped"],
    )
    assert shipped.exit_code == 0, shipped.output
    bad = runner.invoke(app, ["warnings", "replay", "--from", "2026-13-01"])
    assert bad.exit_code == 2 and "--from" in bad.output
    # The live pack judged as of the demo's last day again: nothing new, nothing cleared.
    rerun = runner.invoke(app, ["rules", "run", "--as-of", "2026-06-30"])
    assert rerun.exit_code == 0, rerun.output
    assert "0 alert(s) raised" in rerun.output and "0 cleared" in rerun.output
    assert runner.invoke(app, ["rules", "run", "--as-of", "June"]).exit_code == 2
    backwards = runner.invoke(
        app, ["warnings", "replay", "--from", "2026-06-01", "--to", "2026-01-01"]
    )
    assert backwards.exit_code == 2 and "--from" in backwards.output
    # How the installation stands: the replays of the active pack were kept as backtests.
    status = runner.invoke(app, ["status", "--json"])
    assert status.exit_code == 0, status.output
    found = json.loads(status.output)
    assert found["schema_revision"] == found["schema_head"]
    assert found["running_imports"] == []
    assert found["warning_backtest"]["id"] >= 2  # the demo load's and the active replay's
    assert found["alert_queue"]["open_alerts"] >= found["alert_queue"]["open_cases"] > 0
    assert sum(found["audit_chains"].values()) > 0
    shown = runner.invoke(app, ["status"])
    assert shown.exit_code == 0 and "alert queue" in shown.output


def test_indicators_and_exposure_commands(cli_env: Path) -> None:
    loaded = runner.invoke(app, ["demo", "--customers", "30", "--months", "13", "--seed", "2"])
    assert loaded.exit_code == 0, loaded.output
    run = runner.invoke(app, ["indicators", "run"])
    assert run.exit_code == 0 and "indicators for 30 customers" in run.output
    clean = runner.invoke(app, ["exposure", "verify"])
    assert clean.exit_code == 0, clean.output
    assert "0 difference(s) found" in clean.output


def test_demo_is_scored_and_scores_run_rescores(cli_env: Path) -> None:
    loaded = runner.invoke(app, ["demo", "--customers", "40", "--months", "13", "--seed", "5"])
    assert loaded.exit_code == 0, loaded.output
    run = runner.invoke(app, ["scores", "run"])
    assert run.exit_code == 0, run.output
    assert "40 scored, 0 fit no active scorecard" in run.output
    from riskdesk.config import get_settings
    from riskdesk.db import make_engine, make_sessionmaker, unit_of_work
    from riskdesk.models import CreditProfile, ScoringRun

    factory = make_sessionmaker(make_engine(get_settings().database_url))
    with unit_of_work(factory) as session:
        runs = session.query(ScoringRun).order_by(ScoringRun.id).all()
        # The demo's two runs (the last quarter's end, then its last day), then the command's.
        assert [r.trigger for r in runs] == ["demo", "demo", "cli"]
        tiers = {p.risk_tier for p in session.query(CreditProfile).all()}
        assert tiers <= {"low", "medium", "high", "critical"} and None not in tiers
    expired = runner.invoke(app, ["limits", "expire"])
    assert expired.exit_code == 0 and "0 limit request(s) expired" in expired.output


def test_model_train_from_history_into_the_registry(cli_env: Path) -> None:
    # 3% of the demo deteriorates: 160 customers give enough bad rows for three folds.
    # `make run` loads the demo with --model: the Models page then shows a challenger.
    loaded = runner.invoke(
        app, ["demo", "--customers", "160", "--months", "24", "--seed", "1", "--model"]
    )
    assert loaded.exit_code == 0, loaded.output
    assert re.search(r"demo model: demo-scorecard v1 \(challenger\), \d+ customers", loaded.output)
    from riskdesk.db import make_engine, make_sessionmaker
    from riskdesk.scoring import registry

    with make_sessionmaker(make_engine(get_settings().database_url))() as session:
        models = registry.list_models(session)
        scored = registry.score_stability(session, models[0])
    assert [(m.name, m.status, m.observation_date) for m in models] == [
        ("demo-scorecard", "challenger", dt.date.today() - dt.timedelta(days=365))
    ]
    # Scored, with its matured performance kept: the analyst's home shows both on day one.
    assert scored[1] == dt.date.today() and scored[0] is not None
    assert models[0].matured_as_of == dt.date.today()
    assert len(models[0].matured_performance or []) == 12
    args = ["model", "train", "--name", "pd", "--family", "scorecard", "--folds", "3"]
    trained = runner.invoke(app, [*args, "--from-history", "--user", "analyst"])
    assert trained.exit_code == 0, trained.output
    summary = json.loads(trained.output)
    assert (summary["name"], summary["version"], summary["status"]) == ("pd", 1, "challenger")
    assert 0 < summary["auc"] <= 1
    neither = runner.invoke(app, args)
    assert neither.exit_code == 2 and "--from-history" in neither.output
    family = runner.invoke(
        app, ["model", "train", "--name", "pd", "--family", "x", "--from-history"]
    )
    assert family.exit_code == 2 and "--family" in family.output
    future = runner.invoke(
        app, [*args, "--from-history", "--observation", "2099-01-01", "--user", "analyst"]
    )
    assert future.exit_code == 2 and "--observation" in future.output


def test_replay_worker_and_the_queue_in_status(cli_env: Path) -> None:
    loaded = runner.invoke(app, ["demo", "--customers", "30", "--months", "13", "--seed", "4"])
    assert loaded.exit_code == 0, loaded.output
    queued = runner.invoke(app, ["replay", "--wait", "0"])
    assert queued.exit_code == 0 and "30 customer(s) queued" in queued.output, queued.output
    waiting = json.loads(runner.invoke(app, ["status", "--json"]).output)["event_queue"]
    assert waiting["rows"] == 30 and waiting["dead_letters"] == 0
    assert sum(p["rows"] for p in waiting["partitions"]) == 30
    assert "30 waiting" in runner.invoke(app, ["status"]).output
    worked = runner.invoke(app, ["worker", "--once"])
    assert worked.exit_code == 0 and "30 queued row(s) processed" in worked.output, worked.output
    assert json.loads(runner.invoke(app, ["status", "--json"]).output)["event_queue"]["rows"] == 0
    # Rebuilt again, here and now: nothing changes, no alert is raised twice.
    again = runner.invoke(app, ["replay"])
    assert again.exit_code == 0 and "rebuilt" in again.output, again.output
    rerun = runner.invoke(app, ["rules", "run"])
    assert "0 alert(s) raised" in rerun.output, rerun.output
    letters = runner.invoke(app, ["queue", "dead-letters"])
    assert letters.exit_code == 0 and "0 dead letter(s)" in letters.output


def test_status_shows_a_running_imports_progress_from_redis(
    cli_env: Path, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from riskdesk import redis_store
    from riskdesk.db import make_engine, make_sessionmaker, unit_of_work
    from riskdesk.models import ImportJob
    from riskdesk.pipeline.progress import RedisBoard
    from tests.conftest import REDIS_URL

    monkeypatch.setenv("RISKDESK_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("RISKDESK_REDIS_KEY_PREFIX", redis_prefix)
    get_settings.cache_clear()
    engine = make_engine(get_settings().database_url)
    with unit_of_work(make_sessionmaker(engine)) as session:
        # An import running on an API node, which publishes its progress to Redis only.
        job = ImportJob(
            kind="orders",
            filename="o.csv",
            file_sha256="0" * 64,
            status="running",
            skip_invalid=False,
            errors=[],
        )
        session.add(job)
        session.flush()
        job_id = job.id
    engine.dispose()
    shared = redis_store.connect(get_settings())
    assert shared is not None
    try:
        RedisBoard(shared).publish(job_id, 40_000, 100_000)
        status = runner.invoke(app, ["status", "--json"])
    finally:
        shared.close()
    assert status.exit_code == 0, status.output
    running = json.loads(status.output)["running_imports"]
    assert [(j["id"], j["rows_done"], j["rows"]) for j in running] == [(job_id, 40_000, 100_000)]


def test_status_shows_queued_jobs_and_the_worker_runs_them(cli_env: Path) -> None:
    loaded = runner.invoke(app, ["demo", "--customers", "30", "--months", "13", "--seed", "6"])
    assert loaded.exit_code == 0, loaded.output
    from riskdesk.config import get_settings
    from riskdesk.db import make_engine, make_sessionmaker, unit_of_work
    from riskdesk.jobs import service as jobs
    from riskdesk.models import Job
    from riskdesk.security import service as security_service
    from riskdesk.security.permissions import Permission

    engine = make_engine(get_settings().database_url)
    factory = make_sessionmaker(engine)
    with unit_of_work(factory) as session:
        user = security_service.get_user_by_username_or_raise(session, "manager")
        job_id = jobs.enqueue(
            session,
            security_service.system_principal(session, user),
            kind="scoring_run",
            permission=Permission.SCORING_MANAGE,
            parameters={"as_of": None},
        ).id
    waiting = json.loads(runner.invoke(app, ["status", "--json"]).output)["jobs"]
    assert [(j["id"], j["kind"], j["status"]) for j in waiting] == [
        (job_id, "scoring_run", "queued")
    ]
    assert f"#{job_id} scoring_run queued" in runner.invoke(app, ["status"]).output
    worked = runner.invoke(app, ["worker", "--once"])
    assert worked.exit_code == 0 and "1 job(s) run" in worked.output, worked.output
    assert json.loads(runner.invoke(app, ["status", "--json"]).output)["jobs"] == []
    with factory() as session:
        done = session.get(Job, job_id)
        assert done is not None and done.status == "done"
        assert done.result is not None and done.result["customers"] == 30
    engine.dispose()
