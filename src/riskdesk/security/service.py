"""Users, authentication, API tokens and browser sessions."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass, field
from typing import Literal

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from riskdesk.config import Settings
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
    SCOPE_BUNDLES,
    Permission,
    Role,
    parse_scopes,
    permissions_for,
)
from riskdesk.security.schemas import UserUpdate

log = logging.getLogger(__name__)
TOKEN_PREFIX = "rd"  # noqa: S105  (a label, not a secret)
# What a token issued by someone other than its owner may carry: an integration's reads and
# intake, never a decision (approvals, releases, policy) made in the owner's name.
DELEGABLE_SCOPES = SCOPE_BUNDLES["read"] | SCOPE_BUNDLES["intake"]
# Riskdesk acting on its own (alerts.playbooks creates it): disabled, and never edited by hand.
SYSTEM_USERNAME = "riskdesk-system"
# Generated passwords: no look-alike characters (0/o, 1/l/i), read out or typed from a note.
_PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # noqa: S105  (characters, not a password)


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
    password_change_required: bool = False
    time_zone: str | None = None  # their own display time zone (None: the company's)

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
            password_change_required=bool(user.password_change_required),
            time_zone=user.time_zone,
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


def ensure_still_allowed(session: Session, principal: Principal, permission: Permission) -> None:
    """Before storing what a long request computed: the caller may have been disabled, lost
    the permission, or had the token or browser session revoked while it ran."""
    user = repo.current_user(session, principal.user_id)
    if user is None or not user.is_active:
        raise NotAuthenticated("the account was disabled meanwhile", code="account_disabled")
    perms = permissions_for(user.role)
    now = utcnow()
    if principal.token_id is not None:
        token = repo.current_token(session, principal.token_id)
        if (
            token is None
            or token.revoked_at is not None
            or (token.expires_at is not None and as_utc(token.expires_at) <= now)
        ):
            raise NotAuthenticated("the API token was revoked meanwhile", code="invalid_token")
        perms = perms & parse_scopes(token.scopes)
    if principal.session_id is not None:
        row = repo.current_user_session(session, principal.session_id)
        if row is None or row.revoked_at is not None or as_utc(row.expires_at) <= now:
            raise NotAuthenticated("the session ended meanwhile; sign in again")
    if permission not in perms:
        raise PermissionDenied(
            f"this needs the permission {permission.value!r}", code="permission_denied"
        )


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
    password_change_required: bool = False,
) -> User:
    """Create a user after checking the password policy and that the name is free
    (``password_change_required``: the password is an administrator's, to be changed by the
    user at the next sign-in)."""
    role = Role(role)
    email = _checked_email(email) if email else None
    _checked_password(password, username=username, display_name=display_name, field="password")
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
        password_change_required=password_change_required,
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
    _ensure_not_system(user)
    user.email = _checked_email(email) if email else None
    session.flush()
    return user


def set_role(session: Session, *, username: str, role: Role | str) -> User:
    """Change a user's role (never the last active administrator's)."""
    user = get_user_by_username_or_raise(session, username)
    return update_user(session, user_id=user.id, changes=UserUpdate(role=Role(role)))


def _ensure_not_system(user: User) -> None:
    if user.username == SYSTEM_USERNAME:
        raise Conflict(
            "the automatic user belongs to Riskdesk itself and cannot be changed",
            field="user_id",
            code="system_user",
        )


def _ensure_an_admin_remains(session: Session, user: User, *, field: str) -> None:
    # Locks the active administrators' rows (PostgreSQL) so two administrators demoting each
    # other at once cannot both succeed; SQLite has one writer at a time anyway.
    others = [i for i in repo.active_admin_ids(session, lock=True) if i != user.id]
    if not others:
        raise Conflict(
            "this would leave no active administrator; make another user an administrator first",
            field=field,
            code="last_admin",
        )


def update_user(session: Session, *, user_id: int, changes: UserUpdate) -> User:
    """Change a user's name, role, team, e-mail or whether the account is enabled (only the
    fields set). Disabling ends their browser sessions and stops their API tokens; no change
    may leave the system without an active administrator."""
    user = get_user_or_raise(session, user_id)
    _ensure_not_system(user)
    sent = changes.model_fields_set
    role = Role(changes.role).value if "role" in sent and changes.role is not None else user.role
    active = (
        changes.is_active
        if "is_active" in sent and changes.is_active is not None
        else (user.is_active)
    )
    if (
        user.role == Role.ADMIN.value
        and user.is_active
        and not (role == Role.ADMIN.value and active)
    ):
        _ensure_an_admin_remains(session, user, field="role" if active else "is_active")
    if "display_name" in sent:
        if not changes.display_name:
            raise ValidationFailed("display name must not be empty", field="display_name")
        user.display_name = changes.display_name
    if "team" in sent:
        user.team = changes.team or None
    if "email" in sent:
        user.email = _checked_email(changes.email) if changes.email else None
    user.role = role
    was_active, user.is_active = user.is_active, active
    session.flush()
    if was_active and not active:
        ended = repo.end_user_sessions(session, user.id)
        log.info("user %s disabled (%s browser sessions ended)", user.id, ended)
    return user


def generate_password() -> str:
    """A random password for an administrator to hand over once (about 98 bits: four groups
    of five characters from 31), which always passes the password policy."""
    while True:
        groups = ("".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(5)) for _ in range(4))
        password = "-".join(groups)
        if passwords.check_password(password) is None:
            return password


def password_stamp(user: User) -> str:
    """A short fingerprint of a user's current password hash: a form that resets the password
    carries it, so posting the same form again changes nothing once the password changed."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def get_user(session: Session, user_id: int) -> User | None:
    """A user by id, or None."""
    return repo.get_user(session, user_id)


def get_user_or_raise(session: Session, user_id: int, *, lock: bool = False) -> User:
    """A user by id, or NotFound (``lock``: the row locked until the transaction ends, so a
    check on it and the change it guards are one step; PostgreSQL)."""
    user = repo.get_user(session, user_id, lock=lock)
    if user is None:
        raise NotFound(f"no user {user_id}", field="user_id")
    return user


def get_user_by_username_or_raise(session: Session, username: str) -> User:
    """A user by name, or NotFound."""
    user = repo.get_user_by_username(session, username)
    if user is None:
        raise NotFound(f"no user {username!r}", field="username")
    return user


@dataclass(frozen=True)
class LockoutPolicy:
    """How many wrong passwords lock an account, and for how long."""

    failures: int = 10
    minutes: float = 15.0
    max_minutes: float = 24 * 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> LockoutPolicy:
        """The policy the operator configured."""
        return cls(
            failures=settings.lockout_failures,
            minutes=settings.lockout_minutes,
            max_minutes=settings.lockout_max_minutes,
        )

    def duration(self, earlier_lockouts: int) -> dt.timedelta:
        """How long the next lock-out lasts: doubled for each one before it, up to the maximum."""
        minutes = self.minutes * 2 ** min(earlier_lockouts, 30)
        return dt.timedelta(minutes=min(minutes, self.max_minutes))


DEFAULT_LOCKOUT = LockoutPolicy()


def locked_until(user: User, now: dt.datetime | None = None) -> dt.datetime | None:
    """When the user's lock-out ends, or None when they are not locked out."""
    if user.locked_until is None:
        return None
    until = as_utc(user.locked_until)
    return until if until > (now or utcnow()) else None


AccountState = Literal["active", "disabled", "locked"]


def account_state(user: User, now: dt.datetime | None = None) -> AccountState:
    """``disabled``, ``locked`` or ``active``."""
    if not user.is_active:
        return "disabled"
    return "locked" if locked_until(user, now) else "active"


def _wrong_credentials() -> NotAuthenticated:
    # One error for every failed sign-in: an unknown name, a wrong password, a locked or a
    # disabled account all read the same, so the answer tells nobody which accounts exist.
    return NotAuthenticated("wrong username or password", code="invalid_credentials")


def _count_wrong_password(session: Session, user: User, policy: LockoutPolicy) -> None:
    count = repo.count_failed_login(session, user.id)
    if count < policy.failures:
        return
    until = utcnow() + policy.duration(user.lockouts)
    if repo.lock_user(session, user.id, threshold=policy.failures, until=until):
        log.warning("user %s locked until %s after %s wrong passwords", user.id, until, count)


def authenticate(
    session: Session, *, username: str, password: str, policy: LockoutPolicy = DEFAULT_LOCKOUT
) -> User:
    """The user for these credentials; the same error, after the same work, whatever was wrong."""
    user = repo.get_user_by_username(session, username)
    if user is None:
        passwords.verify_password(_DUMMY_HASH, password)  # the same cost as for a real user
        raise _wrong_credentials()
    matches = passwords.verify_password(user.password_hash, password)
    if not user.is_active or locked_until(user) is not None:
        # Not counted: guesses during a lock-out neither lengthen it nor learn anything.
        raise _wrong_credentials()
    if not matches:
        _count_wrong_password(session, user, policy)
        raise _wrong_credentials()
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    user.failed_logins, user.lockouts, user.locked_until = 0, 0, None
    user.last_login_at = utcnow()
    session.flush()
    return user


_DUMMY_HASH = passwords.hash_password("not-a-real-password-Aa1!")


def unlock_user(session: Session, *, user_id: int) -> User:
    """End a user's lock-out now and forget their wrong passwords (an administrator's act)."""
    user = get_user_or_raise(session, user_id)
    _ensure_not_system(user)
    if user.failed_logins or user.lockouts or user.locked_until is not None:
        user.failed_logins, user.lockouts, user.locked_until = 0, 0, None
        session.flush()
        log.info("user %s unlocked", user.id)
    return user


def _checked_password(password: str, *, username: str, display_name: str, field: str) -> str:
    problem = passwords.check_password(password, names=(username, display_name))
    if problem is not None:
        label = field.replace("_", " ")
        raise ValidationFailed(f"{label} {problem.message}", field=field, code=problem.code)
    return password


def change_password(
    session: Session,
    principal: Principal,
    *,
    current_password: str,
    new_password: str,
    policy: LockoutPolicy = DEFAULT_LOCKOUT,
) -> User:
    """Change one's own password (it must differ from the current one and pass the policy);
    a password change an administrator asked for is then done, and the user's other browser
    sessions end, this one stays."""
    # The principal carries the user as plain values (Caller): the row itself is loaded here.
    user = get_user_or_raise(session, principal.user.id)
    if not passwords.verify_password(user.password_hash, current_password):
        # Counted like a wrong sign-in: a stolen session must not become a password oracle.
        _count_wrong_password(session, user, policy)
        raise ValidationFailed(
            "the current password is wrong", field="current_password", code="wrong_password"
        )
    if new_password == current_password:
        raise ValidationFailed(
            "new password must differ from the current one",
            field="new_password",
            code="password_unchanged",
        )
    _checked_password(
        new_password,
        username=user.username,
        display_name=user.display_name,
        field="new_password",
    )
    user.password_hash = passwords.hash_password(new_password)
    user.failed_logins = 0
    user.password_change_required = False
    session.flush()
    ended = repo.end_user_sessions(session, user.id, keep=principal.session_id)
    log.info("user %s changed their password (%s other browser sessions ended)", user.id, ended)
    return user


def reset_password(
    session: Session, *, user_id: int, password: str, password_change_required: bool = True
) -> User:
    """Set a user's password (an administrator's act): the lock-out ends, and so do their
    browser sessions; unless told otherwise, the user must choose their own password at the
    next sign-in."""
    user = get_user_or_raise(session, user_id)
    _ensure_not_system(user)
    _checked_password(
        password, username=user.username, display_name=user.display_name, field="password"
    )
    user.password_hash = passwords.hash_password(password)
    user.failed_logins, user.lockouts, user.locked_until = 0, 0, None
    user.password_change_required = password_change_required
    session.flush()
    repo.end_user_sessions(session, user.id)
    return user


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
    unique_name: bool = False,
    issued_by: int | None = None,
) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the one-time plaintext ``rd_<prefix>_<secret>``.

    With ``unique_name``, a name one of the user's live tokens already has is refused (the
    browser form asks for it: posting it again must not issue a second token). ``issued_by``:
    who asks, when not the owner; such a token carries the integration bundles at most (what
    it does is recorded as its owner's act, so an administrator must not mint a credit
    manager's approvals)."""
    if not user.is_active or user.username == SYSTEM_USERNAME:
        raise Conflict(
            f"user {user.username!r} is disabled: enable the account first",
            field="user_id",
            code="user_disabled",
        )
    if unique_name:
        # The owner's row locked first: a form posted twice at once issues one token.
        repo.get_user(session, user.id, lock=True)
    if unique_name and name in repo.live_token_names(session, user.id, now=utcnow()):
        raise Conflict(
            f"{user.username!r} already has a live token named {name!r}",
            field="name",
            code="token_name_taken",
        )
    try:
        perms = parse_scopes(scopes)
    except ValueError as exc:
        raise ValidationFailed(
            f"unknown scope: {exc}", field="scopes", code="unknown_scope"
        ) from exc
    if issued_by is not None and issued_by != user.id:
        beyond = sorted(p.value for p in perms - DELEGABLE_SCOPES)
        if beyond:
            raise ValidationFailed(
                f"a token issued for another user may carry the read and intake scopes only, "
                f"not {', '.join(beyond)}",
                field="scopes",
                code="scope_not_delegable",
            )
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


def scope_choices() -> list[str]:
    """Every scope a token may carry: the bundles, then each permission."""
    return [*SCOPE_BUNDLES, *(p.value for p in Permission)]


def scope_choices_for(owner: User | Caller, *, issued_by: int | None = None) -> list[str]:
    """The scopes worth offering for a token of this owner: those their role holds and, when
    someone else issues it, only the delegable ones (what :func:`issue_token` accepts). A
    bundle is offered when it gives the owner something; the token gets only the part of it
    the role holds."""
    allowed = permissions_for(owner.role)
    delegated = issued_by is not None and issued_by != owner.id
    if delegated:
        allowed = allowed & DELEGABLE_SCOPES
    bundles = [
        name
        for name, perms in SCOPE_BUNDLES.items()
        if perms & allowed and not (delegated and perms - DELEGABLE_SCOPES)
    ]
    return [*bundles, *(p.value for p in Permission if p in allowed)]


def system_principal(session: Session, user: User) -> Principal:
    """Full permissions of a user's role, for CLI commands run by an operator."""
    return principal_for(session, user, via="system")
