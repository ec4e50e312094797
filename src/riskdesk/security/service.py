"""Users, authentication, API tokens and browser sessions."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass, field

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from riskdesk.kit.errors import (
    Conflict,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from riskdesk.kit.timeutil import as_utc, utcnow
from riskdesk.models import ApiToken, User, UserSession
from riskdesk.security import passwords
from riskdesk.security import repository as repo
from riskdesk.security.permissions import (
    OWN_CUSTOMERS_ONLY,
    Permission,
    Role,
    parse_scopes,
    permissions_for,
)

log = logging.getLogger(__name__)
TOKEN_PREFIX = "rd"  # noqa: S105  (a label, not a secret)
LOCKOUT_AFTER = 10


@dataclass(frozen=True)
class Caller:
    """The calling user as plain values, copied when the principal is built.

    Not the ORM row: the principal outlives the request's session (an error page is drawn after
    the session rolled back and closed), and an expired, detached row fails when read.
    """

    id: int
    username: str
    display_name: str
    role: str
    team: str | None
    is_active: bool
    email: str | None = field(default=None, repr=False)  # personal data: kept out of logs

    @classmethod
    def of(cls, user: User) -> Caller:
        """A snapshot of a user row."""
        return cls(
            id=user.id,
            username=user.username,
            display_name=user.display_name,
            role=user.role,
            team=user.team,
            is_active=user.is_active,
            email=user.email,
        )


@dataclass(frozen=True)
class Principal:
    """Who is calling and what they may do."""

    user: Caller
    permissions: frozenset[Permission]
    via: str  # "session", "token" or "system"
    session_id: str | None = None
    csrf_token: str | None = None
    token_id: int | None = None
    team_member_ids: tuple[int, ...] = field(default=())

    @property
    def user_id(self) -> int:
        """The caller's user id."""
        return self.user.id

    def can(self, permission: Permission) -> bool:
        """True when the caller holds the permission."""
        return permission in self.permissions

    @property
    def own_customers_only(self) -> bool:
        """Sales and customer service see only what they or their team own."""
        try:
            return Role(self.user.role) in OWN_CUSTOMERS_ONLY
        except ValueError:
            return True

    @property
    def visible_owner_ids(self) -> tuple[int, ...]:
        """Owner ids whose customers this caller may see (only meaningful when restricted)."""
        return tuple(sorted({self.user.id, *self.team_member_ids}))


def ensure_second_person(
    principal: Principal,
    author_id: int | None,
    message: str = "nobody approves their own change; ask a colleague",
) -> None:
    """Four eyes: the person deciding must not be the one who asked."""
    if author_id == principal.user_id:
        raise PermissionDenied(message, code="four_eyes")


def principal_for(
    session: Session,
    user: User,
    *,
    via: str,
    scopes: list[str] | None = None,
    session_id: str | None = None,
    csrf_token: str | None = None,
    token_id: int | None = None,
) -> Principal:
    """Build the principal for a user, narrowing to token scopes when given."""
    perms = permissions_for(user.role)
    if scopes is not None:
        perms = perms & parse_scopes(scopes)
    members = tuple(repo.team_member_ids(session, user.team)) if user.team else ()
    return Principal(
        user=Caller.of(user),
        permissions=perms,
        via=via,
        session_id=session_id,
        csrf_token=csrf_token,
        token_id=token_id,
        team_member_ids=members,
    )


def create_user(
    session: Session,
    *,
    username: str,
    display_name: str,
    role: Role | str,
    password: str,
    team: str | None = None,
    email: str | None = None,
) -> User:
    """Create a user after checking the password policy and that the name is free."""
    role = Role(role)
    email = _checked_email(email) if email else None
    problem = passwords.password_problem(password)
    if problem:
        raise ValidationFailed(f"password {problem}", field="password")
    if repo.get_user_by_username(session, username):
        raise Conflict(f"user {username!r} already exists", field="username", code="username_taken")
    user = User(
        username=username,
        display_name=display_name,
        role=role.value,
        team=team,
        email=email,
        password_hash=passwords.hash_password(password),
        is_active=True,
        failed_logins=0,
    )
    repo.add(session, user)
    return user


def _checked_email(address: str) -> str:
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValidationFailed(f"not an e-mail address: {exc}", field="email") from exc


def set_email(session: Session, *, username: str, email: str | None) -> User:
    """Set (or with None, clear) where a user's e-mail notifications go."""
    user = get_user_by_username_or_raise(session, username)
    user.email = _checked_email(email) if email else None
    session.flush()
    return user


def set_role(session: Session, *, username: str, role: Role | str) -> User:
    """Change a user's role."""
    user = get_user_by_username_or_raise(session, username)
    user.role = Role(role).value
    session.flush()
    return user


def get_user_by_username_or_raise(session: Session, username: str) -> User:
    """A user by name, or NotFound."""
    user = repo.get_user_by_username(session, username)
    if user is None:
        raise NotFound(f"no user {username!r}", field="username")
    return user


def authenticate(session: Session, *, username: str, password: str) -> User:
    """The user for these credentials; the same error whatever was wrong."""
    user = repo.get_user_by_username(session, username)
    if user is None:
        passwords.verify_password(_DUMMY_HASH, password)  # same cost whether or not user exists
        raise NotAuthenticated("wrong username or password", code="invalid_credentials")
    if user.failed_logins >= LOCKOUT_AFTER or not user.is_active:
        raise NotAuthenticated(
            "account locked or disabled; ask an administrator", code="account_locked"
        )
    if not passwords.verify_password(user.password_hash, password):
        user.failed_logins += 1
        session.flush()
        raise NotAuthenticated("wrong username or password", code="invalid_credentials")
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    user.failed_logins = 0
    user.last_login_at = utcnow()
    session.flush()
    return user


_DUMMY_HASH = passwords.hash_password("not-a-real-password-Aa1!")


def start_session(session: Session, *, user: User, hours: int) -> UserSession:
    """A new browser session with its own CSRF token."""
    now = utcnow()
    row = UserSession(
        id=secrets.token_urlsafe(32),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + dt.timedelta(hours=hours),
    )
    repo.add(session, row)
    return row


def resolve_session(session: Session, session_id: str) -> tuple[UserSession, User] | None:
    """The live session and its user, or None when expired, revoked or unknown."""
    row = repo.get_user_session(session, session_id)
    if row is None or row.revoked_at is not None or as_utc(row.expires_at) <= utcnow():
        return None
    user = repo.get_user(session, row.user_id)
    if user is None or not user.is_active:
        return None
    return row, user


def end_session(session: Session, session_id: str) -> None:
    """Revoke a browser session (logout)."""
    row = repo.get_user_session(session, session_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()


def _hash_secret(secret: str) -> str:
    # Tokens are 256-bit random, so a fast hash is enough; a slow one would tax every API call.
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_token(
    session: Session,
    *,
    user: User | Caller,
    name: str,
    scopes: list[str],
    expires_in_days: int | None = None,
) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the one-time plaintext ``rd_<prefix>_<secret>``."""
    try:
        perms = parse_scopes(scopes)
    except ValueError as exc:
        raise ValidationFailed(
            f"unknown scope: {exc}", field="scopes", code="unknown_scope"
        ) from exc
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    expires = utcnow() + dt.timedelta(days=expires_in_days) if expires_in_days else None
    token = ApiToken(
        user_id=user.id,
        name=name,
        prefix=prefix,
        token_hash=_hash_secret(secret),
        scopes=sorted(p.value for p in perms),
        expires_at=expires,
    )
    repo.add(session, token)
    return token, f"{TOKEN_PREFIX}_{prefix}_{secret}"


def resolve_token(session: Session, raw: str) -> tuple[ApiToken, User] | None:
    """The live token and its user for a bearer value, or None."""
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        return None
    token = repo.get_token_by_prefix(session, parts[1])
    if token is None or not hmac.compare_digest(token.token_hash, _hash_secret(parts[2])):
        return None
    now = utcnow()
    if token.revoked_at is not None or (token.expires_at and as_utc(token.expires_at) <= now):
        return None
    user = repo.get_user(session, token.user_id)
    if user is None or not user.is_active:
        return None
    # Record use at most once a minute so reads stay cheap.
    if token.last_used_at is None or now - as_utc(token.last_used_at) > dt.timedelta(minutes=1):
        try:
            with session.begin_nested():
                token.last_used_at = now
        except OperationalError:
            # SQLite: a read-only request cannot start writing once another writer has committed
            # since its read began (SQLITE_BUSY_SNAPSHOT, no waiting); the bookkeeping must not
            # fail the request, so the use is recorded by a later one.
            log.info("token %s: use not recorded this time (database busy)", token.prefix)
    return token, user


def revoke_token(session: Session, *, token_id: int) -> ApiToken:
    """Revoke a token now."""
    token = repo.get_token(session, token_id)
    if token is None:
        raise NotFound(f"no token {token_id}", field="token_id")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.flush()
    return token


def list_users(session: Session) -> list[User]:
    """All users."""
    return repo.list_users(session)


def list_tokens(session: Session, *, user_id: int | None = None) -> list[ApiToken]:
    """Tokens, optionally of one user."""
    return repo.list_tokens(session, user_id)


def system_principal(session: Session, user: User) -> Principal:
    """Full permissions of a user's role, for CLI commands run by an operator."""
    return principal_for(session, user, via="system")
