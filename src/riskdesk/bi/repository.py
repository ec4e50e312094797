"""SQL of the BI views: reading one in batches, and a read-only PostgreSQL role for them."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, text

from riskdesk.bi.schemas import VIEWS
from riskdesk.kit.errors import ValidationFailed

# A role name goes into DDL, which takes no bound parameters: only a plain identifier passes.
ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def read_batches(
    connection: Connection, view: str, batch_rows: int
) -> Iterator[tuple[list[str], Sequence[Sequence[Any]]]]:
    """A view's rows, ``batch_rows`` at a time (a server-side cursor on PostgreSQL), with the
    names of its columns."""
    if view not in VIEWS:
        raise ValidationFailed(f"no such view: {view}", field="view")
    columns = list(VIEWS[view])
    # The names come from VIEWS, never from the caller.
    stmt = text(f"SELECT {', '.join(columns)} FROM {view}")  # noqa: S608
    result = connection.execution_options(yield_per=batch_rows).execute(stmt)
    for rows in result.partitions(batch_rows):
        yield columns, rows


def grant_reader(connection: Connection, role: str) -> list[str]:
    """Make ``role`` (created without login when missing) able to read the BI views and
    nothing else of Riskdesk's schema; the statements run (PostgreSQL only)."""
    if connection.dialect.name != "postgresql":
        raise ValidationFailed("a read-only role needs PostgreSQL", field="database")
    if not ROLE_NAME.match(role):
        raise ValidationFailed(
            "a role name is lower-case letters, digits and _, at most 63", field="role"
        )
    schema = connection.execute(text("SELECT current_schema()")).scalar_one()
    exists = connection.execute(
        text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role}
    ).first()
    statements = [] if exists else [f'CREATE ROLE "{role}" NOLOGIN']
    statements.append(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
    statements += [f'GRANT SELECT ON "{schema}".{view} TO "{role}"' for view in VIEWS]
    for statement in statements:
        connection.execute(text(statement))
    return statements
