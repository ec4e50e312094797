"""Engines, the ORM base, the request session and the unit of work for CLI and jobs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base class of every ORM model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the UI read while an import writes; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
    dbapi_connection.isolation_level = None


WRITER_WAIT_SECONDS = 30.0


def _sqlite_begin(writers: threading.Lock, conn: Any) -> None:
    # A writing transaction takes SQLite's write lock at BEGIN: one that read first and wrote
    # later could otherwise fail when another writer committed in between (stale snapshot).
    if not conn.get_execution_options().get("sqlite_immediate", False):
        conn.exec_driver_sql("BEGIN")
        return
    # Writers of this process first queue on a lock of their own: SQLite's busy handler makes a
    # waiting writer sleep and poll, so under load the last to arrive often wins and the tail
    # waits for seconds. The wait is bounded; past it, SQLite's own timeout applies as before.
    if writers.acquire(timeout=WRITER_WAIT_SECONDS):
        conn.info["riskdesk_writer"] = writers
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        _sqlite_end(conn)
        raise


def _sqlite_end(conn: Any) -> None:
    writers = conn.info.pop("riskdesk_writer", None)
    if writers is not None:
        writers.release()


def begin_writing(session: Session) -> None:
    """Declare, before the first statement, that this transaction will write."""
    bind = session.get_bind()
    if bind.dialect.name == "sqlite" and not session.in_transaction():
        session.connection(execution_options={"sqlite_immediate": True})


def _postgres_utc(dbapi_connection: Any, _record: Any) -> None:
    # Sessions read timestamps in UTC whatever the server's or the client's (PGTZ) zone: in
    # Asia/Shanghai, 9999-12-31 23:59:59Z reads as year 10000 and in America/* 0001-01-01 as
    # 1 BC, which Python cannot hold, so every page showing such a stored value failed.
    if dbapi_connection.info.parameter_status("TimeZone") in ("UTC", "Etc/UTC"):
        return
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True  # a SET inside a transaction that rolls back is undone
    try:
        dbapi_connection.execute("SET TIME ZONE 'UTC'")
    finally:
        dbapi_connection.autocommit = autocommit


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for SQLite (embedded) or PostgreSQL, configured the same way everywhere."""
    # Statement parameters (ciphertext, blind indexes, amounts) stay out of error messages and
    # logs: an exception's text ends up in the server log.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        if ":memory:" not in url and url.startswith("sqlite:///"):
            from pathlib import Path

            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite starts transactions lazily and breaks SAVEPOINT; let SQLAlchemy emit BEGIN.
        event.listen(engine, "begin", partial(_sqlite_begin, threading.Lock()))
        event.listen(engine, "commit", _sqlite_end)
        event.listen(engine, "rollback", _sqlite_end)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if url.startswith("postgresql+psycopg"):
        # psycopg prepares a statement after 5 runs, and PostgreSQL then may switch to a generic
        # plan; for IN lists of thousands of keys that plan scans the whole table per query.
        connect_args = dict(kwargs.pop("connect_args", {}))
        connect_args.setdefault("prepare_threshold", None)
        kwargs["connect_args"] = connect_args
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _postgres_utc)
        return engine
    return create_engine(url, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction for a CLI command or job: commit on success, roll back on error."""
    session = factory()
    begin_writing(session)
    try:
        yield session
        session.commit()
        _append_views(session)
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def get_session(request: Request) -> Iterator[Session]:
    """The request's session: committed when the endpoint succeeds, rolled back otherwise."""
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    with factory() as session:
        session.info["audit_ctx"] = request_context(request)
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            begin_writing(session)
        try:
            yield session
            session.commit()
            _append_views(session)
        except BaseException:
            session.rollback()
            raise


def _append_views(session: Session) -> None:
    from riskdesk.audit.trail import append_pending_views  # the audit package imports this one

    append_pending_views(session)


def request_context(request: Request) -> Any:
    """The audit context of a request: channel, address, route and the object it names."""
    from riskdesk.audit.trail import Context

    # The route's template (ids as {names}), rebuilt from the path: routers included with a
    # prefix report their own path only.
    segments = request.url.path.split("/")
    for name, value in request.path_params.items():
        for i in range(len(segments) - 1, -1, -1):
            if segments[i] == str(value):
                segments[i] = "{" + name + "}"
                break
    template = "/".join(segments)
    object_type = object_id = None
    if request.path_params:
        name, value = list(request.path_params.items())[-1]
        if name.endswith("_id"):
            object_type = name.removesuffix("_id")
        else:  # /playbooks/{code}: the collection names the object
            parts = [p for p in template.split("/") if p and not p.startswith("{")]
            object_type = parts[-1] if parts else name
        object_id = str(value)[:64]
    return Context(
        actor="anonymous",
        channel="api" if request.url.path.startswith("/api/") else "ui",
        ip=request.client.host if request.client else None,
        request=f"{request.method} {template}"[:200],
        object_type=object_type,
        object_id=object_id,
    )


# "function" scope: commit before the response is sent, so a client that got 201 (or a browser
# following a redirect) always finds the data; the default "request" scope commits afterwards.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
