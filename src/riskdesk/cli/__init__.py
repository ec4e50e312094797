"""The riskdesk command line (Typer), calling the same services as the API."""

from __future__ import annotations

import datetime as dt
from typing import NoReturn

import typer


def fail(option: str, reason: str) -> NoReturn:
    """Stop with exit code 2, naming the option that is wrong and why."""
    # Plain echo, not Rich: file names and column names may hold [brackets] Rich would eat.
    typer.echo(f"error: {option}: {reason}", err=True)
    raise typer.Exit(2)


def parse_date(option: str, text: str) -> dt.date:
    """A date option (YYYY-MM-DD), or stop naming it."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        fail(option, f"expected a date like 2026-06-30, got {text!r}")
