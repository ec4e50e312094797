"""Users, API tokens, UI sessions and the failed sign-ins the login throttle counts."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from riskdesk.db import Base
from riskdesk.kit.timeutil import utcnow
from riskdesk.models.types import PersonalData, UTCDateTime


class User(Base):
    """A person (or a machine client's service account) who signs in."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(32))
    team: Mapped[str | None] = mapped_column(String(64))
    # Where e-mail notifications go, for those who turn them on.
    email: Mapped[str | None] = mapped_column(PersonalData("users.email"))
    locale: Mapped[str | None] = mapped_column(String(8))
    # The IANA zone this person's pages show times in; None: the company's display time zone.
    time_zone: Mapped[str | None] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Wrong passwords since the last sign-in or lock-out; at the limit, the account is locked
    # until locked_until, and lockouts (in a row, without a sign-in between) sets how long.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    lockouts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Set when an administrator set the password (a new user, a reset): the user must choose
    # their own at the next sign-in before anything else. Cleared when they do.
    password_change_required: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ApiToken(Base):
    """A bearer token for a machine client; only its hash is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class UserSession(Base):
    """A signed-in browser; the cookie carries the signed id, so sessions can be revoked."""

    __tablename__ = "user_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class LoginFailure(Base):
    """A failed sign-in from one client address, kept while the throttle's window lasts. In
    the database, so every API node counts the same failures."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    # A keyed hash of the address, never the address itself: nothing here identifies a person.
    address_key: Mapped[str] = mapped_column(String(64), index=True)
    failed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
