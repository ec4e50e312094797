"""Engines, the ORM base, the request session and the unit of work for CLI and jobs.

Time-outs: a database that accepts connections but never answers must not hang requests.
``DbLimits`` bounds connecting, each statement (on the server and, a little later, on the
client: a server that stops answering altogether), the check of a pooled connection before
use, and the wait for a free pooled connection; on SQLite, how long a request waits for the
write lock. Each ends in an OperationalError or a pool TimeoutError, which the API answers
with 503 database_unavailable; the next request tries afresh, so service resumes by itself.
"""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy import MetaData, create_engine, event, text
from sqlalchemy import exc as sa_exc
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


# Jobs and the CLI (imports, batch runs) may wait this long for SQLite's write lock, first in
# this process's queue, then in SQLite's busy handler: an import holds the lock for long.
WRITER_WAIT_SECONDS = 30.0
# A session's own bound on that wait (seconds), in session.info: requests set a short one.
WRITER_WAIT_KEY = "riskdesk_writer_wait"
_BUSY_MS_KEY = "riskdesk_busy_ms"


@dataclass(frozen=True)
class DbLimits:
    """How long the database may keep a caller waiting; None: no bound of ours."""

    connect_seconds: float | None = 10.0
    # PostgreSQL statement_timeout; the client gives up STATEMENT_GRACE_SECONDS later.
    statement_seconds: float | None = None
    # PostgreSQL: a pooled connection is checked before use, this long at most.
    ping_seconds: float | None = None
    pool_size: int = 5
    max_overflow: int = 10
    pool_timeout_seconds: float = 30.0


# The server cancels a statement at statement_timeout and answers; no answer this much later
# means it is not answering at all.
STATEMENT_GRACE_SECONDS = 2.0


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the UI read while an import writes; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={int(WRITER_WAIT_SECONDS * 1000)}")
    cursor.close()
    dbapi_connection.isolation_level = None


# A writer's remaining wait may exceed its bound by this much rather than change SQLite's busy
# timeout for every write (a PRAGMA each way, inside the writers' queue: measured at 8% of an
# order credit check).
BUSY_SLACK_SECONDS = 0.25


def _busy_timeout(conn: Any, seconds: float, slack: float = 0.0) -> None:
    """Bound SQLite's own wait for a lock (held by another process, or past our queue); a
    bound already set no more than ``slack`` longer is kept."""
    ms = max(0, int(seconds * 1000))
    current = conn.info.get(_BUSY_MS_KEY, int(WRITER_WAIT_SECONDS * 1000))
    if not 0 <= current - ms <= slack * 1000:
        conn.exec_driver_sql(f"PRAGMA busy_timeout={ms}")
        conn.info[_BUSY_MS_KEY] = ms


def _writer_busy(waited: float) -> sa_exc.OperationalError:
    return sa_exc.OperationalError(
        "BEGIN IMMEDIATE",
        None,
        sqlite3.OperationalError(f"database is locked (waited {waited:g} s for the write lock)"),
    )


def _sqlite_begin(writers: threading.Lock, conn: Any) -> None:
    options = conn.get_execution_options()
    bound = options.get(WRITER_WAIT_KEY)
    wait = WRITER_WAIT_SECONDS if bound is None else float(bound)
    # A read may turn into a write (bookkeeping such as a token's last use): bounded the same.
    _busy_timeout(conn, wait)
    # A writing transaction takes SQLite's write lock at BEGIN: one that read first and wrote
    # later could otherwise fail when another writer committed in between (stale snapshot).
    if not options.get("sqlite_immediate", False):
        conn.exec_driver_sql("BEGIN")
        return
    # Writers of this process first queue on a lock of their own: SQLite's busy handler makes a
    # waiting writer sleep and poll, so under load the last to arrive often wins and the tail
    # waits for seconds. The wait is bounded; past it, a job goes on to SQLite's own timeout,
    # a request (bound given) gives up: its caller gets a 503 and may try again.
    started = time.monotonic()
    if writers.acquire(timeout=wait):
        conn.info["riskdesk_writer"] = writers
    elif bound is not None:
        raise _writer_busy(wait)
    try:
        if bound is not None:
            _busy_timeout(conn, wait - (time.monotonic() - started), BUSY_SLACK_SECONDS)
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
        options: dict[str, Any] = {"sqlite_immediate": True}
        if session.info.get(WRITER_WAIT_KEY) is not None:
            options[WRITER_WAIT_KEY] = session.info[WRITER_WAIT_KEY]
        session.connection(execution_options=options)


# ---------------------------------------------------------------- long requests and jobs
#
# A request that is not a GET begins writing at once (above: on SQLite, BEGIN IMMEDIATE under
# the process's writer lock), and so does a unit of work. That is right for the short writes
# most requests make, and wrong for one that computes for long: it holds every other writer of
# the database (an order, a credit check) until it ends. Such work runs in three phases:
#
#   1. read: ``with snapshot(session):`` one consistent, read-only view of what it needs;
#   2. compute: holding no lock, for as long as it takes (with no transaction open where the
#      reads come first, as for a training; a batch that reads as it goes computes inside the
#      snapshot, which on SQLite's WAL and on PostgreSQL blocks no writer);
#   3. store: ``begin_store(session)``, then a short writing transaction that first re-checks
#      whatever may have changed since the snapshot (a version number taken, a customer
#      merged or refreshed since), then writes; the request (or unit of work) commits it.
#
# A route opts in with ``@reads_first`` (its request then begins like a GET); a read-only POST
# (a backtest, a check) takes the same marker and never calls begin_store.

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
READS_FIRST = "riskdesk_reads_first"
QUERY_ONLY = "riskdesk_query_only"  # connection info: a snapshot turned SQLite's query_only on
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def reads_first(endpoint: Endpoint) -> Endpoint:
    """Mark a route whose request must not begin writing when it starts (see above)."""
    setattr(endpoint, READS_FIRST, True)
    return endpoint


def writes_at_once(request: Request) -> bool:
    """True when the request's transaction begins writing before its first statement."""
    if request.method in SAFE_METHODS:
        return False
    return not getattr(request.scope.get("endpoint"), READS_FIRST, False)


@contextmanager
def snapshot(session: Session) -> Iterator[Session]:
    """The read phase of a long request or job: a read-only transaction on one consistent
    snapshot, ended (so nothing is held while computing) when the block exits.

    What the session had open is committed first: it only read (or wrote the sign-in's
    bookkeeping, which must not stay locked). PostgreSQL: REPEATABLE READ, READ ONLY, so the
    reads agree with each other. SQLite: a deferred transaction, whose snapshot (WAL) starts at
    the first read and never blocks a writer; ``query_only`` makes a stray write fail at once
    instead of taking the write lock.
    """
    session.commit()
    bind = session.get_bind()
    options: dict[str, Any] = {}
    if bind.dialect.name == "postgresql" and isinstance(bind, Engine):
        # (Tests hand in a connection already inside a transaction: its level is fixed.)
        options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    connection = session.connection(execution_options=options)
    if bind.dialect.name == "sqlite":
        connection.exec_driver_sql("PRAGMA query_only = ON")
        connection.info[QUERY_ONLY] = True
    try:
        yield session
    except BaseException:
        _writable_again(connection)
        session.rollback()
        raise
    _writable_again(connection)
    session.commit()


def _writable_again(connection: Any) -> None:
    if connection.info.pop(QUERY_ONLY, False):
        try:
            connection.exec_driver_sql("PRAGMA query_only = OFF")
        except Exception:
            connection.info[QUERY_ONLY] = True  # the pool's check-in turns it off


def _sqlite_checkin(dbapi_connection: Any, record: Any) -> None:
    # A connection a failed snapshot left read-only must not serve the next writer.
    if dbapi_connection is not None and record.info.pop(QUERY_ONLY, False):
        dbapi_connection.execute("PRAGMA query_only = OFF")


def begin_store(session: Session) -> None:
    """The store phase of a long request or job: end any read still open and begin the short
    writing transaction that stores the result; the request (or unit of work) commits it.

    The exception to "the request owns the transaction": a reads-first request runs two
    transactions, the snapshot it read and this one, and whatever it writes here must first
    re-check what the snapshot could not see.
    """
    session.commit()
    begin_writing(session)


def start_writing(session: Session) -> None:
    """From here on the transaction writes. SQLite: a transaction that only read (a reads-first
    request) ends, and a writing one begins under the write lock, so what the caller decides
    from must be read again after this; one that already writes goes on. PostgreSQL: the
    transaction goes on; row locks order the writers."""
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        return
    if session.in_transaction() and session.connection().get_execution_options().get(
        "sqlite_immediate", False
    ):
        return
    begin_store(session)


@contextmanager
def reading(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session on one read-only snapshot, for the read phase of a CLI command or job."""
    with factory() as session, snapshot(session):
        yield session


def _bound_reads(session: Session) -> None:
    """Give a reading session's transaction its bound on lock waits (SQLite)."""
    if (
        session.info.get(WRITER_WAIT_KEY) is not None
        and session.get_bind().dialect.name == "sqlite"
        and not session.in_transaction()
    ):
        session.connection(execution_options={WRITER_WAIT_KEY: session.info[WRITER_WAIT_KEY]})


@lru_cache(maxsize=1)
def _deadline_connection() -> Any:
    """psycopg's connection, giving up on a server that does not answer within its deadline."""
    import psycopg
    from psycopg.pq import TransactionStatus

    class DeadlineConnection(psycopg.Connection[Any]):
        # Seconds each exchange with the server may take; None: as long as it takes.
        riskdesk_deadline: float | None = None

        def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
            limit = self.riskdesk_deadline
            if timeout is not None or limit is None:
                return super().wait(gen, interval, timeout)
            try:
                return super().wait(gen, interval, limit)
            except psycopg.OperationalError:
                if self.pgconn.transaction_status != TransactionStatus.ACTIVE:
                    raise  # the server answered, with an error
                # Sent, never answered: the connection is in an unknown state. Closed, it is
                # seen as a disconnect and dropped from the pool instead of being reused.
                self.pgconn.finish()
                raise psycopg.OperationalError(
                    f"the database did not answer within {limit:g} s"
                ) from None

    return DeadlineConnection


def _pg_connect(limits: DbLimits, _dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
    # Here rather than in connect_args: options given in the URL (search_path) are kept.
    if limits.connect_seconds is not None:
        # libpq counts whole seconds, at least 2.
        cparams.setdefault("connect_timeout", max(2, math.ceil(limits.connect_seconds)))
    deadline = None
    if limits.statement_seconds is not None:
        ms = int(limits.statement_seconds * 1000)
        cparams["options"] = f"{cparams.get('options', '')} -c statement_timeout={ms}".strip()
        deadline = limits.statement_seconds + STATEMENT_GRACE_SECONDS
    connection = _deadline_connection().connect(*cargs, **cparams)
    connection.riskdesk_deadline = deadline
    return connection


def _pg_fresh(record: Any) -> None:
    record.info["riskdesk_fresh"] = True


def _pg_ping(
    limits: DbLimits, dialect: Any, dbapi_connection: Any, record: Any, _proxy: Any
) -> None:
    """Check a pooled connection before use, within ping_seconds: a server that went silent
    costs that long, not a request's worth of waiting."""
    if record.info.pop("riskdesk_fresh", False):
        return  # just connected
    import psycopg

    deadline = dbapi_connection.riskdesk_deadline
    dbapi_connection.riskdesk_deadline = limits.ping_seconds
    try:
        dialect.do_ping(dbapi_connection)
    except psycopg.Error as exc:
        # Every pooled connection is suspect now: the pool drops them all and reconnects.
        raise sa_exc.InvalidatePoolError(f"the database did not answer a ping: {exc}") from exc
    finally:
        dbapi_connection.riskdesk_deadline = deadline


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


def make_engine(url: str, *, limits: DbLimits | None = None, **kwargs: Any) -> Engine:
    """An engine for SQLite (embedded) or PostgreSQL, configured the same way everywhere."""
    limits = limits or DbLimits()
    # Statement parameters (ciphertext, blind indexes, amounts) stay out of error messages and
    # logs: an exception's text ends up in the server log.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        if ":memory:" not in url and url.startswith("sqlite:///"):
            from pathlib import Path

            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            _pool_options(kwargs, limits)  # in-memory databases have no pool to size
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite starts transactions lazily and breaks SAVEPOINT; let SQLAlchemy emit BEGIN.
        event.listen(engine, "begin", partial(_sqlite_begin, threading.Lock()))
        event.listen(engine, "commit", _sqlite_end)
        event.listen(engine, "rollback", _sqlite_end)
        event.listen(engine, "checkin", _sqlite_checkin)
        return engine
    _pool_options(kwargs, limits)
    psycopg_url = url.startswith("postgresql+psycopg")
    if psycopg_url:
        # psycopg prepares a statement after 5 runs, and PostgreSQL then may switch to a generic
        # plan; for IN lists of thousands of keys that plan scans the whole table per query.
        connect_args = dict(kwargs.pop("connect_args", {}))
        connect_args.setdefault("prepare_threshold", None)
        kwargs["connect_args"] = connect_args
    # A bounded ping of our own replaces SQLAlchemy's, which would wait as long as it takes.
    kwargs.setdefault("pool_pre_ping", not (psycopg_url and limits.ping_seconds is not None))
    engine = create_engine(url, **kwargs)
    if psycopg_url:
        event.listen(engine, "connect", _postgres_utc)
        event.listen(engine, "do_connect", partial(_pg_connect, limits))
        if limits.ping_seconds is not None and not kwargs["pool_pre_ping"]:
            event.listen(engine.pool, "connect", lambda _conn, record: _pg_fresh(record))
            event.listen(engine.pool, "checkout", partial(_pg_ping, limits, engine.dialect))
    return engine


def _pool_options(kwargs: dict[str, Any], limits: DbLimits) -> None:
    if "poolclass" in kwargs:
        return
    kwargs.setdefault("pool_size", limits.pool_size)
    kwargs.setdefault("max_overflow", limits.max_overflow)
    kwargs.setdefault("pool_timeout", limits.pool_timeout_seconds)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


def unavailable(exc: BaseException) -> bool:
    """Whether an error means the database is away or overloaded (not answering, refusing
    connections, locked past the wait, no free pooled connection) rather than a fault of the
    work: the API answers it with 503, background loops back off and retry."""
    return isinstance(exc, sa_exc.OperationalError | sa_exc.TimeoutError)


def answers(factory: sessionmaker[Session]) -> bool:
    """Whether the database answers a trivial query now (readiness): False when it cannot be
    reached or fails, never an exception."""
    try:
        with factory() as session:
            session.execute(text("SELECT 1"))
            session.rollback()
    except Exception:  # any failure means not ready; the caller answers 503
        return False
    return True


# ---------------------------------------------------------------- hooks from above
#
# This module stands below every domain and imports none. What the layers above add to the
# sessions it hands out (the audit trail: who a request is, the views to append once it has
# committed) they install at start-up: riskdesk.bootstrap.install(), called by the app
# factory, the CLI and the tests' conftest, which also registers the trail's session listeners.


@dataclass(frozen=True)
class SessionHooks:
    """What the layers above do to a request's session, and after a transaction commits."""

    prepare_request: Callable[[Session, Request], None]
    committed: Callable[[Session], None]


_hooks: SessionHooks | None = None


def install_session_hooks(hooks: SessionHooks) -> None:
    """Set the hooks of every request session and unit of work (riskdesk.bootstrap)."""
    global _hooks
    _hooks = hooks


def session_hooks() -> SessionHooks:
    """The installed hooks; RuntimeError when none are: the entry point did not bootstrap, and
    its writes would go unaudited."""
    if _hooks is None:
        raise RuntimeError(
            "riskdesk.bootstrap.install() was not called: sessions would not be audited"
        )
    return _hooks


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction for a CLI command or job: commit on success, roll back on error."""
    hooks = session_hooks()
    session = factory()
    begin_writing(session)
    try:
        yield session
        session.commit()
        hooks.committed(session)
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def get_session(request: Request) -> Iterator[Session]:
    """The request's session: committed when the endpoint succeeds, rolled back otherwise."""
    hooks = session_hooks()
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    with factory() as session:
        hooks.prepare_request(session, request)
        request.state.db_session = session  # pages read the display time zone through it
        # A request waits for SQLite's write lock only so long (an import may hold it for
        # minutes); past that its caller gets a 503 and may try again.
        session.info[WRITER_WAIT_KEY] = getattr(
            request.app.state, "request_writer_wait_seconds", None
        )
        if writes_at_once(request):
            begin_writing(session)
        else:
            _bound_reads(session)
        try:
            yield session
            session.commit()
            hooks.committed(session)
        except BaseException:
            session.rollback()
            raise
        finally:
            # The session ends with this block: a page drawn after it (an error page) must open
            # its own, not begin a transaction again on this one that nothing would close.
            request.state.db_session = None


# "function" scope: commit before the response is sent, so a client that got 201 (or a browser
# following a redirect) always finds the data; the default "request" scope commits afterwards.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def stream_rows(session: Session, stmt: Any, chunk: int) -> Iterator[Any]:
    """The rows of a SELECT, fetched ``chunk`` at a time: a server-side cursor on PostgreSQL
    (psycopg), SQLite's own step-by-step cursor; memory holds one chunk, whatever the total."""
    yield from session.execute(stmt.execution_options(yield_per=chunk))


def stream_columns(session: Session, stmt: Any, chunk: int) -> Iterator[Any]:
    """``stream_rows`` for a SELECT of plain columns (no ORM entity), run on the session's
    connection as Core: without the ORM's per-row loading, a large export reads in about half
    the time."""
    yield from session.connection().execute(stmt.execution_options(yield_per=chunk))


def count_rows(session: Session, stmt: Any) -> int:
    """How many rows a SELECT returns (its ordering dropped)."""
    from sqlalchemy import func, select

    return session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
