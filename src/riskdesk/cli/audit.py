"""riskdesk audit: verify the audit log's chain against its checkpoints; take a checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)
console = Console()

EXIT_TAMPERED = 1
EXIT_UNANCHORED = 3


@audit_app.command("verify")
def verify_command(
    expect: Annotated[
        list[str] | None,
        typer.Option(
            "--expect",
            metavar="SEQ:HASH",
            help="A head kept elsewhere (as printed by an earlier run): the chain must hold "
            "this entry with this hash. Repeatable.",
        ),
    ] = None,
    more: Annotated[
        list[Path] | None,
        typer.Option(
            "--checkpoints",
            metavar="FILE",
            help="Checkpoints to read besides the configured files (a copy from another "
            "host, lines saved from the log collector). Repeatable.",
        ),
    ] = None,
) -> None:
    """Check every entry's MAC and link, naming each entry edited, inserted, deleted or
    replayed; then hold the chain against the latest checkpoint and the --expect heads.

    Exit codes: 0 the chain is whole and holds its latest checkpoint; 1 tampering found (a
    finding is printed for each); 2 a bad option; 3 the chain is whole as far as it goes,
    but no checkpoint or --expect vouches for its end, so an emptied log or a cut-off tail
    cannot be ruled out.
    """
    from riskdesk.audit import checkpoints
    from riskdesk.audit.service import verify
    from riskdesk.config import get_settings
    from riskdesk.db import make_engine, make_sessionmaker

    try:
        expected = [checkpoints.parse_expected(text) for text in expect or []]
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--expect") from None
    settings = get_settings()
    found = checkpoints.read([*settings.audit_checkpoint_paths(), *(more or [])])
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            result = verify(session, found=found, expect=expected)
    finally:
        engine.dispose()
    for finding in result.findings:
        console.print(f"[red]{finding.kind}[/red]: {escape(finding.message)}")
    console.print(
        f"{result.entries} entries checked; head at entry {result.head_seq}, "
        f"hash {result.head_hash}"
    )
    for anchor in result.anchors:
        taken = f", taken {anchor.at:%Y-%m-%d %H:%M:%S} UTC" if anchor.at else ""
        state = "[green]holds[/green]" if anchor.held else "[red]does not hold[/red]"
        console.print(f"anchor: entry {anchor.seq}{taken} ({escape(anchor.source)}): {state}")
    if result.head_seq:
        console.print(
            f"keep this elsewhere, to pass later: --expect {result.head_seq}:{result.head_hash}"
        )
    if not result.ok:
        console.print(f"[red]the audit log was tampered with ({len(result.findings)} finding(s))")
        raise typer.Exit(EXIT_TAMPERED)
    if result.unanchored:
        console.print(
            "[yellow]no checkpoint vouches for the end of the log[/yellow] (looked in: "
            f"{escape(', '.join(result.looked_in) or 'nowhere')}). The chain is whole as far as "
            "it goes, but an emptied log or a cut-off tail cannot be ruled out: run `riskdesk "
            "audit checkpoint` (the server takes one every "
            f"{settings.audit_checkpoint_interval_seconds:g} s; 0 is never), or pass "
            "--expect SEQ:HASH."
        )
        raise typer.Exit(EXIT_UNANCHORED)
    console.print("[green]the chain is whole")


@audit_app.command("checkpoint")
def checkpoint_command() -> None:
    """Sign the audit log's head and append it to the checkpoint files (and the log).

    The entries since the previous checkpoint are checked first; if the log no longer holds
    what that one vouches for, nothing is signed and the command exits 1. Nothing is written
    when the log has not grown since. Run it from cron when the server does not take
    checkpoints itself (RISKDESK_AUDIT_CHECKPOINT_INTERVAL_SECONDS=0).
    """
    from riskdesk.audit.service import CheckpointRefused, take_checkpoint
    from riskdesk.config import get_settings
    from riskdesk.db import make_engine, make_sessionmaker

    settings = get_settings()
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            done = take_checkpoint(session, settings)
    except CheckpointRefused as exc:
        console.print(f"[red]no checkpoint taken[/red]: {escape(str(exc))}")
        raise typer.Exit(EXIT_TAMPERED) from None
    except OSError as exc:
        console.print(f"[red]no checkpoint taken[/red]: {escape(str(exc))}")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    if done.outcome == "empty":
        console.print("the audit log is empty: nothing to vouch for yet")
    elif done.outcome == "unchanged" and done.checkpoint is not None:
        console.print(
            f"unchanged since the checkpoint of {done.checkpoint.at:%Y-%m-%d %H:%M:%S} UTC "
            f"(entry {done.checkpoint.seq})"
        )
    elif done.checkpoint is not None:
        console.print(
            f"checkpoint at entry {done.checkpoint.seq} (hash {done.checkpoint.hash}) written to "
            f"{escape(', '.join(done.written_to))}"
        )
