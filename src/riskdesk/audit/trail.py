"""Recording what every transaction wrote, and which personal data it showed.

Session hooks collect the writes of a transaction (rows flushed by the ORM, and bulk INSERT,
UPDATE and DELETE statements run through the session) and, just before it commits, append one
entry to the audit log in the same transaction: the change and its record stand or fall
together. Views of personal data are noted by the code that shows them (:func:`viewed`); a
transaction that only read appends them right after it commits, in a short transaction of its
own, which the request (or unit of work) runs right after (:func:`append_pending_views`): a
read on SQLite cannot start writing once another writer has committed.

Who and from where comes from the session's context (:func:`set_context`): the request sets it
(:func:`prepare_request`), CLI commands and background jobs use the process default.

Nothing here runs until :func:`listen` registers the hooks: ``riskdesk.bootstrap.install``
does, for every entry point (the web app, the CLI, the tests), so that the engine module
(``riskdesk.db``) need not import the audit package.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from fastapi import Request
from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from riskdesk.audit import repository as repo
from riskdesk.db import begin_writing

log = logging.getLogger(__name__)

# The log's own tables, and bookkeeping no one needs to see as a change (the event queue:
# the intake's entry records the events, the worker's entry what processing changed).
# Bookkeeping and caches derived from audited rows: the queue, the indicator states, the
# population summaries and the dashboard's stored month ends.
IGNORED_TABLES = frozenset(
    {
        "audit_log",
        "audit_head",
        "event_queue",
        "indicator_states",
        "indicator_references",
        "receivable_month_ends",
        "receivable_month_totals",
        "receivable_month_stale",
    }
)
# A job's start, end and cancellation are entries (who ran what); its progress reports are not.
BOOKKEEPING = {
    "api_tokens": frozenset({"last_used_at"}),
    "jobs": frozenset({"phase", "progress_done", "progress_total", "heartbeat_at"}),
    # An import's cursor and counts, written with each chunk of rows (whose entry records them).
    "import_jobs": frozenset(
        {
            "processed_rows",
            "total_rows",
            "created_count",
            "updated_count",
            "duplicate_count",
            "invalid_rows",
            "errors",
        }
    ),
}
# Tables whose row ids are secrets (a browser session's id is its bearer credential).
SECRET_IDS = frozenset({"user_sessions"})
MAX_IDS = 50  # row ids kept per table and operation; the count is always kept


@dataclass(frozen=True)
class Context:
    """Who is acting, through what, from where."""

    actor_id: int | None = None
    actor: str = "system"
    channel: str = "system"
    ip: str | None = None
    request: str | None = None
    object_type: str | None = None
    object_id: str | None = None


_default = Context()


def set_process_default(channel: str, request: str | None = None) -> None:
    """The context of sessions that no request set up (a CLI command, a worker)."""
    global _default
    _default = Context(actor=channel, channel=channel, request=request)


def set_context(session: Session, **values: Any) -> None:
    """Set (part of) the context of a session's entries."""
    session.info["audit_ctx"] = replace(context_of(session), **values)


def context_of(session: Session) -> Context:
    """The session's context, or the process default."""
    found: Context = session.info.get("audit_ctx", _default)
    return found


@dataclass
class _Change:
    ids: list[Any] = field(default_factory=list)
    rows: int = 0
    fields: set[str] = field(default_factory=set)


def _changes(session: Session) -> dict[tuple[str, str], _Change]:
    found: dict[tuple[str, str], _Change] = session.info.setdefault("audit_changes", {})
    return found


def _note(
    session: Session, table: str, op: str, ids: list[Any], rows: int, fields: set[str]
) -> None:
    if table in IGNORED_TABLES:
        return
    if op == "update" and fields and fields <= BOOKKEEPING.get(table, frozenset()):
        return
    change = _changes(session).setdefault((table, op), _Change())
    if table in SECRET_IDS:
        ids = []
    room = MAX_IDS - len(change.ids)
    if room > 0:
        change.ids.extend(ids[:room])
    change.rows += rows
    change.fields |= fields


def noted_write(
    session: Session,
    table: str,
    op: str,
    rows: int,
    fields: set[str] | None = None,
    ids: list[Any] | None = None,
) -> None:
    """Record a write made past the session (a COPY, a statement on the raw connection), so it
    is in the transaction's audit entry like any other (with the rows' ids, when known)."""
    _note(session, table, op, ids or [], rows, fields or set())


def viewed(
    session: Session,
    *,
    object_type: str,
    object_id: object,
    fields: list[str],
    action: str = "view",
    reason: str | None = None,
) -> None:
    """Note that personal data (these fields of this object) was shown in full."""
    if not fields:
        return
    detail: dict[str, Any] = {"fields": sorted(fields)}
    if reason:
        detail["reason"] = reason
    views: list[dict[str, Any]] = session.info.setdefault("audit_views", [])
    views.append(
        {"action": action, "object_type": object_type, "object_id": str(object_id), **detail}
    )


# ---------------------------------------------------------------- hooks


def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    for op, objects in (
        ("insert", session.new),
        ("update", session.dirty),
        ("delete", session.deleted),
    ):
        for obj in objects:
            state = inspect(obj)
            table = getattr(state.mapper.persist_selectable, "name", None)
            if table is None:
                continue
            if op == "update":
                fields = {
                    a.key
                    for a in state.mapper.column_attrs
                    if state.attrs[a.key].history.has_changes()
                }
                if not fields:
                    continue
            else:
                fields = set()
            key = state.mapper.primary_key_from_instance(obj)
            ident = key[0] if len(key) == 1 else list(key)
            _note(session, table, op, [ident] if ident is not None else [], 1, fields)


def _bulk(state: ORMExecuteState) -> Any:
    if not (state.is_insert or state.is_update or state.is_delete):
        return None
    table = getattr(getattr(state.statement, "table", None), "name", None)
    if table is None or table in IGNORED_TABLES:
        return None
    # Run the statement first: what it changed is the rows it matched, not the statement sent
    # (an UPDATE that matched nothing changed nothing and is no entry).
    result = state.invoke_statement()
    params = state.parameters
    rows = len(params) if isinstance(params, list) else 1
    counted = getattr(result, "rowcount", -1)  # a cursor's; meaningless with RETURNING rows
    if not isinstance(params, list) and not getattr(result, "returns_rows", True) and counted >= 0:
        rows = counted
    if rows == 0:
        return result
    op = "insert" if state.is_insert else "update" if state.is_update else "delete"
    fields: set[str] = set()
    if state.is_update:
        values = getattr(state.statement, "_values", None) or {}
        fields = {getattr(k, "key", str(k)) for k in values}
    _note(state.session, table, op, [], rows, fields)
    return result


def _before_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint; the whole transaction is recorded when it commits
    if session.info.get("audit_off"):
        return
    session.flush()  # the hook runs before the final flush; its writes belong in the entry
    changes = session.info.pop("audit_changes", None)
    if not changes:
        return
    views = session.info.pop("audit_views", [])
    repo.append(session, [_write_entry(session, changes), *_view_entries(session, views)])


def append_pending_views(session: Session) -> None:
    """After a transaction that only read has committed, append the views it noted, in a short
    writing transaction of its own on the same session (and so the same connection: a second
    connection per read request would exhaust the pool under load)."""
    views = session.info.pop("audit_views", None)
    if not views or session.info.get("audit_off"):
        return
    begin_writing(session)
    repo.append(session, _view_entries(session, views))
    session.commit()


def _after_rollback(session: Session) -> None:
    # A rolled-back write left nothing to record; a shown value was not shown after all.
    if not session.in_nested_transaction():
        session.info.pop("audit_changes", None)
        session.info.pop("audit_views", None)


_LISTENERS: tuple[tuple[str, Callable[..., Any]], ...] = (
    ("after_flush", _after_flush),
    ("do_orm_execute", _bulk),
    ("before_commit", _before_commit),
    ("after_rollback", _after_rollback),
)


def listen() -> None:
    """Register the hooks on every SQLAlchemy session (once; calling again changes nothing)."""
    for name, hook in _LISTENERS:
        if not event.contains(Session, name, hook):
            event.listen(Session, name, hook)


def _write_entry(session: Session, changes: dict[tuple[str, str], _Change]) -> dict[str, Any]:
    ctx = context_of(session)
    detail = {
        "changes": [
            {
                "table": table,
                "op": op,
                "rows": change.rows,
                **({"ids": change.ids} if change.ids else {}),
                **({"fields": sorted(change.fields)} if change.fields else {}),
            }
            for (table, op), change in sorted(changes.items())
        ]
    }
    return _entry(ctx, "write", ctx.object_type, ctx.object_id, detail)


def _view_entries(session: Session, views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ctx = context_of(session)
    entries = []
    for view in views:
        detail = {k: v for k, v in view.items() if k not in ("action", "object_type", "object_id")}
        entries.append(_entry(ctx, view["action"], view["object_type"], view["object_id"], detail))
    return entries


def _entry(
    ctx: Context,
    action: str,
    object_type: str | None,
    object_id: str | None,
    detail: dict[str, Any],
) -> dict[str, Any]:
    return {
        "actor_id": ctx.actor_id,
        "actor": ctx.actor,
        "channel": ctx.channel,
        "ip": ctx.ip,
        "action": action,
        "request": ctx.request,
        "object_type": object_type,
        "object_id": object_id,
        "detail": detail,
    }


# ---------------------------------------------------------------- requests


def prepare_request(session: Session, request: Request) -> None:
    """Give a request's session the request's context (the session dependency calls this)."""
    session.info["audit_ctx"] = request_context(request)


def route_template(request: Request) -> str:
    """The matched route's path template (ids as {names}), its routers' prefixes included.

    Read from the route, never rebuilt from the values: two ids of the same value (alert 1 in
    case 1) cannot tell which name goes where. A route of a router included with a prefix knows
    only its own part of the template, so the prefix is taken from the path in front of it
    (prefixes here are literal); a mounted app's prefix is in the scope's root path.
    """
    scope = request.scope
    own = getattr(scope.get("route"), "path_format", None)
    root = str(scope.get("root_path", ""))
    path = str(scope["path"])
    if root and path.startswith(root):
        path = path[len(root) :]
    if not isinstance(own, str):
        return path  # no route matched
    app_root = str(scope.get("app_root_path", root))
    mounted = root[len(app_root) :] if root.startswith(app_root) else ""
    parts, own_parts = path.split("/"), own.split("/")[1:]
    cut = len(parts) - len(own_parts)
    prefix, tail = parts[:cut], parts[cut:]
    if cut < 1 or any(
        o != t for o, t in zip(own_parts, tail, strict=True) if not o.startswith("{")
    ):
        return mounted + own  # a {name:path} parameter spans segments: no prefix to read
    return mounted + "/".join([*prefix, *own_parts])


def request_context(request: Request) -> Context:
    """The audit context of a request: channel, address, route and the object it names."""
    template = route_template(request)
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
