"""SQL for users, tokens and sessions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import TableClause, and_, column, delete, func, or_, select, table, update
from sqlalchemy.orm import Session

from riskdesk.kit.timeutil import utcnow
from riskdesk.models import ApiToken, LoginFailure, User, UserSession


def get_user(session: Session, user_id: int, *, lock: bool = False) -> User | None:
    """A user by id (with ``lock``: its row locked for this transaction, where the database
    can, and read afresh)."""
    if lock:
        return session.get(User, user_id, with_for_update=True, populate_existing=True)
    return session.get(User, user_id)


def get_user_by_username(session: Session, username: str) -> User | None:
    """A user by login name."""
    return session.scalars(select(User).where(User.username == username)).first()


def users_by_ids(session: Session, ids: list[int]) -> list[User]:
    """Some users, by id."""
    return list(session.scalars(select(User).where(User.id.in_(ids)))) if ids else []


def list_users(session: Session) -> list[User]:
    """All users, by login name."""
    return list(session.scalars(select(User).order_by(User.username)))


def users_by_usernames(session: Session, usernames: set[str]) -> dict[str, User]:
    """Users keyed by login name, for resolving owners in bulk."""
    if not usernames:
        return {}
    rows = session.scalars(select(User).where(User.username.in_(usernames)))
    return {u.username: u for u in rows}


def active_admin_ids(session: Session, *, lock: bool = False) -> list[int]:
    """Ids of the enabled administrators (their rows locked for this transaction with ``lock``,
    where the database can)."""
    stmt = select(User.id).where(User.role == "admin", User.is_active.is_(True)).order_by(User.id)
    if lock:
        stmt = stmt.with_for_update()
    return list(session.scalars(stmt))


def team_member_ids(session: Session, team: str) -> list[int]:
    """Ids of the users in a team."""
    return list(session.scalars(select(User.id).where(User.team == team)))


def add(session: Session, obj: User | ApiToken | UserSession) -> None:
    """Stage a new row and flush it so it gets its id."""
    session.add(obj)
    session.flush()


def count_failed_login(session: Session, user_id: int) -> int:
    """Add one wrong password to a user's count, atomically; the new count."""
    # One UPDATE rather than read-add-write: parallel guesses must not lose counts.
    stmt = (
        update(User)
        .where(User.id == user_id)
        .values(failed_logins=User.failed_logins + 1)
        .returning(User.failed_logins)
        .execution_options(synchronize_session="fetch")
    )
    return int(session.execute(stmt).scalar_one())


def lock_user(session: Session, user_id: int, *, threshold: int, until: dt.datetime) -> bool:
    """Lock a user whose count reached the threshold; False when a parallel request did."""
    stmt = (
        update(User)
        .where(User.id == user_id, User.failed_logins >= threshold)
        .values(failed_logins=0, locked_until=until, lockouts=User.lockouts + 1)
        .execution_options(synchronize_session="fetch")
    )
    return bool(getattr(session.execute(stmt), "rowcount", 0))


def end_user_sessions(session: Session, user_id: int, *, keep: str | None = None) -> int:
    """Revoke a user's live browser sessions (all but ``keep``); how many."""
    stmt = (
        update(UserSession)
        .where(
            UserSession.user_id == user_id,
            UserSession.revoked_at.is_(None),
            UserSession.id != (keep or ""),
        )
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )
    return int(getattr(session.execute(stmt), "rowcount", 0))


def get_token_by_prefix(session: Session, prefix: str) -> ApiToken | None:
    """A token by its public prefix."""
    return session.scalars(select(ApiToken).where(ApiToken.prefix == prefix)).first()


def list_tokens(session: Session, user_id: int | None = None) -> list[ApiToken]:
    """Tokens, optionally of one user."""
    stmt = select(ApiToken).order_by(ApiToken.id)
    if user_id is not None:
        stmt = stmt.where(ApiToken.user_id == user_id)
    return list(session.scalars(stmt))


def live_token_names(session: Session, user_id: int, *, now: dt.datetime) -> set[str]:
    """The names of a user's tokens that are neither revoked nor expired."""
    stmt = select(ApiToken.name).where(
        ApiToken.user_id == user_id,
        ApiToken.revoked_at.is_(None),
        or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
    )
    return set(session.scalars(stmt))


def get_token(session: Session, token_id: int) -> ApiToken | None:
    """A token by id."""
    return session.get(ApiToken, token_id)


def get_user_session(session: Session, session_id: str) -> UserSession | None:
    """A browser session by id."""
    return session.get(UserSession, session_id)


def current_user(session: Session, user_id: int) -> Any:
    """A user's role and whether it is active, read now (not from the session's cache)."""
    return session.execute(
        select(User.role, User.is_active).where(User.id == user_id)
    ).one_or_none()


def current_token(session: Session, token_id: int) -> Any:
    """A token's scopes, revocation and expiry, read now."""
    return session.execute(
        select(ApiToken.scopes, ApiToken.revoked_at, ApiToken.expires_at).where(
            ApiToken.id == token_id
        )
    ).one_or_none()


def current_user_session(session: Session, session_id: str) -> Any:
    """A browser session's revocation and expiry, read now."""
    return session.execute(
        select(UserSession.revoked_at, UserSession.expires_at).where(UserSession.id == session_id)
    ).one_or_none()


# ---------------------------------------------------------------- encrypted columns, raw


def encrypted_columns() -> dict[str, list[str]]:
    """Every column stored encrypted, by table (read from the models' column types)."""
    from riskdesk.db import Base
    from riskdesk.models.types import PersonalData, PersonalJSON

    found: dict[str, list[str]] = {}
    for tbl in Base.metadata.sorted_tables:
        for col in tbl.columns:
            if isinstance(col.type, PersonalData | PersonalJSON):
                found.setdefault(tbl.name, []).append(col.name)
    return found


def _raw_table(name: str, columns: Sequence[str]) -> TableClause:
    # Untyped columns: values pass as stored, without the encrypting column type.
    return table(name, column("id"), *(column(c) for c in columns))


def key_prefixes(session: Session, name: str, columns: Sequence[str]) -> list[str]:
    """The first characters of every stored value (enough to hold the key id)."""
    raw = _raw_table(name, columns)
    prefixes: list[str] = []
    for col in columns:
        stmt = select(func.substr(raw.c[col], 1, 40)).where(raw.c[col].is_not(None))
        prefixes.extend(v for (v,) in session.execute(stmt))
    return prefixes


def rows_not_under(
    session: Session, name: str, columns: Sequence[str], prefix: str, *, after: int, limit: int
) -> list[dict[str, Any]]:
    """Rows (id and raw values) with a value not sealed under ``prefix``, by id from ``after``."""
    raw = _raw_table(name, columns)
    # Key ids may hold "_", a LIKE wildcard: escape it, or one key's prefix matches another's.
    pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    stale = or_(
        *(and_(raw.c[c].is_not(None), raw.c[c].not_like(pattern, escape="\\")) for c in columns)
    )
    stmt = select(raw).where(stale, raw.c.id > after).order_by(raw.c.id).limit(limit)
    return [dict(row) for row in session.execute(stmt).mappings()]


def replace_raw(
    session: Session, name: str, row_id: int, old: dict[str, Any], new: dict[str, Any]
) -> bool:
    """Write new raw values if the row still holds ``old`` (a concurrent edit wins)."""
    raw = _raw_table(name, list(old))
    guard = [raw.c[c].is_(None) if v is None else raw.c[c] == v for c, v in old.items()]
    result = session.execute(update(raw).where(raw.c.id == row_id, *guard).values(**new))
    return bool(getattr(result, "rowcount", 0))


def login_failures_since(
    session: Session, address_key: str, since: dt.datetime
) -> list[dt.datetime]:
    """When an address failed to sign in since a moment, oldest first."""
    stmt = (
        select(LoginFailure.failed_at)
        .where(LoginFailure.address_key == address_key, LoginFailure.failed_at > since)
        .order_by(LoginFailure.failed_at)
    )
    return list(session.scalars(stmt))


def add_login_failure(session: Session, address_key: str, at: dt.datetime) -> None:
    """Record a failed sign-in."""
    session.add(LoginFailure(address_key=address_key, failed_at=at))
    session.flush()


def forget_login_failures(session: Session, before: dt.datetime) -> None:
    """Drop the failed sign-ins no window reaches any more."""
    session.execute(delete(LoginFailure).where(LoginFailure.failed_at <= before))
