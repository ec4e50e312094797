"""riskdesk status: how this installation stands, for whoever runs it."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def gather() -> dict[str, Any]:
    """The schema revision, running imports, the audit log's chains, the alert queue and the
    newest backtest of the warning pack; read only, with no lock held."""
    from riskdesk.alerts import repository as alerts_repo
    from riskdesk.audit import repository as audit_repo
    from riskdesk.config import get_settings
    from riskdesk.db import make_engine, make_sessionmaker, reading
    from riskdesk.jobs import service as job_service
    from riskdesk.kit.timeutil import utcnow
    from riskdesk.migrations import runner
    from riskdesk.monitoring import repository as monitoring_repo
    from riskdesk.pipeline import intake, processing
    from riskdesk.pipeline import repository as pipeline_repo
    from riskdesk.pipeline.progress import board_for
    from riskdesk.redis_store import connect as connect_redis

    settings = get_settings()
    engine = make_engine(settings.database_url)
    shared = connect_redis(settings)
    board = board_for(engine, shared)  # a running import's progress, where it is published
    now = utcnow()
    revision = runner.current_revision(engine)
    with reading(make_sessionmaker(engine)) as session:
        jobs = []
        for j in pipeline_repo.running_jobs(session):
            done, total = intake.progress_of(j, board)
            jobs.append(
                {
                    "id": j.id,
                    "kind": j.kind,
                    "started_at": j.created_at.isoformat(),
                    "rows_done": done,
                    "rows": total,
                }
            )
        background = []
        for job in job_service.active_jobs(session):
            phase, done, total = job_service.progress_of(job)
            background.append(
                {
                    "id": job.id,
                    "kind": job.kind,
                    "status": job.status,
                    "phase": phase,
                    "done": done,
                    "total": total,
                    "attempts": job.attempts,
                    "created_at": job.created_at.isoformat(),
                    "heartbeat_at": job.heartbeat_at.isoformat() if job.heartbeat_at else None,
                }
            )
        heads = audit_repo.heads(session)
        backtest = monitoring_repo.latest_backtest(session)
        queue = alerts_repo.queue_figures(session, now)
        events = processing.queue_figures(session)
    engine.dispose()
    if shared is not None:
        shared.close()
    return {
        "event_bus": _bus_figures(),
        "schema_revision": revision,
        "schema_head": runner.head_revision(),
        "running_imports": jobs,
        "jobs": background,
        "audit_chains": {str(chain): int(row.seq) for chain, row in heads.items()},
        "alert_queue": queue,
        "warning_backtest": None
        if backtest is None
        else {
            "id": backtest.id,
            "measured_at": backtest.measured_at.isoformat(),
            "age_days": round((now - backtest.measured_at) / dt.timedelta(days=1), 1),
            "open_share": backtest.open_share,
        },
        "event_queue": {
            "rows": events.rows,
            "lag_seconds": round(events.lag_seconds, 3),
            "dead_letters": events.dead_letters,
            "partitions": [
                {"partition": p.partition, "rows": p.rows, "lag_seconds": round(p.lag_seconds, 3)}
                for p in events.partitions
            ],
        },
    }


def _bus_figures() -> dict[str, Any] | None:
    """The NATS stream and consumer when a bus is configured (None when the database is)."""
    import time

    from riskdesk.config import get_settings
    from riskdesk.pipeline.bus import BusUnavailable, NatsBus

    bus = NatsBus.from_settings(get_settings())
    if bus is None:
        return None
    found: dict[str, Any] = {"stream": bus.stream, "reachable": False}
    bus.start()
    try:
        deadline = time.monotonic() + 3.0
        while not bus.ready and time.monotonic() < deadline:
            time.sleep(0.05)
        figures = bus.figures()
    except BusUnavailable:
        return found
    finally:
        bus.close()
    return found | {
        "reachable": True,
        "stream_messages": figures.stream_messages,
        "pending": figures.pending,
        "ack_pending": figures.ack_pending,
        "redelivered": figures.redelivered,
    }


def status(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False,
) -> None:
    """How the installation stands: schema, running imports, running and queued jobs, audit
    chains, the alert queue, the warning pack's newest backtest, the event queue's lag per
    partition and dead letters, and the NATS event bus when one is configured."""
    found = gather()
    if as_json:
        print(json.dumps(found, ensure_ascii=False, indent=2))
        return
    table = Table(title="riskdesk status", show_header=False)
    table.add_column("what")
    table.add_column("state")
    current, head = found["schema_revision"], found["schema_head"]
    table.add_row(
        "database schema",
        f"{current} (latest)"
        if current == head
        else f"{current}, latest is {head}: run `riskdesk db upgrade`",
    )
    jobs = found["running_imports"]
    table.add_row(
        "running imports",
        ", ".join(f"#{j['id']} {j['kind']} {j['rows_done']}/{j['rows']}" for j in jobs) or "none",
    )
    active = found["jobs"]
    table.add_row(
        "jobs",
        "; ".join(
            f"#{j['id']} {j['kind']} {j['status']}"
            + (f" ({j['phase']} {j['done']}/{j['total']})" if j["status"] == "running" else "")
            for j in active
        )
        or "none running or queued",
    )
    chains = found["audit_chains"]
    table.add_row(
        "audit log",
        f"{sum(chains.values())} entries in {sum(1 for n in chains.values() if n)} of "
        f"{len(chains)} chains",
    )
    q = found["alert_queue"]
    table.add_row(
        "alert queue",
        f"{q['open_alerts']} open alerts in {q['open_cases']} cases, {q['past_due']} past due",
    )
    b = found["warning_backtest"]
    table.add_row(
        "warning backtest",
        "none yet" if b is None else f"#{b['id']}, {b['age_days']} days old",
    )
    e = found["event_queue"]
    waiting = ", ".join(
        f"#{p['partition']}: {p['rows']} ({p['lag_seconds']:.1f} s)" for p in e["partitions"][:8]
    )
    more = len(e["partitions"]) - 8
    table.add_row(
        "event queue",
        (
            f"{e['rows']} waiting, oldest {e['lag_seconds']:.1f} s; by partition {waiting}"
            + (f" and {more} more" if more > 0 else "")
            if e["rows"]
            else "empty"
        )
        + f"; dead letters {e['dead_letters']}"
        + (" (`riskdesk queue dead-letters`)" if e["dead_letters"] else ""),
    )
    bus = found["event_bus"]
    if bus is not None:
        table.add_row(
            "event bus",
            f"NATS stream {bus['stream']}: "
            + (
                f"{bus['stream_messages']} messages, {bus['pending']} not yet delivered, "
                f"{bus['ack_pending']} held by workers, {bus['redelivered']} redelivered"
                if bus["reachable"]
                else "unreachable"
            ),
        )
    console.print(table)
