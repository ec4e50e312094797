"""riskdesk audit: verify the audit log's chain."""

from __future__ import annotations

import typer
from rich.console import Console

audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)
console = Console()


@audit_app.command("verify")
def verify_command() -> None:
    """Check every entry's MAC and link; name each entry edited, inserted or deleted.

    Exits 1 when the chain is broken. Keep the printed head hash somewhere else (a ticket, a
    notebook): a later run that shows a different hash for the same entry number means the
    log was rewritten by someone holding the audit key.
    """
    from riskdesk.audit.service import verify
    from riskdesk.config import get_settings
    from riskdesk.db import make_engine, make_sessionmaker

    with make_sessionmaker(make_engine(get_settings().database_url))() as session:
        result = verify(session)
    for finding in result.findings:
        console.print(f"[red]{finding.kind}[/red]: {finding.message}")
    console.print(
        f"{result.entries} entries checked; head at entry {result.head_seq}, "
        f"hash {result.head_hash}"
    )
    if not result.ok:
        console.print(f"[red]the audit log was tampered with ({len(result.findings)} finding(s))")
        raise typer.Exit(1)
    console.print("[green]the chain is whole")
