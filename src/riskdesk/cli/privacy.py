"""riskdesk privacy: the retention job."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

privacy_app = typer.Typer(help="Retention of personal data.", no_args_is_help=True)
console = Console()


@privacy_app.command("retention")
def retention(
    apply: Annotated[bool, typer.Option(help="do it; without this, only report")] = False,
) -> None:
    """Erase individuals inactive past the retention period (unless under legal hold) and
    delete old notifications, deliveries and sessions (RISKDESK_RETENTION sets the periods)."""
    from riskdesk.config import get_settings
    from riskdesk.db import make_engine, make_sessionmaker, reading, unit_of_work
    from riskdesk.privacy.service import run_retention

    factory = make_sessionmaker(make_engine(get_settings().database_url))
    # A dry run only reads: no write lock, so the service's writers carry on.
    with unit_of_work(factory) if apply else reading(factory) as session:
        report = run_retention(session, dry_run=not apply)
    verb = "erased" if apply else "would erase"
    console.print(
        f"{verb} the personal data of {len(report.erased_customers)} inactive individual(s); "
        f"{report.held_back} kept under legal hold"
    )
    for kind, count in report.purged.items():
        console.print(f"{kind}: {count} {'deleted' if apply else 'past retention'}")
    if not apply:
        console.print("dry run: nothing changed (add --apply)")
