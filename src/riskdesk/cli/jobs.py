"""riskdesk jobs: the background jobs (list, show, cancel), and ``--queue`` of the long
commands, which queue their work as a job instead of running it in the command."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from riskdesk.cli import fail
from riskdesk.security.permissions import Permission

jobs_app = typer.Typer(
    help="Background jobs: scoring runs, trainings, backtests, replays, rule runs.",
    no_args_is_help=True,
)
console = Console()

QUEUE_HELP = (
    "queue the work as a background job (run by the server's job workers or `riskdesk worker "
    "--jobs N`) instead of running it here; prints the job id"
)
USER_HELP = (
    "with --queue (needed there): the user who starts the job; it runs with their role's "
    "permissions and is theirs on the jobs page"
)
STATUSES = ("queued", "running", "done", "failed", "cancelled")


def _factory() -> Any:
    from riskdesk.config import get_settings
    from riskdesk.db import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(get_settings().database_url))


def queue(
    *, kind: str, permission: Permission, parameters: dict[str, Any], username: str | None
) -> None:
    """Queue a long operation as a job of ``username``, and say how to follow it."""
    from riskdesk.db import unit_of_work
    from riskdesk.jobs import service as job_service
    from riskdesk.kit.errors import NotFound, PermissionDenied
    from riskdesk.security import service as security_service

    # A job runs as the person who started it (Riskdesk's own system user cannot sign in, so
    # its jobs would fail at their store): the operator names one.
    if username is None:
        fail("--user", "name the user who starts the queued job (e.g. --user manager)")
    try:
        with unit_of_work(_factory()) as session:
            user = security_service.get_user_by_username_or_raise(session, username)
            principal = security_service.system_principal(session, user)
            job = job_service.enqueue(
                session, principal, kind=kind, permission=permission, parameters=parameters
            )
            job_id, starter = job.id, principal.user.username
    except NotFound:
        fail("--user", f"no user {username!r}")
    except PermissionDenied:
        fail("--user", f"{username} may not start this job (it needs {permission.value})")
    typer.echo(
        f"queued job {job_id} ({kind}) as {starter}; follow it with `riskdesk jobs show "
        f"{job_id}` or at /jobs/{job_id} in the browser; cancel it with `riskdesk jobs cancel "
        f"{job_id}`. It runs in a server with RISKDESK_JOB_WORKERS above 0, or in "
        "`riskdesk worker --jobs N`."
    )


def _summary(result: dict[str, Any] | None) -> list[tuple[str, str]]:
    """A result's top-level figures (nested parts named by their size), for the terminal."""
    rows: list[tuple[str, str]] = []
    for key, value in (result or {}).items():
        if isinstance(value, dict | list):
            shown = f"({len(value)} {'entries' if isinstance(value, dict) else 'items'})"
        elif isinstance(value, float):
            shown = f"{value:.4f}".rstrip("0").rstrip(".")
        else:
            shown = str(value)
        rows.append((key, shown))
    return rows


@jobs_app.command("list")
def list_command(
    status: Annotated[
        str | None, typer.Option(help="queued, running, done, failed or cancelled")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="scoring_run, rule_backtest, ...")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="how many, newest first")] = 25,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False,
) -> None:
    """The newest jobs, every user's, with their progress."""
    from riskdesk.db import reading
    from riskdesk.jobs import service as job_service
    from riskdesk.kit.pagination import PageParams

    if status is not None and status not in STATUSES:
        fail("--status", f"expected one of {', '.join(STATUSES)}, got {status!r}")
    with reading(_factory()) as session:
        rows, total = job_service.list_all(
            session, kind=kind, status=status, params=PageParams(1, limit)
        )
        found: list[dict[str, Any]] = []
        for row in rows:
            phase, done, steps = job_service.progress_of(row)
            found.append(
                {
                    "id": row.id,
                    "kind": row.kind,
                    "status": row.status,
                    "phase": phase,
                    "done": done,
                    "total": steps,
                    "created_at": row.created_at.isoformat(),
                    "finished_at": row.finished_at.isoformat() if row.finished_at else None,
                }
            )
    if as_json:
        print(json.dumps({"total": total, "jobs": found}, ensure_ascii=False, indent=2))
        return
    table = Table("id", "kind", "status", "phase", "queued at", "finished at")
    for j in found:
        table.add_row(
            str(j["id"]),
            j["kind"],
            j["status"],
            f"{j['phase']} {j['done']}/{j['total']}" if j["total"] else j["phase"],
            j["created_at"][:19],
            (j["finished_at"] or "")[:19],
        )
    console.print(table)
    console.print(f"{len(found)} of {total} job(s)")


@jobs_app.command("show")
def show_command(
    job_id: Annotated[int, typer.Argument(min=1, help="the job's id")],
    as_json: Annotated[bool, typer.Option("--json", help="print the job as the API does")] = False,
) -> None:
    """A job: its status and progress, then its result's figures or its error."""
    from riskdesk.db import reading
    from riskdesk.jobs.deps import job_read
    from riskdesk.jobs.service import get_any_or_raise
    from riskdesk.kit.errors import NotFound
    from riskdesk.security import service as security_service

    try:
        with reading(_factory()) as session:
            job = job_read(get_any_or_raise(session, job_id))
            starter = security_service.get_user_or_raise(session, job.created_by_id).username
    except NotFound:
        fail("ID", f"no job {job_id}")
    if as_json:
        print(job.model_dump_json(indent=2))
        return
    p = job.progress
    lines = [
        f"job {job.id}: {job.kind}, {job.status}",
        f"phase: {p.phase}" + (f" ({p.done}/{p.total})" if p.total else ""),
        f"queued at {job.created_at.isoformat()} by {starter}",
    ]
    if job.started_at:
        lines.append(f"started at {job.started_at.isoformat()} (attempt {job.attempts})")
    if job.finished_at:
        lines.append(f"finished at {job.finished_at.isoformat()}")
    if job.cancel_requested and job.status == "running":
        lines.append("asked to stop: it stops at its next progress point")
    if job.error is not None:
        lines.append(f"error ({job.error.code}): {job.error.message}")
    for key, value in _summary(job.result):
        lines.append(f"  {key}: {value}")
    typer.echo("\n".join(lines))


@jobs_app.command("cancel")
def cancel_command(job_id: Annotated[int, typer.Argument(min=1, help="the job's id")]) -> None:
    """Cancel a queued job, or ask a running one to stop at its next progress point (what it
    was storing is rolled back)."""
    from riskdesk.db import unit_of_work
    from riskdesk.jobs.service import cancel_any
    from riskdesk.kit.errors import Conflict, NotFound

    try:
        with unit_of_work(_factory()) as session:
            status = cancel_any(session, job_id).status
    except NotFound:
        fail("ID", f"no job {job_id}")
    except Conflict as exc:
        fail("ID", exc.message)
    if status == "cancelled":
        typer.echo(f"job {job_id} cancelled")
    else:
        typer.echo(f"job {job_id} asked to stop: it stops at its next progress point")
