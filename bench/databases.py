"""Throwaway databases for benchmarks: a temporary SQLite file or a fresh PostgreSQL schema,
migrated, dropped afterwards."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from riskdesk.db import make_engine, make_sessionmaker
from riskdesk.migrations import runner


@dataclass
class Database:
    """A fresh, migrated database for one backend."""

    label: str
    engine: Engine
    factory: sessionmaker[Session]
    url: str
    schema: str | None

    def drop(self) -> None:
        """Dispose of the engine; drop the PostgreSQL schema or delete the SQLite file."""
        self.engine.dispose()
        if self.label == "sqlite" and self.engine.url.database:
            shutil.rmtree(Path(self.engine.url.database).parent, ignore_errors=True)
        if self.schema:
            admin = make_engine(self.url)
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{self.schema}" CASCADE'))
            admin.dispose()


def open_database(backend: str, pg_url: str, name: str, **pg_engine: Any) -> Database:
    """A temporary SQLite file (``name``.db, WAL) or a fresh PostgreSQL schema, migrated."""
    schema = None
    if backend == "postgresql":
        schema = f"rdbench_{uuid.uuid4().hex[:8]}"
        admin = make_engine(pg_url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        engine = make_engine(
            pg_url, connect_args={"options": f"-csearch_path={schema}"}, **pg_engine
        )
    else:
        engine = make_engine(f"sqlite:///{Path(tempfile.mkdtemp()) / f'{name}.db'}")
    runner.upgrade(engine)
    return Database(backend, engine, make_sessionmaker(engine), pg_url, schema)


def throwaway_keyring() -> None:
    """Keys in memory for the benchmark's throwaway databases: nothing is read from or written
    to var/, and a fresh checkout needs no `riskdesk keys init` to run a benchmark."""
    from riskdesk.security import keys

    keys.use(keys.generate().to_json())
