"""riskdesk churn: the buy-till-you-die model, backtested on any transaction file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from riskdesk.cli import fail, parse_date
from riskdesk.cli.jobs import QUEUE_HELP, USER_HELP

churn_app = typer.Typer(help="Churn: BG/NBD fitted on purchase histories.", no_args_is_help=True)
console = Console()


@churn_app.command("fit")
def fit_command(
    queue: Annotated[bool, typer.Option("--queue", help=QUEUE_HELP)] = False,
    username: Annotated[str | None, typer.Option("--user", help=USER_HELP)] = None,
) -> None:
    """Fit BG/NBD on every customer's purchases to date; the credit files show the result."""
    if queue:
        from riskdesk.cli.jobs import queue as queue_job
        from riskdesk.security.permissions import Permission

        queue_job(
            kind="churn_fit", permission=Permission.RULES_MANAGE, parameters={}, username=username
        )
        return
    from riskdesk.config import get_settings
    from riskdesk.db import make_engine, make_sessionmaker, reading, unit_of_work
    from riskdesk.monitoring import service

    factory = make_sessionmaker(make_engine(get_settings().database_url))
    with reading(factory) as session:  # fitted with no lock held, stored in a short write
        fit = service.compute_churn_fit(session)
    with unit_of_work(factory) as session:
        found = service.store_churn_fit(session, fit)
        print(
            f"fitted on {found.customers} customers: r={found.r:.4g} alpha={found.alpha:.4g} "
            f"a={found.a:.4g} b={found.b:.4g}"
        )


@churn_app.command("backtest")
def backtest(
    transactions: Annotated[Path, typer.Option("--transactions", help="CSV of purchases")],
    customer_col: Annotated[str, typer.Option("--customer-col", help="customer column")],
    date_col: Annotated[str, typer.Option("--date-col", help="purchase date column")],
    cutoff: Annotated[str, typer.Option("--cutoff", help="fit on purchases up to this date")],
    until: Annotated[str, typer.Option("--until", help="compare predictions up to this date")],
    amount_col: Annotated[
        str | None, typer.Option("--amount-col", help="rows with amount <= 0 are not purchases")
    ] = None,
    output: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Fit BG/NBD before the cutoff; compare predicted and actual purchases per customer up to
    `until` (MAE, RMSE, correlation, totals) beside two naive baselines."""
    import polars as pl

    from riskdesk.monitoring import churn

    if output not in ("table", "json"):
        fail("--format", f"expected table or json, got {output!r}")
    start, end = parse_date("--cutoff", cutoff), parse_date("--until", until)
    if end <= start:
        fail("--until", "must be after --cutoff")
    if not transactions.is_file():
        fail("--transactions", f"no such file: {transactions}")
    try:
        frame = pl.read_csv(transactions, infer_schema_length=10000)
    except (pl.exceptions.PolarsError, UnicodeDecodeError) as exc:
        fail("--transactions", f"cannot read {transactions.name} as CSV: {exc}")
    for option, column in (
        ("--customer-col", customer_col),
        ("--date-col", date_col),
        ("--amount-col", amount_col),
    ):
        if column is not None and column not in frame.columns:
            fail(option, f"no column {column!r}; the file has {', '.join(frame.columns[:20])}")
    try:
        day = pl.col(date_col).cast(pl.String).str.slice(0, 10).str.to_date("%Y-%m-%d")
        frame = frame.with_columns(day.alias("__day"))
    except pl.exceptions.PolarsError:
        fail("--date-col", f"column {date_col!r} does not hold dates like 2026-06-30")
    if amount_col is not None:
        frame = frame.filter(pl.col(amount_col).cast(pl.Float64, strict=False) > 0)
    frame = frame.drop_nulls(["__day", customer_col])
    try:
        result = churn.backtest(frame, start, end, customer=customer_col, day="__day")
    except ValueError as exc:
        fail("--cutoff", str(exc))
    result["transactions"] = str(transactions)
    if output == "json":
        print(json.dumps(result))
        return
    table = Table("method", "MAE", "RMSE", "correlation", "predicted", "actual",
                  title=f"{result['customers']} customers, {cutoff} -> {until}")  # fmt: skip
    for name in ("bgnbd", "naive_own_rate", "naive_average_rate"):
        m = result[name]
        corr = f"{m['correlation']:.3f}" if m["correlation"] is not None else "-"
        table.add_row(name, f"{m['mae']:.3f}", f"{m['rmse']:.3f}", corr,
                      f"{m['total_predicted']:.0f}", f"{m['total_actual']:.0f}")  # fmt: skip
    console.print(table)
