"""riskdesk reports: queue the report e-mails due (the committee pack, the weekly summary)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.console import Console

from riskdesk.cli import fail

reports_app = typer.Typer(help="Report e-mails to their subscribers.", no_args_is_help=True)
console = Console()


def _moment(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        fail("--now", f"expected a date or time like 2026-12-01 or 2026-12-01T08:00, got {text!r}")
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@reports_app.command("send-due")
def send_due(
    now: Annotated[
        str | None,
        typer.Option(help="as if it were this day or time (UTC), e.g. 2026-12-01"),
    ] = None,
) -> None:
    """Queue the report e-mails due now (last month's pack, last week's summary, to each
    subscription not sent them yet); once per subscription and period, however often it runs."""
    from riskdesk.config import get_settings
    from riskdesk.db import make_engine, make_sessionmaker
    from riskdesk.reports.tasks import send_due as queue_due

    settings = get_settings()
    factory = make_sessionmaker(make_engine(settings.database_url))
    result = queue_due(factory, settings, now=_moment(now) if now else None)
    due = ", ".join(f"{k} {v}" for k, v in result.periods.items()) or "nothing due today"
    console.print(
        f"{due}: {result.queued} e-mail(s) queued, {result.already_sent} already sent, "
        f"{result.not_permitted} not permitted"
    )
