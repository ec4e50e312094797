"""riskdesk model: statistical models trained on the company's own labelled history."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

model_app = typer.Typer(
    help="Statistical models (WoE scorecard, LightGBM) from labelled history.",
    no_args_is_help=True,
)
console = Console()
err = Console(stderr=True)

FORMATS = ("table", "json")


def _fail(option: str, reason: str) -> NoReturn:
    # Plain echo, not Rich: file names and column names may hold [brackets] Rich would eat.
    typer.echo(f"error: {option}: {reason}", err=True)
    raise typer.Exit(2)


def _parse_monotone(values: list[str]) -> dict[str, int]:
    constraints: dict[str, int] = {}
    for value in values:
        name, sep, direction = value.rpartition("=")
        if not sep or not name or direction.strip() not in ("-1", "0", "1", "+1"):
            _fail("--monotone", f"expected FEATURE=1 or FEATURE=-1, got {value!r}")
        constraints[name.strip()] = int(direction)
    return constraints


@model_app.command("evaluate")
def evaluate(
    data: Annotated[Path, typer.Option("--data", help="labelled CSV, one row per customer")],
    target: Annotated[str, typer.Option("--target", help="column holding the outcome")],
    bad: Annotated[str, typer.Option("--bad", help="the outcome value that means bad")],
    folds: Annotated[int, typer.Option("--folds", help="cross-validation folds")] = 5,
    seed: Annotated[int, typer.Option("--seed", help="seed for folds and models")] = 0,
    monotone: Annotated[
        list[str] | None,
        typer.Option(
            "--monotone",
            help="FEATURE=1 (more of it, more risk) or FEATURE=-1 (less risk); repeat",
        ),
    ] = None,
    output: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Cross-validate each model family on a labelled CSV: AUC, KS, Gini, Brier, fit time."""
    # Imported here: optbinning and LightGBM take seconds to load, and every other command
    # of the CLI would pay for them.
    from riskdesk.scoring import modelling

    if output not in FORMATS:
        _fail("--format", f"expected one of {', '.join(FORMATS)}, got {output!r}")
    constraints = _parse_monotone(monotone or [])
    try:
        X, y = modelling.read_labelled_csv(data, target, bad)
        modelling.stratified_folds(y, folds=folds, seed=seed)  # fails before the bar starts
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            disable=output == "json",
            transient=True,
        ) as bar:
            task = bar.add_task("cross-validating", total=folds * len(modelling.FAMILIES))
            results = modelling.evaluate(
                X,
                y,
                folds=folds,
                seed=seed,
                monotone=constraints,
                progress=lambda family, fold: bar.advance(task),
            )
    except modelling.ModellingError as exc:
        # Problems with the columns themselves (all empty, say) are problems with the file.
        option = exc.field if exc.field in ("target", "bad", "folds", "monotone") else "data"
        _fail(f"--{option}", exc.reason)
    summary: dict[str, Any] = {
        "data": str(data),
        "rows": len(y),
        "bad_rate": float(y.mean()),
        "folds": folds,
        "seed": seed,
        "results": [r.as_dict() for r in results],
    }
    if output == "json":
        print(json.dumps(summary))
        return
    table = Table(
        "family",
        "AUC",
        "KS",
        "Gini",
        "Brier",
        "fit s",
        title=f"{data.name}: {len(y)} rows, bad rate {y.mean():.1%}",
        caption=f"means over {folds}-fold stratified cross-validation, seed {seed}",
    )
    for r in results:
        table.add_row(
            r.family,
            f"{r.auc:.4f}",
            f"{r.ks:.4f}",
            f"{r.gini:.4f}",
            f"{r.brier:.4f}",
            f"{r.fit_seconds:.2f}",
        )
    console.print(table)
