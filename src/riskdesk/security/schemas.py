"""Request and response models for users and tokens."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from riskdesk.kit.validation import InputModel
from riskdesk.security.permissions import Role


class UserCreate(InputModel):
    """A new user."""

    # A password is taken as typed: no stripping.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)

    username: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    display_name: str = Field(min_length=1, max_length=128)
    role: Role
    team: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=254, description="For e-mail notices.")
    password: str = Field(min_length=1, max_length=256)


class UserUpdate(InputModel):
    """Changes to a user (only the fields sent change; ``team`` or ``email`` null clears it)."""

    display_name: str | None = Field(default=None, min_length=1, max_length=128)
    role: Role | None = None
    team: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=254)
    is_active: bool | None = Field(
        default=None,
        description="False disables the account: it cannot sign in, its browser sessions end "
        "and its API tokens stop working (they work again when it is enabled).",
    )


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
    password_change_required: bool = Field(
        description="The password was set by an administrator: the user must choose their own "
        "at the next sign-in (until then a browser session reaches nothing else)."
    )


class PasswordChange(InputModel):
    """Change one's own password: the current one, then the new one."""

    # Passwords are taken as typed: no stripping.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)

    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


class PasswordReset(InputModel):
    """A new password set by an administrator."""

    # A password is taken as typed: no stripping.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)

    password: str = Field(min_length=1, max_length=256)


class TokenCreate(InputModel):
    """A request for a new API token."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)

    name: str = Field(min_length=1, max_length=128)
    scopes: list[str] = Field(min_length=1)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)
    user_id: int | None = Field(
        default=None,
        ge=1,
        description="Whose token it is (a machine client's user, say); the caller by default. "
        "Another user's token needs `tokens:manage`.",
    )


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
    time_zone: str | None = Field(
        default=None,
        description="The caller's own display time zone (IANA name); null: the company's. "
        "Set it with PUT /api/v1/me/time-zone.",
    )
