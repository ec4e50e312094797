"""Request and response models for users and tokens."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from riskdesk.security.permissions import Role


class UserCreate(BaseModel):
    """A new user."""

    username: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    display_name: str = Field(min_length=1, max_length=128)
    role: Role
    team: str | None = Field(default=None, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class UserRead(BaseModel):
    """A user as others see them."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    role: str
    team: str | None
    is_active: bool


class UserAccount(UserRead):
    """A user with the state of their account, for those who look after accounts."""

    state: Literal["active", "disabled", "locked"]
    locked_until: dt.datetime | None = Field(description="When the lock-out ends (if locked).")
    failed_logins: int = Field(description="Wrong passwords since the last sign-in or lock-out.")
    last_login_at: dt.datetime | None


class PasswordChange(BaseModel):
    """Change one's own password: the current one, then the new one."""

    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


class PasswordReset(BaseModel):
    """A new password set by an administrator."""

    password: str = Field(min_length=1, max_length=256)


class TokenCreate(BaseModel):
    """A request for a new API token."""

    name: str = Field(min_length=1, max_length=128)
    scopes: list[str] = Field(min_length=1)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class TokenRead(BaseModel):
    """A token's metadata (never its secret)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    user_id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class TokenIssued(TokenRead):
    """A new token; the secret is shown once."""

    token: str


class Me(UserRead):
    """The caller, with what they may do."""

    permissions: list[str]
    via: str
