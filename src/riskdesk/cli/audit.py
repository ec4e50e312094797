"""riskdesk audit: verify the audit log's chains against their checkpoints; take checkpoints."""

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
            metavar="CHAIN/SEQ:HASH",
            help="A head kept elsewhere (as printed by an earlier run): the chain must hold "
            "this entry with this hash (SEQ:HASH: chain 0). Repeatable.",
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
    """Check every entry's MAC and link in every chain, naming each entry edited, inserted,
    deleted or replayed; then hold each chain against its latest checkpoint and the --expect
    heads.

    Exit codes: 0 every chain is whole and holds its latest checkpoint; 1 tampering found (a
    finding is printed for each); 2 a bad option; 3 the chains are whole as far as they go,
    but for some chain with entries no checkpoint or --expect vouches for its end, so an
    emptied chain or a cut-off tail cannot be ruled out.
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
    used = result.used
    console.print(f"{result.entries} entries checked in {len(used)} chain(s) that have any")
    for chain in used:
        console.print(
            f"chain {chain.chain}: {chain.entries} entries, head at entry {chain.head_seq}, "
            f"hash {chain.head_hash}"
        )
    for anchor in result.anchors:
        taken = f", taken {anchor.at:%Y-%m-%d %H:%M:%S} UTC" if anchor.at else ""
        state = "[green]holds[/green]" if anchor.held else "[red]does not hold[/red]"
        console.print(
            f"anchor: entry {anchor.seq} of chain {anchor.chain}{taken} "
            f"({escape(anchor.source)}): {state}"
        )
    heads = [f"--expect {c.chain}/{c.head_seq}:{c.head_hash}" for c in used if c.head_seq]
    if heads:
        console.print("keep this elsewhere, to pass later: " + " ".join(heads))
    if not result.ok:
        console.print(f"[red]the audit log was tampered with ({len(result.findings)} finding(s))")
        raise typer.Exit(EXIT_TAMPERED)
    if result.unanchored:
        bare = ", ".join(str(c.chain) for c in result.chains if c.unanchored)
        console.print(
            "[yellow]no checkpoint vouches for the end of the log[/yellow] in chain(s) "
            f"{bare} (looked in: {escape(', '.join(result.looked_in) or 'nowhere')}). The "
            "chains are whole as far as they go, but an emptied chain or a cut-off tail cannot "
            "be ruled out: run `riskdesk audit checkpoint` (the server takes one every "
            f"{settings.audit_checkpoint_interval_seconds:g} s; 0 is never), or pass "
            "--expect CHAIN/SEQ:HASH."
        )
        raise typer.Exit(EXIT_UNANCHORED)
    console.print("[green]every chain is whole")


@audit_app.command("checkpoint")
def checkpoint_command() -> None:
    """Sign the audit log's chain heads and append them to the checkpoint files (and the log).

    Each chain's entries since its previous checkpoint are checked first; a chain that no
    longer holds what that one vouches for gets none, and the command exits 1 (after writing
    the other chains' checkpoints). Nothing is written for a chain that has not grown since.
    Run it from cron when the server does not take checkpoints itself
    (RISKDESK_AUDIT_CHECKPOINT_INTERVAL_SECONDS=0).
    """
    from riskdesk.audit.service import CheckpointRefused, CheckpointResult, take_checkpoint
    from riskdesk.config import get_settings
    from riskdesk.db import make_engine, make_sessionmaker

    settings = get_settings()
    engine = make_engine(settings.database_url)
    refused: CheckpointRefused | None = None
    try:
        with make_sessionmaker(engine)() as session:
            done: CheckpointResult | None = take_checkpoint(session, settings)
    except CheckpointRefused as exc:
        refused, done = exc, exc.result
    except OSError as exc:
        console.print(f"[red]no checkpoint taken[/red]: {escape(str(exc))}")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    if done is not None and done.outcome == "empty" and refused is None:
        console.print("the audit log is empty: nothing to vouch for yet")
    elif done is not None and done.outcome == "unchanged":
        for taken in done.checkpoints:
            console.print(
                f"unchanged since the checkpoint of {taken.at:%Y-%m-%d %H:%M:%S} UTC "
                f"(entry {taken.seq} of chain {taken.number})"
            )
    elif done is not None:
        for taken in done.checkpoints:
            console.print(
                f"checkpoint at entry {taken.seq} of chain {taken.number} (hash {taken.hash})"
            )
        if done.written_to:
            console.print(f"written to {escape(', '.join(done.written_to))}")
    if refused is not None:
        console.print(f"[red]no checkpoint taken[/red] for {escape(str(refused))}")
        raise typer.Exit(EXIT_TAMPERED)
