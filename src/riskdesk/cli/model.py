"""riskdesk model: statistical models trained on the company's own labelled history."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from riskdesk.cli import fail, parse_date
from riskdesk.cli.jobs import QUEUE_HELP

model_app = typer.Typer(
    help="Statistical models (WoE scorecard, LightGBM) from labelled history.",
    no_args_is_help=True,
)
console = Console()
err = Console(stderr=True)

FORMATS = ("table", "json")


def _parse_monotone(values: list[str]) -> dict[str, int]:
    constraints: dict[str, int] = {}
    for value in values:
        name, sep, direction = value.rpartition("=")
        if not sep or not name or direction.strip() not in ("-1", "0", "1", "+1"):
            fail("--monotone", f"expected FEATURE=1 or FEATURE=-1, got {value!r}")
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
        fail("--format", f"expected one of {', '.join(FORMATS)}, got {output!r}")
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
        fail(f"--{option}", exc.reason)
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


@model_app.command("train")
def train(
    name: Annotated[str, typer.Option("--name", help="model name; each training adds a version")],
    family: Annotated[str, typer.Option("--family", help="scorecard or lightgbm")],
    from_history: Annotated[
        bool, typer.Option("--from-history", help="train on this Riskdesk's own history")
    ] = False,
    observation: Annotated[
        str | None,
        typer.Option(help="--from-history: features as of this date (default: a horizon ago)"),
    ] = None,
    horizon_days: Annotated[
        int, typer.Option(help="--from-history: outcome window after the observation date")
    ] = 365,
    data: Annotated[Path | None, typer.Option("--data", help="or: a labelled CSV")] = None,
    target: Annotated[str | None, typer.Option("--target", help="the CSV's outcome column")] = None,
    bad: Annotated[
        str | None, typer.Option("--bad", help="the outcome value that means bad")
    ] = None,
    folds: Annotated[int, typer.Option("--folds", help="cross-validation folds")] = 5,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    monotone: Annotated[
        list[str] | None, typer.Option("--monotone", help="FEATURE=1 or FEATURE=-1; repeat")
    ] = None,
    username: Annotated[
        str, typer.Option("--user", help="who trains (needs scoring:manage)")
    ] = "analyst",
    queue: Annotated[
        bool, typer.Option("--queue", help=f"--from-history only: {QUEUE_HELP}")
    ] = False,
) -> None:
    """Train a model version (cross-validated metrics, features, points table) into the
    registry as a challenger."""
    if queue:
        _queue_training(name, family, from_history, observation, horizon_days, folds, seed,
                        monotone or [], username)  # fmt: skip
        return

    from riskdesk.kit.errors import RiskdeskError
    from riskdesk.scoring import modelling

    if family not in modelling.FAMILIES:
        fail("--family", f"expected one of {', '.join(modelling.FAMILIES)}, got {family!r}")
    if from_history == (data is not None):
        fail("--data", "give either --from-history or --data with --target and --bad")
    constraints = _parse_monotone(monotone or [])
    try:
        if from_history:
            day = dt.date.fromisoformat(observation) if observation else None
            summary = train_from_history(name, family, username, day, horizon_days,
                                         folds=folds, seed=seed, monotone=constraints)  # fmt: skip
        else:
            assert data is not None
            if target is None or bad is None:
                fail("--target", "--data needs --target and --bad")
            factory, principal = _trainer(username)
            X, y = modelling.read_labelled_csv(data, target, bad)
            extra = {"data_source": f"file {data.name}", "target": f"{target} = {bad}"}
            summary = _fit_and_store(factory, principal, name, family, X, y, extra,
                                     folds=folds, seed=seed, monotone=constraints)  # fmt: skip
    except modelling.ModellingError as exc:
        option = exc.field if exc.field in ("target", "bad", "folds", "monotone") else "data"
        fail(f"--{option}", exc.reason)
    except ValueError as exc:
        fail("--observation", str(exc))
    except RiskdeskError as exc:
        fail(f"--{exc.field or 'name'}", exc.message)
    console.print_json(json.dumps(summary))


def train_from_history(
    name: str,
    family: str,
    username: str,
    observation: dt.date | None,
    horizon_days: int,
    *,
    folds: int = 5,
    seed: int = 0,
    monotone: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Train a model version on this Riskdesk's own history and store it as a challenger;
    its summary. Raises ModellingError (or ValueError for a date) on data it cannot fit."""
    from riskdesk.db import reading
    from riskdesk.scoring import registry

    factory, principal = _trainer(username)
    day = observation or dt.date.today() - dt.timedelta(days=horizon_days)
    # Read, then fit with no transaction open (other writers carry on), then store in a
    # short one: see db.snapshot.
    with reading(factory) as session:
        X, y, _ = registry.history_dataset(session, day, horizon_days)
    extra = {
        "data_source": f"history as of {day}",
        "target": f"90+ days past due within {horizon_days} days",
        "observation": day,
        "horizon_days": horizon_days,
    }
    return _fit_and_store(factory, principal, name, family, X, y, extra,
                          folds=folds, seed=seed, monotone=monotone or {})  # fmt: skip


def _trainer(username: str) -> tuple[Any, Any]:
    """The database's session factory and who trains (unknown users fail before any read)."""
    from riskdesk.config import get_settings
    from riskdesk.db import make_engine, make_sessionmaker, reading
    from riskdesk.security import service as security_service

    factory = make_sessionmaker(make_engine(get_settings().database_url))
    with reading(factory) as session:
        user = security_service.get_user_by_username_or_raise(session, username)
        return factory, security_service.system_principal(session, user)


def _fit_and_store(
    factory: Any,
    principal: Any,
    name: str,
    family: str,
    X: Any,
    y: Any,
    extra: dict[str, Any],
    *,
    folds: int,
    seed: int,
    monotone: dict[str, int],
) -> dict[str, Any]:
    """Fit with no transaction open, then store the version in a short one; its summary."""
    from riskdesk.db import unit_of_work
    from riskdesk.scoring import registry

    trained = registry.fit_model(
        principal, family=family, X=X, y=y, monotone=monotone, folds=folds, seed=seed
    )
    with unit_of_work(factory) as session:
        version = registry.store_model(session, principal, trained, name=name, **extra)
        return {
            "id": version.id,
            "name": version.name,
            "version": version.version,
            "status": version.status,
            "rows": version.rows,
            "bad_rate": version.bad_rate,
            "auc": version.metrics["auc"],
            "ks": version.metrics["ks"],
        }


def _queue_training(
    name: str,
    family: str,
    from_history: bool,
    observation: str | None,
    horizon_days: int,
    folds: int,
    seed: int,
    monotone: list[str],
    username: str,
) -> None:
    """Queue a training on the history as a job (what POST /models/train-from-history does)."""
    from pydantic import ValidationError

    from riskdesk.cli.jobs import queue as queue_job
    from riskdesk.scoring.schemas import TrainFromHistory
    from riskdesk.security.permissions import Permission

    if not from_history:
        fail("--queue", "only a training --from-history can be queued (a CSV is read here)")
    try:
        body = TrainFromHistory.model_validate(
            {
                "name": name,
                "family": family,
                "observation_date": parse_date("--observation", observation)
                if observation
                else None,
                "horizon_days": horizon_days,
                "folds": folds,
                "seed": seed,
                "monotone": _parse_monotone(monotone),
            }
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        option = str(error["loc"][0]).replace("_date", "").replace("_", "-")
        fail(f"--{option}", error["msg"])
    queue_job(
        kind="model_training",
        permission=Permission.SCORING_MANAGE,
        parameters=body.model_dump(mode="json"),
        username=username,
    )
