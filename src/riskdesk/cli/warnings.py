"""riskdesk warnings: replay the whole warning pack over the stored history."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.table import Table

from riskdesk.cli import fail, parse_date
from riskdesk.cli.jobs import QUEUE_HELP, USER_HELP

warnings_app = typer.Typer(
    help="Early warnings: replays of the warning pack.", no_args_is_help=True
)
console = Console()


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}" if value >= 0.995 else f"{value:.2f}"


@warnings_app.command("replay")
def replay_command(
    start: Annotated[str, typer.Option("--from", help="first business date")],
    end: Annotated[
        str | None, typer.Option("--to", help="last business date (default today)")
    ] = None,
    every: Annotated[Literal["week", "month"], typer.Option(help="week or month")] = "month",
    labels: Annotated[
        str | None,
        typer.Option(
            help="score against labels too: 'demo' (the demo's behaviours) or a CSV FILE with "
            "customer (id or source:external_id), behaviour, onset_date"
        ),
    ] = None,
    horizon: Annotated[int, typer.Option(min=7, max=730, help="days an outcome may follow")] = 180,
    pack: Annotated[
        Literal["active", "shipped"],
        typer.Option(help="the active rules, or the default pack as shipped"),
    ] = "active",
    out: Annotated[Path | None, typer.Option(help="write the whole report as JSON here")] = None,
    queue: Annotated[
        bool,
        typer.Option("--queue", help=f"the active pack, without --labels or --out: {QUEUE_HELP}"),
    ] = False,
    username: Annotated[str | None, typer.Option("--user", help=USER_HELP)] = None,
) -> None:
    """Run every active rule and detector as of each date from --from to --to, into a result
    of its own (the live queue is untouched), and judge each warning type. A replay of the
    active pack keeps each type's precision, which grades the severity of new alerts."""
    from riskdesk.config import get_settings
    from riskdesk.db import make_engine, make_sessionmaker, reading, unit_of_work
    from riskdesk.kit.errors import RiskdeskError
    from riskdesk.kit.timeutil import today
    from riskdesk.monitoring import replay
    from riskdesk.monitoring import repository as monitoring_repo

    first = parse_date("--from", start)
    last = parse_date("--to", end) if end else today()
    if queue:
        _queue_replay(first, last, every, horizon, labels=labels, pack=pack, out=out, user=username)
        return
    factory = make_sessionmaker(make_engine(get_settings().database_url))
    with reading(factory) as session:
        try:
            label_frame = None
            if labels == "demo":
                label_frame = monitoring_repo.demo_labels(session)
            elif labels:
                path = Path(labels)
                if not path.is_file():
                    fail("--labels", f"no file {labels}")
                label_frame = replay.read_labels(path, session)
            report = replay.run(
                session,
                start=first,
                end=last,
                every=every,
                labels=label_frame,
                horizon_days=horizon,
                rules=replay.shipped_pack() if pack == "shipped" else None,
            )
        except RiskdeskError as exc:
            fail(f"--{exc.field or 'from'}", str(exc))
    _print(report)
    if pack == "active":
        # What the active pack measured grades new alerts' severity from now on.
        with unit_of_work(factory) as session:
            kept = replay.record(session, report, created_by_id=None)
        console.print(f"precision per warning type kept as backtest {kept.id}")
    if out is not None:
        out.write_text(
            json.dumps(report, ensure_ascii=False, indent=2, default=str), encoding="utf-8"
        )
        console.print(f"report written to {out}")


def _queue_replay(
    first: dt.date,
    last: dt.date,
    every: str,
    horizon: int,
    *,
    labels: str | None,
    pack: str,
    out: Path | None,
    user: str | None,
) -> None:
    """Queue the replay as a job (what POST /warning-replays does): the active pack, its
    precision per type kept as a backtest; labels, the shipped pack and --out stay here."""
    from pydantic import ValidationError

    from riskdesk.cli.jobs import queue as queue_job
    from riskdesk.monitoring.schemas import ReplayIn
    from riskdesk.security.permissions import Permission

    for option, given in (("--labels", labels), ("--pack", pack == "shipped"), ("--out", out)):
        if given:
            fail(option, "cannot be queued: run the replay without --queue")
    if first > last:
        fail("--from", "lies after --to")
    try:
        body = ReplayIn.model_validate(
            {"from": first, "to": last, "every": every, "horizon_days": horizon}
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        fail(
            "--horizon" if error["loc"][0] == "horizon_days" else f"--{error['loc'][0]}",
            error["msg"],
        )
    queue_job(
        kind="warning_replay",
        permission=Permission.RULES_MANAGE,
        parameters=body.model_dump(mode="json", by_alias=True),
        username=user,
    )


def _print(report: dict[str, Any]) -> None:
    table = Table(title=f"warning replay {report['from']} – {report['to']} ({report['every']}ly)")
    for column in ("type", "alerts", "customers", "precision", "recall", "median lead (days)"):
        table.add_column(column, justify="left" if column == "type" else "right")
    for code, entry in report["types"].items():
        lead = entry.get("median_lead_days")
        table.add_row(
            code,
            str(entry["alerts"]),
            str(entry["customers_flagged"]),
            _pct(entry.get("precision")),
            _pct(entry.get("recall")),
            "–" if lead is None else f"{lead:.0f}",
        )
    console.print(table)
    end = report["open_at_end"]
    console.print(
        f"open at {report['to']}: {end['customers']} of {end['live_customers']} customers "
        f"({_pct(end['share'])}), {end['alerts']} alerts"
    )
    labelled = report.get("labels")
    if not labelled:
        return
    table = Table(title="against labels")
    for column in ("behaviour", "customers", "caught", "recall", "flagged", "precision", "lead"):
        table.add_column(column, justify="left" if column == "behaviour" else "right")
    for name, entry in labelled["behaviours"].items():
        lead = entry.get("median_lead_days")
        table.add_row(
            name,
            str(entry["customers"]),
            str(entry["caught"]),
            _pct(entry["recall"]),
            str(entry["flagged_customers"]),
            _pct(entry["precision"]),
            "–" if lead is None else f"{lead:.0f}",
        )
    console.print(table)
    table = Table(title="decoys flagged for what they resemble")
    for column in ("decoy", "resembles", "customers", "flagged", "share"):
        table.add_column(column, justify="left" if column in ("decoy", "resembles") else "right")
    for name, entry in labelled["decoys"].items():
        table.add_row(
            name,
            entry["resembles"],
            str(entry["customers"]),
            str(entry["flagged"]),
            _pct(entry["flagged_share"]),
        )
    console.print(table)
