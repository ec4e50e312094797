"""riskdesk bi: the read-only views for BI tools, a role to read them, a Parquet copy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import Engine

from riskdesk.cli import fail

bi_app = typer.Typer(
    help="Views for BI tools (bi_customers, bi_exposure, ...): list, grant, Parquet copy.",
    no_args_is_help=True,
)
console = Console()


def _engine() -> Engine:
    from riskdesk.config import get_settings
    from riskdesk.db import make_engine

    return make_engine(get_settings().database_url)


@bi_app.command("views")
def views() -> None:
    """The views and their columns (docs/bi.md says what each one means)."""
    from riskdesk.bi.schemas import VIEWS

    for name, columns in VIEWS.items():
        console.print(f"[bold]{name}[/bold]: {', '.join(columns)}")


@bi_app.command("grant")
def grant(
    role: Annotated[str, typer.Argument(help="the PostgreSQL role a BI tool signs in as")],
) -> None:
    """Let a PostgreSQL role read the bi_* views and nothing else of Riskdesk's schema
    (created without login when missing: give it LOGIN and a password yourself)."""
    from riskdesk.bi import repository
    from riskdesk.kit.errors import ValidationFailed

    try:
        with _engine().begin() as connection:
            statements = repository.grant_reader(connection, role)
    except ValidationFailed as exc:
        fail("ROLE" if exc.field == "role" else "database", str(exc))
    for statement in statements:
        console.print(statement)


@bi_app.command("export")
def export(
    to: Annotated[Path, typer.Option("--to", help="directory for <view>/part-N.parquet")],
    view: Annotated[
        list[str] | None, typer.Option("--view", help="a view to copy (default: all)")
    ] = None,
) -> None:
    """Copy the bi_* views as Parquet datasets for data teams (no personal data in them)."""
    from riskdesk.bi import service
    from riskdesk.kit.errors import ValidationFailed

    try:
        done = service.export_parquet(_engine(), to, view)
    except ValidationFailed as exc:
        fail("--view", str(exc))
    for item in done:
        console.print(f"{item.view}: {item.rows} rows in {item.parts} part(s) → {item.directory}")
