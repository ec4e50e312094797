"""Loading a batch result into PostgreSQL: a staging table per result, filled by COPY.

The one module of ``riskdesk.batch`` that touches a database (``riskdesk batch load``).

A result directory (``batch indicators|scores|replay --out``, either engine) is loaded as it
is: a table whose columns are the result's, typed from its Parquet schema, keyed by customer_id
(a replay's: as_of, customer_id, rule_code).
It is a staging table, not the product's own tables: what a batch computed off the database
is looked at (reports, BI, a comparison with the product's run) or applied by a later step,
which can re-check what changed since (as a scoring run's store phase does), never written
over the live state by a bulk load.

- The rows go in through one COPY stream per part file (psycopg's ``cursor.copy``, binary
  format), part by part, so memory holds one part file, not the result.
- The table is built under a loading name and renamed over the old one at the end, in the
  caller's one transaction: readers see the previous load or the new one whole, never a half.
- It is UNLOGGED: a copy that the Parquet files can always rebuild, so it skips the WAL (about
  twice the load speed); a crash empties it, and `riskdesk batch load` loads it again.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import text
from sqlalchemy.orm import Session

from riskdesk.audit import trail
from riskdesk.batch.frames import FramesError

# Staging tables live beside the product's under a prefix of their own.
PREFIX = "batch_"
NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
# A replay result's rows (batch.replay.KEYS): a customer has one per date and rule.
REPLAY_KEY = ("as_of", "customer_id", "rule_code")
# Polars type -> PostgreSQL type (psycopg's name for it: binary COPY is told each column's).
_TYPES = {
    pl.Int64: "int8",
    pl.Int32: "int4",
    pl.Float64: "float8",
    pl.String: "text",
    pl.Boolean: "bool",
    pl.Date: "date",
}


def table_name(name: str) -> str:
    """The staging table of a load named ``name`` (``batch_<name>``), or FramesError."""
    if not NAME.match(name):
        raise FramesError("--table", f"{name!r}: lowercase letters, digits and _, at most 41")
    return f"{PREFIX}{name}"


def _sql_type(column: str, dtype: pl.DataType) -> str:
    for polars_type, sql in _TYPES.items():
        if dtype == polars_type:
            return sql
    if isinstance(dtype, pl.Datetime):
        return "timestamptz"
    raise FramesError("--from", f"column {column!r} is {dtype}: no staging type for it")


def _quoted(identifier: str) -> str:
    # Result columns hold '-' and are mixed with '__' (scorecard codes): always quoted.
    return '"' + identifier.replace('"', '""') + '"'


def load_result(session: Session, files: list[Path], name: str) -> int:
    """Load a result's Parquet files into the staging table of ``name``, replacing an earlier
    load of that name, in the session's transaction (PostgreSQL only); how many rows."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        raise FramesError("--table", "loading a batch result needs PostgreSQL (COPY)")
    if not files:
        raise FramesError("--from", "no Parquet files to load")
    table = table_name(name)
    loading = f"{table}__loading"
    schema = pl.read_parquet_schema(files[0])
    columns = ", ".join(f"{_quoted(c)} {_sql_type(c, t)}" for c, t in schema.items())
    session.execute(text(f"DROP TABLE IF EXISTS {_quoted(loading)}"))
    session.execute(text(f"CREATE UNLOGGED TABLE {_quoted(loading)} ({columns})"))
    raw: Any = connection.connection.driver_connection
    names = ", ".join(_quoted(c) for c in schema)
    types = [_sql_type(c, t) for c, t in schema.items()]
    rows = 0
    with raw.cursor() as cursor:
        for file in files:
            part = pl.read_parquet(file)
            if dict(part.schema) != dict(schema):
                raise FramesError("--from", f"{file.name} has other columns than {files[0].name}")
            with cursor.copy(
                f"COPY {_quoted(loading)} ({names}) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(types)
                for row in part.iter_rows():
                    copy.write_row(row)
            rows += part.height
    session.execute(text(f"DROP TABLE IF EXISTS {_quoted(table)}"))
    session.execute(text(f"ALTER TABLE {_quoted(loading)} RENAME TO {_quoted(table)}"))
    key = [c for c in REPLAY_KEY if c in schema]
    if key != list(REPLAY_KEY):
        key = ["customer_id"] if "customer_id" in schema else []
    if key:
        columns = ", ".join(_quoted(c) for c in key)
        session.execute(text(f"ALTER TABLE {_quoted(table)} ADD PRIMARY KEY ({columns})"))
    trail.noted_write(session, table, "insert", rows)
    return rows
