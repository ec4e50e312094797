"""riskdesk portfolio: the dashboard's stored month ends."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console

from riskdesk.cli import parse_date

portfolio_app = typer.Typer(help="The portfolio dashboard's stored figures.", no_args_is_help=True)
console = Console()


@portfolio_app.command("month-ends")
def month_ends_command(
    day: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="keep the window of this day instead, e.g. 2026-12-01 (the server's next pass "
            "puts today's back)",
        ),
    ] = None,
) -> None:
    """Store the month ends the dashboard's trend and last month's committee pack read (the
    last 14), drop older ones, and store again the customers a late event made stale. What
    the server does every RISKDESK_MONTH_END_INTERVAL_SECONDS; run it from cron when that is 0."""
    from riskdesk.config import get_settings
    from riskdesk.db import make_engine, make_sessionmaker
    from riskdesk.portfolio import month_ends

    as_of = parse_date("--as-of", day) if day else None
    settings = get_settings()
    factory = make_sessionmaker(make_engine(settings.database_url))
    _report(month_ends.refresh(factory, day=as_of, wait=True))


@portfolio_app.command("rebuild")
def rebuild_command() -> None:
    """Derive the kept open-invoice balances afresh from the invoices and payments, and store
    every month end again. Needed only after invoices or payments were changed by hand (an
    UPDATE or DELETE in SQL), which the triggers that keep them do not follow; the dashboard
    is right again once it ends. On PostgreSQL, event writers wait while the balances are
    derived (a few seconds per million invoices)."""
    from riskdesk.config import get_settings
    from riskdesk.db import make_engine, make_sessionmaker
    from riskdesk.portfolio import month_ends

    settings = get_settings()
    factory = make_sessionmaker(make_engine(settings.database_url))
    result = month_ends.rebuild(factory, wait=True)
    if result.balances is not None:
        before, after = result.balances
        console.print(f"open invoices kept: {before} before, {after} derived afresh")
    _report(result)
    if result.skipped or result.incomplete:
        raise typer.Exit(1)


def _report(result: Any) -> None:
    if result.skipped:
        console.print(
            "[yellow]busy: event writers held the invoices and payments for 2 s: nothing "
            "was changed; try again shortly[/yellow]"
        )
        return
    stored = ", ".join(d.isoformat() for d in result.stored) or "none"
    dropped = ", ".join(d.isoformat() for d in result.dropped) or "none"
    console.print(
        f"month ends stored: {stored}; dropped: {dropped}; "
        f"stale customers stored again: {result.restored}"
    )
    if result.incomplete:
        console.print(
            "[yellow]event writers held the invoices and payments for 2 s: the other month "
            "ends are stored by the next pass (until then the trend is derived)[/yellow]"
        )
