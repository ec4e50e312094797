"""riskdesk lake: the Parquet copy of the event record for Spark and Polars."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

lake_app = typer.Typer(
    help="The lake: the event record, customers and profiles as Parquet.", no_args_is_help=True
)
console = Console()


@lake_app.command("export")
def export(
    to: Annotated[
        str, typer.Option("--to", help="a directory, file://, memory:// or s3://... (with s3fs)")
    ],
) -> None:
    """Write what is new since the last export (everything the first time), partitioned by
    kind and month; no personal data. Recorded in the audit log."""
    from riskdesk.audit import trail
    from riskdesk.cli import fail
    from riskdesk.config import get_settings
    from riskdesk.db import make_engine, make_sessionmaker, reading, unit_of_work
    from riskdesk.kit.errors import ValidationFailed
    from riskdesk.lake import service

    factory = make_sessionmaker(make_engine(get_settings().database_url))
    try:
        # One read-only snapshot: what is exported is one consistent state of the record.
        with reading(factory) as session:
            report = service.export(session, to)
    except ValidationFailed as exc:
        fail("--to", str(exc))
    except (OSError, ValueError, ImportError) as exc:  # a bad URI, a missing fsspec backend
        fail("--to", str(exc))
    if not report.wrote:
        console.print(f"nothing new since export {report.seq - 1}: the lake is unchanged")
        return
    with unit_of_work(factory) as session:
        trail.viewed(
            session,
            object_type="lake",
            object_id=report.seq,
            fields=[f"to={_shown(to)}", *(f"{k}={n}" for k, n in sorted(report.rows.items()))],
            action="export",
        )
    for kind, rows in report.rows.items():
        if rows:
            console.print(f"{kind}: {rows} rows")
    console.print(f"export {report.seq}: {report.files} file(s) → {to}")


def _shown(uri: str) -> str:
    """The target without credentials a URI may carry (user:password@)."""
    if "://" in uri and "@" in uri.split("://", 1)[1].split("/", 1)[0]:
        scheme, rest = uri.split("://", 1)
        return f"{scheme}://{rest.split('@', 1)[1]}"
    return uri
