"""SQL for users, tokens and sessions."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskdesk.models import ApiToken, User, UserSession


def get_user(session: Session, user_id: int) -> User | None:
    """A user by id."""
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


def team_member_ids(session: Session, team: str) -> list[int]:
    """Ids of the users in a team."""
    return list(session.scalars(select(User.id).where(User.team == team)))


def add(session: Session, obj: User | ApiToken | UserSession) -> None:
    """Stage a new row and flush it so it gets its id."""
    session.add(obj)
    session.flush()


def get_token_by_prefix(session: Session, prefix: str) -> ApiToken | None:
    """A token by its public prefix."""
    return session.scalars(select(ApiToken).where(ApiToken.prefix == prefix)).first()


def list_tokens(session: Session, user_id: int | None = None) -> list[ApiToken]:
    """Tokens, optionally of one user."""
    stmt = select(ApiToken).order_by(ApiToken.id)
    if user_id is not None:
        stmt = stmt.where(ApiToken.user_id == user_id)
    return list(session.scalars(stmt))


def get_token(session: Session, token_id: int) -> ApiToken | None:
    """A token by id."""
    return session.get(ApiToken, token_id)


def get_user_session(session: Session, session_id: str) -> UserSession | None:
    """A browser session by id."""
    return session.get(UserSession, session_id)
