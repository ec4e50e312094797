"""riskdesk worker, and the event queue's dead letters."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console()
queue_app = typer.Typer(help="The event queue: dead letters.", no_args_is_help=True)


def worker(
    threads: Annotated[int, typer.Option(min=1, max=16, help="worker threads in this process")] = 1,
    jobs: Annotated[
        int,
        typer.Option(
            min=0, max=16, help="threads running background jobs (scoring runs, trainings...)"
        ),
    ] = 1,
    once: Annotated[
        bool, typer.Option("--once", help="process what is queued now, then stop")
    ] = False,
) -> None:
    """Process committed events (indicators, rules, alerts, playbooks) until stopped (Ctrl-C
    or SIGTERM). Run as many as you like beside the API nodes: on PostgreSQL each partition of
    the queue has one owner at a time; set RISKDESK_EVENT_WORKERS=0 on the API nodes then.
    With RISKDESK_EVENT_BUS=nats://... the work comes from NATS JetStream (--once: from the
    queue table). It also runs queued background jobs (``--jobs`` threads;
    RISKDESK_JOB_WORKERS=0 on the API nodes to leave them all to workers) and reaps those whose
    process died."""
    from riskdesk.audit import trail
    from riskdesk.config import get_settings
    from riskdesk.db import make_engine, make_sessionmaker
    from riskdesk.jobs import kinds
    from riskdesk.jobs.tasks import JobReaper, JobWorker
    from riskdesk.main import db_limits
    from riskdesk.pipeline.bus import NatsBus
    from riskdesk.pipeline.tasks import BusWorker, EventWorker

    settings = get_settings()
    trail.set_process_default("worker")
    engine = make_engine(settings.database_url, limits=db_limits(settings))
    factory = make_sessionmaker(engine)
    kinds.register_all()
    job_workers = [JobWorker(factory, settings, number=n) for n in range(jobs)]
    if once:
        total = 0
        single = EventWorker(factory, settings)
        while True:
            done = single.run_once()
            total += done
            if not done:
                break
        ran = 0
        while job_workers and job_workers[0].run_once() is not None:
            ran += 1
        console.print(f"{total} queued row(s) processed, {ran} job(s) run")
        engine.dispose()
        return
    # With NATS the work comes from the bus (--once above reads the table: the messages of
    # the rows it processed are acked by whichever worker holds them once it sees them gone).
    bus = NatsBus.from_settings(settings)
    workers: list[EventWorker | BusWorker] = []
    if bus is not None:
        bus.start()
        workers.extend(BusWorker(factory, settings, bus, number=n) for n in range(threads))
    else:
        workers.extend(EventWorker(factory, settings, number=n) for n in range(threads))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    reaper = JobReaper(factory, settings) if settings.job_reap_interval_seconds > 0 else None
    if reaper is not None:
        reaper.start()
    for jw in job_workers:
        jw.start()
    for w in workers:
        w.start()
    fed = f"NATS stream {bus.stream}" if bus is not None else "the queue table"
    console.print(
        f"riskdesk worker: {threads} event thread(s) on {fed} and {jobs} job thread(s); "
        "Ctrl-C to stop"
    )
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    for w in workers:
        w.stop()
    if bus is not None:
        bus.close()
    for jw in job_workers:
        jw.stop()
    if reaper is not None:
        reaper.stop()
    console.print(
        f"stopped; {sum(w.processed for w in workers)} queued row(s) processed, "
        f"{sum(jw.ran for jw in job_workers)} job(s) run"
    )
    engine.dispose()


def replay(
    wait: Annotated[
        float,
        typer.Option(
            min=0,
            help="seconds to wait for the rebuild, doing it here when no worker is running; "
            "0: leave it to the workers",
        ),
    ] = 3600.0,
) -> None:
    """Rebuild every customer's indicators and alerts from the event record, through the same
    path as new events: every customer is queued, and the workers (or this command) process
    them. After a fix to an indicator or a restore of the database, say."""
    from riskdesk.config import get_settings
    from riskdesk.db import make_engine, make_sessionmaker, unit_of_work
    from riskdesk.pipeline import processing

    settings = get_settings()
    factory = make_sessionmaker(make_engine(settings.database_url))
    with unit_of_work(factory) as session:
        customers = processing.queue_everyone(session, partitions=settings.event_partitions)
        queued = processing.queued_ids(session)
    console.print(f"{customers} customer(s) queued for a rebuild")
    if wait <= 0:
        return
    if processing.wait_for(factory, queued, wait, settings):
        console.print("rebuilt: indicators and alerts are current")
    else:
        console.print("not finished yet; the workers go on (see `riskdesk status`)")
        raise typer.Exit(3)


@queue_app.command("dead-letters")
def dead_letters(
    retry: Annotated[
        bool, typer.Option("--retry", help="queue them again (after fixing the cause)")
    ] = False,
    letter: Annotated[
        list[int] | None, typer.Option("--id", help="only these dead letters (repeatable)")
    ] = None,
) -> None:
    """List the work that failed too often, or queue it again."""
    from riskdesk.config import get_settings
    from riskdesk.db import make_engine, make_sessionmaker, reading, unit_of_work
    from riskdesk.pipeline import processing
    from riskdesk.pipeline import repository as repo

    settings = get_settings()
    factory = make_sessionmaker(make_engine(settings.database_url))
    if retry:
        with unit_of_work(factory) as session:
            n = processing.retry_dead_letters(
                session, letter or None, partitions=settings.event_partitions
            )
        console.print(f"{n} dead letter(s) queued again")
        return
    with reading(factory) as session:
        letters = repo.dead_letters(session)
        if letter:
            letters = [d for d in letters if d.id in set(letter)]
        table = Table(title=f"{len(letters)} dead letter(s)")
        for column in ("id", "customer", "kind", "partition", "attempts", "failed at", "error"):
            table.add_column(column)
        for d in letters:
            table.add_row(
                str(d.id),
                str(d.customer_id),
                d.kind,
                str(d.partition_no),
                str(d.attempts),
                d.failed_at.isoformat(timespec="seconds"),
                d.error,
            )
    console.print(table)
