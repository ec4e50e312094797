"""riskdesk: serve, db, users, import, demo."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from riskdesk import bootstrap
from riskdesk.cli import fail, parse_date
from riskdesk.cli.audit import audit_app
from riskdesk.cli.batch import batch_app
from riskdesk.cli.bi import bi_app
from riskdesk.cli.churn import churn_app
from riskdesk.cli.jobs import QUEUE_HELP, USER_HELP, jobs_app
from riskdesk.cli.jobs import queue as queue_job
from riskdesk.cli.keys import keys_app
from riskdesk.cli.lake import lake_app
from riskdesk.cli.model import model_app
from riskdesk.cli.portfolio import portfolio_app
from riskdesk.cli.privacy import privacy_app
from riskdesk.cli.reports import reports_app
from riskdesk.cli.status import status as status_command
from riskdesk.cli.warnings import warnings_app
from riskdesk.cli.worker import queue_app
from riskdesk.cli.worker import replay as replay_command
from riskdesk.cli.worker import worker as worker_command
from riskdesk.config import get_settings
from riskdesk.db import make_engine, make_sessionmaker, reading, unit_of_work
from riskdesk.kit.errors import RiskdeskError
from riskdesk.kit.tabular import ColumnMapping
from riskdesk.migrations import runner
from riskdesk.pipeline import intake, processing
from riskdesk.redis_store import connect as connect_redis
from riskdesk.security import service as security_service
from riskdesk.security.permissions import Role

app = typer.Typer(
    help="Riskdesk: customer credit files, credit risk and early warning.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
users_app = typer.Typer(help="Users, roles and API tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(model_app, name="model")
app.add_typer(churn_app, name="churn")
app.add_typer(warnings_app, name="warnings")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(privacy_app, name="privacy")
app.add_typer(queue_app, name="queue")
app.add_typer(jobs_app, name="jobs")
app.add_typer(bi_app, name="bi")
app.add_typer(lake_app, name="lake")
app.add_typer(reports_app, name="reports")
app.add_typer(portfolio_app, name="portfolio")
app.add_typer(batch_app, name="batch")
console = Console()
err = Console(stderr=True)


@app.callback()
def _main(ctx: typer.Context) -> None:
    from riskdesk.security.storage import restrict_new_files

    # Before anything is written: the database, documents and keys are the owner's only.
    restrict_new_files()
    bootstrap.install()  # before any session: the audit trail sees every write
    # Entries written by a command name it; the server's own jobs stay "system".
    if ctx.invoked_subcommand not in ("up", "serve"):
        import sys

        from riskdesk.audit.trail import set_process_default

        # The command's words only: options may carry a password.
        words = [w for w in sys.argv[1:3] if not w.startswith("-")]
        set_process_default("cli", " ".join(["riskdesk", *words])[:200])
    # batch reads frames or the event record and writes files: no audit entry, no personal data
    if ctx.invoked_subcommand not in ("keys", "db", "up", "demo", "churn", "model", "batch"):
        from riskdesk.security import keys

        try:  # every command that writes needs the keyring (the audit log, personal data)
            keys.current()
        except keys.KeyringError as exc:
            err.print(f"[red]error[/red] {exc}")
            raise typer.Exit(2) from None


def _factory() -> sessionmaker[Session]:
    return make_sessionmaker(make_engine(get_settings().database_url))


def _fail(exc: RiskdeskError) -> None:
    err.print(
        f"[red]error[/red] ({exc.code}){' ' + exc.field + ':' if exc.field else ''} {exc.message}"
    )
    for d in exc.details[:50]:
        err.print(f"  row {d.row}: {d.field}: {d.reason}" if d.row else f"  {d.field}: {d.reason}")
    raise typer.Exit(2)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    engine = make_engine(get_settings().database_url)
    runner.upgrade(engine, revision)
    console.print(f"database at revision {runner.current_revision(engine)}")


@db_app.command("current")
def db_current() -> None:
    """Show the database's revision."""
    console.print(runner.current_revision(make_engine(get_settings().database_url)) or "(none)")


@users_app.command("create")
def users_create(
    username: str,
    role: Annotated[
        Role,
        typer.Option(
            help="credit_manager, risk_analyst, sales, customer_service, auditor or admin"
        ),
    ],
    display_name: Annotated[str | None, typer.Option("--name")] = None,
    team: Annotated[str | None, typer.Option()] = None,
    password: Annotated[str | None, typer.Option(help="prompted when not given")] = None,
    email: Annotated[str | None, typer.Option(help="for e-mail notifications")] = None,
    must_change_password: Annotated[
        bool,
        typer.Option(
            "--must-change-password",
            help="the user must choose their own password at the first sign-in "
            "(for an account created for someone else)",
        ),
    ] = False,
) -> None:
    """Create a user (by default with the password given, kept: the operator's own account;
    with --must-change-password for someone else's)."""
    if password is None:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        with unit_of_work(_factory()) as session:
            user = security_service.create_user(
                session,
                username=username,
                display_name=display_name or username,
                role=role,
                password=password,
                team=team,
                email=email,
                password_change_required=must_change_password,
            )
            console.print(f"created user {user.username} ({user.role})")
    except RiskdeskError as exc:
        _fail(exc)


@users_app.command("list")
def users_list() -> None:
    """List users and the state of their accounts (active, disabled, locked until when)."""
    with unit_of_work(_factory()) as session:
        table = Table("username", "name", "role", "team", "state")
        for u in security_service.list_users(session):
            state: str = security_service.account_state(u)
            until = security_service.locked_until(u)
            if until is not None:
                state = f"locked until {until:%Y-%m-%d %H:%M} UTC"
            if u.password_change_required:
                state += ", must change password"
            table.add_row(u.username, u.display_name, u.role, u.team or "", state)
        console.print(table)


def _audit_user(session: Session, user_id: int) -> None:
    from riskdesk.audit.trail import set_context

    set_context(session, object_type="user", object_id=str(user_id))


@users_app.command("unlock")
def users_unlock(username: str) -> None:
    """End a user's lock-out now (after too many wrong passwords); the audit log records it."""
    try:
        with unit_of_work(_factory()) as session:
            user = security_service.get_user_by_username_or_raise(session, username)
            _audit_user(session, user.id)
            security_service.unlock_user(session, user_id=user.id)
            console.print(f"{user.username} is unlocked")
    except RiskdeskError as exc:
        _fail(exc)


@users_app.command("set-password")
def users_set_password(
    username: str,
    password: Annotated[str | None, typer.Option(help="prompted when not given")] = None,
    must_change_password: Annotated[
        bool,
        typer.Option(
            "--must-change-password/--keep-password",
            help="whether the user must choose their own password at the next sign-in",
        ),
    ] = True,
) -> None:
    """Set a user's password (a forgotten one); their lock-out and browser sessions end, and
    they choose their own at the next sign-in (--keep-password: not)."""
    if password is None:
        password = typer.prompt("new password", hide_input=True, confirmation_prompt=True)
    try:
        with unit_of_work(_factory()) as session:
            user = security_service.get_user_by_username_or_raise(session, username)
            _audit_user(session, user.id)
            security_service.reset_password(
                session,
                user_id=user.id,
                password=password,
                password_change_required=must_change_password,
            )
            note = " (to be changed at the next sign-in)" if must_change_password else ""
            console.print(f"{user.username}: password set{note}")
    except RiskdeskError as exc:
        _fail(exc)


@users_app.command("set-role")
def users_set_role(username: str, role: Role) -> None:
    """Change a user's role."""
    try:
        with unit_of_work(_factory()) as session:
            user = security_service.set_role(session, username=username, role=role)
            console.print(f"{user.username} is now {user.role}")
    except RiskdeskError as exc:
        _fail(exc)


def _set_active(username: str, active: bool) -> None:
    from riskdesk.security.schemas import UserUpdate

    try:
        with unit_of_work(_factory()) as session:
            user = security_service.get_user_by_username_or_raise(session, username)
            _audit_user(session, user.id)
            security_service.update_user(
                session, user_id=user.id, changes=UserUpdate(is_active=active)
            )
            console.print(f"{user.username} is {'enabled' if active else 'disabled'}")
    except RiskdeskError as exc:
        _fail(exc)


@users_app.command("disable")
def users_disable(username: str) -> None:
    """Disable an account: no sign-in, its browser sessions end, its API tokens stop working."""
    _set_active(username, False)


@users_app.command("enable")
def users_enable(username: str) -> None:
    """Enable a disabled account again (its unrevoked API tokens work again)."""
    _set_active(username, True)


@users_app.command("set-email")
def users_set_email(
    username: str, email: Annotated[str, typer.Argument(help="empty to clear")] = ""
) -> None:
    """Set where a user's e-mail notifications go."""
    try:
        with unit_of_work(_factory()) as session:
            user = security_service.set_email(session, username=username, email=email or None)
            console.print(f"{user.username}: {user.email or '(no e-mail)'}")
    except RiskdeskError as exc:
        _fail(exc)


@users_app.command("token")
def users_token(
    username: str,
    name: Annotated[str, typer.Option(help="what the token is for, e.g. 'ERP sync'")] = "api",
    scope: Annotated[
        list[str] | None, typer.Option(help="permission names or bundles (read, intake); repeat")
    ] = None,
    expires_in_days: Annotated[int | None, typer.Option()] = None,
    revoke: Annotated[int | None, typer.Option(help="revoke the token with this id")] = None,
) -> None:
    """Issue an API token for a user (printed once), or revoke one."""
    try:
        with unit_of_work(_factory()) as session:
            if revoke is not None:
                token = security_service.revoke_token(session, token_id=revoke)
                console.print(f"revoked token {token.id} ({token.name})")
                return
            user = security_service.get_user_by_username_or_raise(session, username)
            token, raw = security_service.issue_token(
                session,
                user=user,
                name=name,
                scopes=scope or ["intake"],
                expires_in_days=expires_in_days,
            )
            console.print(
                f"token {token.id} for {user.username}, scopes: {', '.join(token.scopes)}"
            )
            console.print("store it now; it is not shown again:")
            print(raw)
    except RiskdeskError as exc:
        _fail(exc)


@app.command("import")
def import_command(
    kind: Annotated[str, typer.Argument(help=", ".join(intake.KINDS))],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    mapping: Annotated[Path | None, typer.Option(exists=True, dir_okay=False)] = None,
    skip_invalid: Annotated[
        bool,
        typer.Option("--skip-invalid", help="import the valid rows even when others are invalid"),
    ] = False,
    user: Annotated[str, typer.Option(help="whose name the import is recorded under")] = "admin",
    output: Annotated[str, typer.Option("--format", help="text or json")] = "text",
    encoding: Annotated[
        str | None,
        typer.Option(
            help="a CSV file's encoding (utf-8, gb18030, gbk, utf-16...); by default UTF-8, "
            "UTF-16 and GB18030/GBK are recognised"
        ),
    ] = None,
    wait: Annotated[
        float,
        typer.Option(
            min=0,
            help="seconds to wait, once the rows are committed, for their processing "
            "(indicators, rules, alerts), doing it here when no worker is running; 0: leave it "
            "to the workers (the server's, or `riskdesk worker`)",
        ),
    ] = 3600.0,
) -> None:
    """Import a CSV or Excel FILE of KIND; nothing is imported when a row is invalid."""
    try:
        column_mapping = ColumnMapping.from_yaml(mapping.read_text("utf-8")) if mapping else None
        intake.handler_for(kind)
    except RiskdeskError as exc:
        _fail(exc)
        return
    factory = _factory()

    def load(session: Session) -> security_service.Principal:
        found = security_service.get_user_by_username_or_raise(session, user)
        return security_service.system_principal(session, found)

    shared = connect_redis(get_settings())

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=output == "json",
    ) as bar:
        task = bar.add_task(f"importing {kind}", total=None)
        try:
            result = intake.import_file(
                factory,
                load,
                kind=kind,
                content=file.read_bytes(),
                filename=file.name,
                mapping=column_mapping,
                skip_invalid=skip_invalid,
                encoding=encoding,
                on_total=lambda n: bar.update(task, total=n),
                progress=lambda n: bar.advance(task, n),
                shared=shared,  # the API nodes show its progress too
            )
        except RiskdeskError as exc:
            _fail(exc)
            return
        processed = "done"
        if result.queued:
            processed = "queued"
            if wait > 0:
                bar.update(task, description="processing", total=None)
                settings = get_settings()
                if processing.wait_for(factory, result.queued, wait, settings):
                    processed = "done"
    job = result.job
    if output == "json":
        print(
            json.dumps(
                {
                    "job_id": job.id,
                    "status": job.status,
                    "total": job.total_rows,
                    "created": job.created_count,
                    "updated": job.updated_count,
                    "duplicates": job.duplicate_count,
                    "invalid": job.invalid_rows,
                    "message": job.message,
                    "errors": job.errors,
                    "processing": processed,
                },
                ensure_ascii=False,
            )
        )
    else:
        console.print(
            f"import {job.id}: {job.status}; rows {job.total_rows}, created "
            f"{job.created_count}, updated/pending {job.updated_count}, duplicates "
            f"{job.duplicate_count}, invalid {job.invalid_rows}"
            + ("" if job.status != "done" else f"; processing {processed}")
        )
        if job.message:
            console.print(job.message)
        for e in job.errors[:50]:
            console.print(f"  row {e.get('row', '-')}: {e.get('field')}: {e.get('reason')}")
        if len(job.errors) > 50:
            console.print(f"  ... and {len(job.errors) - 50} more")
    if job.status != "done":
        raise typer.Exit(1)


@app.command("demo")
def demo_command(
    customers: Annotated[int, typer.Option(min=1, max=200_000)] = 2000,
    months: Annotated[int, typer.Option(min=1, max=120)] = 24,
    seed: Annotated[int, typer.Option()] = 0,
    end_date: Annotated[
        str | None, typer.Option(help="last day of history (default today)")
    ] = None,
    model: Annotated[
        bool,
        typer.Option(
            "--model/--no-model",
            help="also train a scorecard model on the demo's history (what `make run` does)",
        ),
    ] = False,
) -> None:
    """Generate and load a demo population (with demo users) into an empty database."""
    from riskdesk.demo.loader import (
        DEMO_PASSWORD,
        add_ecl_runs,
        add_todays_work,
        is_empty,
        load_demo,
    )
    from riskdesk.security import keys

    keys.allow_create()  # an empty database: a new (demo) installation

    factory = _factory()
    with unit_of_work(factory) as session:
        if not is_empty(session):
            err.print("the database already has customers; demo data goes into an empty one")
            raise typer.Exit(1)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    ) as bar:
        task = bar.add_task("demo", total=None)

        def on_kind(kind: str, n: int) -> None:
            bar.update(task, description=f"loading {kind}", total=n, completed=0)

        with unit_of_work(factory) as session:
            summary = load_demo(
                session,
                customers=customers,
                months=months,
                seed=seed,
                end_date=dt.date.fromisoformat(end_date) if end_date else None,
                on_kind=on_kind,
                progress=lambda n: bar.advance(task, n),
                # Scored at the last quarter's end too when that end has a quarter of history
                # before it: the rating migration then compares two real quarters.
                last_quarter=months >= 6,
            )
            work = add_todays_work(session)
            last_day = dt.date.fromisoformat(end_date) if end_date else dt.date.today()
            ecl_days = add_ecl_runs(session, last_day)
    from riskdesk.portfolio import month_ends

    # The dashboard's month ends, stored now: its first answer need not derive them.
    month_ends.refresh(factory, wait=True)
    console.print("loaded: " + ", ".join(f"{k} {v}" for k, v in summary.counts.items()))
    console.print(
        "behaviours: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.behaviours.items()))
    )
    console.print(
        f"today's work: {work['held_orders']} held orders, {work['limit_requests']} limit "
        f"requests, {work['pending_changes']} credit-file changes waiting for a second person"
    )
    console.print(
        "expected credit loss: "
        + (", ".join(f"as of {d.isoformat()}" for d in ecl_days) or "not run (too little history)")
    )
    if model:
        _train_demo_model(months, dt.date.fromisoformat(end_date) if end_date else dt.date.today())
    console.print(
        f"demo users: manager, manager2, analyst, sales, sales2, sales3, service, "
        f"auditor, admin; password {DEMO_PASSWORD}"
    )


DEMO_MODEL = "demo-scorecard"


def _train_demo_model(months: int, end: dt.date) -> None:
    """Train a WoE scorecard model on the demo's own history, a challenger on the Models page
    for the analyst to review and two credit managers to promote. Its outcome is 90+ days past
    due within a year, so it needs a year of history after the observation date and some
    before it; a shorter demo, or one without enough bad customers, trains none (said so)."""
    from riskdesk.cli.model import train_from_history
    from riskdesk.scoring.modelling import ModellingError

    if months < 18:
        console.print(f"demo model: not trained ({months} months of history; it needs 18)")
        return
    console.print("training the demo model on its history ...")
    try:
        observation = end - dt.timedelta(days=365)
        summary = train_from_history(DEMO_MODEL, "scorecard", "analyst", observation, 365, folds=3)
    except ModellingError as exc:
        console.print(f"demo model: not trained ({exc.reason})")
        return
    from riskdesk.scoring import registry

    # Scored, and its matured performance kept, as the next scoring run would: the analyst's
    # home then shows the model's PSI and AUC on matured outcomes on day one.
    with unit_of_work(_factory()) as session:
        registry.score_customers(session, None, as_of=end)
        registry.keep_matured(session, registry.matured_due(session, end), as_of=end)
    console.print(
        f"demo model: {summary['name']} v{summary['version']} ({summary['status']}), "
        f"{summary['rows']} customers, AUC {summary['auc']:.2f}"
    )


indicators_app = typer.Typer(help="Behaviour indicators.", no_args_is_help=True)
app.add_typer(indicators_app, name="indicators")


@indicators_app.command("run")
def indicators_run(
    as_of: Annotated[str | None, typer.Option(help="business date (default today)")] = None,
) -> None:
    """Recompute every customer's indicators in one vectorised batch."""
    import time

    import polars as pl

    from riskdesk.indicators import service as indicator_service
    from riskdesk.kit.timeutil import today
    from riskdesk.scoring import service as scoring_service

    factory = _factory()
    started = time.perf_counter()
    day = dt.date.fromisoformat(as_of) if as_of else today()
    # Computed from one snapshot with no lock held, then stored in a short write. The
    # customers' marks are read with it: one whose events refreshed them meanwhile keeps that.
    with reading(factory) as session:
        marks = scoring_service.freshness(session)
        result = indicator_service.compute_batch(session, as_of=day)
    with unit_of_work(factory) as session:
        untouched, _ = scoring_service.unchanged_since(session, marks)
        stored = indicator_service.store_batch(
            session, result.filter(pl.col("customer_id").is_in(untouched)), as_of=day
        )
    console.print(
        f"indicators for {stored} customers as of {day} in {time.perf_counter() - started:.2f} s"
    )


exposure_app = typer.Typer(help="Credit exposure.", no_args_is_help=True)
app.add_typer(exposure_app, name="exposure")


@exposure_app.command("verify")
def exposure_verify(
    repair: Annotated[bool, typer.Option("--repair", help="make stored exposure match")] = False,
) -> None:
    """Recompute exposure from the events and report every difference."""
    from riskdesk.credit import service as credit_service

    factory = _factory()

    # Without --repair it only reads: no write lock, so the service's writers carry on.
    with unit_of_work(factory) if repair else reading(factory) as session:
        differences = credit_service.verify(session, repair=repair)
    for d in differences[:200]:
        console.print(f"C{d.customer_id:07d} {d.category}: stored {d.stored} expected {d.expected}")
    if len(differences) > 200:
        console.print(f"... and {len(differences) - 200} more")
    verb = "repaired" if repair else "found"
    console.print(f"{len(differences)} difference(s) {verb}")
    if differences and not repair:
        raise typer.Exit(1)


scores_app = typer.Typer(help="Scores, ratings and risk tiers.", no_args_is_help=True)
app.add_typer(scores_app, name="scores")


@scores_app.command("run")
def scores_run(
    as_of: Annotated[str | None, typer.Option(help="business date (default today)")] = None,
    queue: Annotated[bool, typer.Option("--queue", help=QUEUE_HELP)] = False,
    username: Annotated[str | None, typer.Option("--user", help=USER_HELP)] = None,
) -> None:
    """Recompute every customer's indicators, then score everyone with the active scorecards."""
    from riskdesk.policy import service as _policy  # noqa: F401  (schedules reviews on scores)
    from riskdesk.scoring import service as scoring_service

    if queue:
        from pydantic import ValidationError

        from riskdesk.scoring.schemas import RunIn
        from riskdesk.security.permissions import Permission

        try:
            body = RunIn(as_of=parse_date("--as-of", as_of) if as_of else None)
        except ValidationError as exc:  # a date beyond the accepted range
            fail("--as-of", exc.errors()[0]["msg"])
        queue_job(
            kind="scoring_run",
            permission=Permission.SCORING_MANAGE,
            parameters=body.model_dump(mode="json"),
            username=username,
        )
        return
    factory = _factory()
    # Computed from one snapshot with no lock held, then stored in a short write.
    with reading(factory) as session:
        plan = scoring_service.plan_rescore(
            session, as_of=dt.date.fromisoformat(as_of) if as_of else None
        )
    with unit_of_work(factory) as session:
        summary = scoring_service.store_rescore(session, plan, None, trigger="cli")
    console.print(
        f"scoring run {summary.run_id}: {summary.scored} scored, {summary.unscored} fit no "
        f"active scorecard, in {summary.seconds:.2f} s"
    )


rules_app = typer.Typer(help="Early-warning rules.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


@rules_app.command("install-defaults")
def rules_install_defaults() -> None:
    """Add the default rule pack's rules that are missing (active at once)."""
    from riskdesk.alerts import service as alert_service

    with unit_of_work(_factory()) as session:
        added = alert_service.install_default_pack(session)
    console.print(f"{added} rule(s) added")


@rules_app.command("draft-pack-updates")
def rules_draft_pack_updates() -> None:
    """Draft a new version of each shipped rule whose active version differs from the default
    pack shipped with this release, for a person to replay and approve."""
    from riskdesk.alerts import playbooks
    from riskdesk.monitoring import service as monitoring_service

    with unit_of_work(_factory()) as session:
        drafted, waiting = monitoring_service.draft_shipped_changes(
            session, playbooks.system_principal(session)
        )
        for code, v in drafted:
            console.print(f"{code}: drafted version {v.version} (id {v.id})")
    console.print(
        f"{len(drafted)} draft(s); compare each with `riskdesk warnings replay` or on the rules "
        "page, then approve it (a second person) and activate it"
    )
    if waiting:
        console.print(f"not drafted, a version is waiting for a decision: {', '.join(waiting)}")


@rules_app.command("run")
def rules_run(
    as_of: Annotated[
        str | None, typer.Option(help="business date to judge as of (default today)")
    ] = None,
    queue: Annotated[bool, typer.Option("--queue", help=QUEUE_HELP)] = False,
    username: Annotated[str | None, typer.Option("--user", help=USER_HELP)] = None,
) -> None:
    """Evaluate every active rule over every customer as of a business date and raise or
    refresh alerts (observed on that date), then look for complaint surges. With --queue:
    the rules only, as a job (the server looks for complaint surges on its own schedule)."""
    from riskdesk.alerts import service as alert_service
    from riskdesk.complaints import service as complaints_service
    from riskdesk.monitoring import service as monitoring_service

    day = parse_date("--as-of", as_of) if as_of else None
    if queue:
        from riskdesk.security.permissions import Permission

        queue_job(
            kind="rule_run",
            permission=Permission.RULES_MANAGE,
            parameters={"as_of": day.isoformat() if day else None},
            username=username,
        )
        return
    factory = _factory()
    # Computed from one snapshot with no lock held; the alerts are raised in a short write.
    with reading(factory) as session:
        findings = monitoring_service.find_rule_hits(session, None, as_of=day)
    with unit_of_work(factory) as session:
        summary = alert_service.raise_alerts(session, findings, as_of=day)
        raised, refreshed = complaints_service.detect_surges(session)
    console.print(
        f"{summary.customers} customers: {summary.raised} alert(s) raised, "
        f"{summary.refreshed} refreshed, {summary.cleared} cleared (their rule no longer "
        f"fires); complaint surges: {raised} product alert(s) raised, {refreshed} refreshed"
    )


@rules_app.command("escalate")
def alerts_escalate() -> None:
    """Escalate every alert past its SLA (run it from the scheduler)."""
    from riskdesk.alerts import service as alert_service

    with unit_of_work(_factory()) as session:
        count = alert_service.escalate_overdue(session)
    console.print(f"{count} alert(s) escalated")


notify_app = typer.Typer(help="E-mail and webhook deliveries.", no_args_is_help=True)
app.add_typer(notify_app, name="notify")


@notify_app.command("deliver")
def notify_deliver(
    loop: Annotated[bool, typer.Option(help="keep sending until stopped")] = False,
) -> None:
    """Send the e-mails and webhook calls that are due (a worker process for production)."""
    import time

    from riskdesk.alerts import delivery

    settings = get_settings()
    factory = _factory()
    while True:
        result = delivery.send_due(factory, settings)
        console.print(
            f"{result.delivered} delivered, {result.failed} to retry, {result.dead} given up"
        )
        if not loop:
            return
        time.sleep(max(settings.delivery_interval_seconds, 0.5))


limits_app = typer.Typer(help="Credit limit requests.", no_args_is_help=True)
app.add_typer(limits_app, name="limits")


@limits_app.command("expire")
def limits_expire() -> None:
    """Mark pending limit requests past their expiry date as expired."""
    from riskdesk.policy import service as policy_service

    with unit_of_work(_factory()) as session:
        count = policy_service.expire_due(session)
    console.print(f"{count} limit request(s) expired")


app.command("status")(status_command)
app.command("worker")(worker_command)
app.command("replay")(replay_command)


@app.command("serve")
def serve(host: str | None = None, port: int | None = None) -> None:
    """Serve the UI and the API."""
    import uvicorn

    from riskdesk.main import create_app
    from riskdesk.reports import pdf

    settings = get_settings()
    pdf.prepare_in_background(settings.data_dir)  # the first credit report need not wait
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level.lower(),
        # Behind a TLS proxy, the client's address (sign-in throttling, the audit log) comes
        # from X-Forwarded-For, trusted only from the proxies named here.
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or None,
    )


@app.command("up")
def up(host: str | None = None, port: int | None = None) -> None:
    """Migrate, load the demo data into an empty database, then serve (what `make run` does)."""
    from riskdesk.demo.loader import DEMO_PASSWORD, ensure_demo_users, is_empty
    from riskdesk.security import keys

    keys.allow_create()  # `make run` on a fresh checkout makes its own keyring
    settings = get_settings()
    engine = make_engine(settings.database_url)
    runner.upgrade(engine)
    factory = make_sessionmaker(engine)
    with unit_of_work(factory) as session:
        empty = is_empty(session)
        if not empty:
            ensure_demo_users(session)
    if empty:
        console.print(
            f"loading demo data: {settings.demo_customers} customers over "
            f"{settings.demo_months} months ..."
        )
        demo_command(
            customers=settings.demo_customers,
            months=settings.demo_months,
            seed=0,
            end_date=None,
            model=True,
        )
    url = f"http://{host or settings.host}:{port or settings.port}"
    console.print(f"\n[bold]Riskdesk is at {url}[/bold]")
    console.print(f"API docs: {url}/api/v1/docs")
    console.print(
        f"demo logins (password {DEMO_PASSWORD}): manager and manager2 (credit "
        "managers), analyst, sales, service, auditor, admin\n"
    )
    serve(host=host, port=port)


if __name__ == "__main__":
    app()
