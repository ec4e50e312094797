"""API: who am I, users and tokens."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from riskdesk.db import SessionDep
from riskdesk.kit.errors import NotFound, PermissionDenied, ValidationFailed
from riskdesk.kit.validation import PathId
from riskdesk.models import User
from riskdesk.security import service
from riskdesk.security.deps import CanUsersManage, CanUsersRead, CurrentPrincipal
from riskdesk.security.permissions import Permission
from riskdesk.security.schemas import (
    Me,
    PasswordChange,
    PasswordReset,
    TokenCreate,
    TokenIssued,
    TokenRead,
    UserAccount,
    UserCreate,
    UserRead,
    UserUpdate,
)

router = APIRouter(tags=["users"])


@router.get("/me", response_model=Me)
def me(principal: CurrentPrincipal) -> Me:
    """The caller and their effective permissions."""
    return Me(
        **UserRead.model_validate(principal.user).model_dump(),
        permissions=sorted(p.value for p in principal.permissions),
        via=principal.via,
        time_zone=principal.user.time_zone,
    )


def _account(user: User) -> UserAccount:
    return UserAccount(
        **UserRead.model_validate(user).model_dump(),
        state=service.account_state(user),
        locked_until=service.locked_until(user),
        failed_logins=user.failed_logins,
        last_login_at=user.last_login_at,
        password_change_required=user.password_change_required,
    )


@router.put("/me/password", status_code=204)
def change_my_password(
    body: PasswordChange, request: Request, session: SessionDep, principal: CurrentPrincipal
) -> Response:
    """Change your own password (the current one first, then a new one that differs from it
    and passes the password policy); your other browser sessions end. A session whose password
    an administrator set may call nothing else (403 ``password_change_required``) until then."""
    if principal.via == "token":
        raise PermissionDenied("tokens cannot change passwords; sign in", code="permission_denied")
    try:
        service.change_password(
            session,
            principal,
            current_password=body.current_password,
            new_password=body.new_password,
            policy=service.LockoutPolicy.from_settings(request.app.state.settings),
        )
    except ValidationFailed as exc:
        if exc.code == "wrong_password":
            session.commit()  # the wrong guess counts towards a lock-out, though we refuse
        raise
    return Response(status_code=204)


@router.get("/users", response_model=list[UserAccount])
def list_users(session: SessionDep, _: CanUsersRead) -> list[UserAccount]:
    """All users, with the state of their accounts (active, disabled, locked until when)."""
    return [_account(u) for u in service.list_users(session)]


@router.post("/users/{user_id}/unlock", response_model=UserAccount)
def unlock_user(user_id: PathId, session: SessionDep, _: CanUsersManage) -> UserAccount:
    """End a user's lock-out now and forget their wrong passwords."""
    return _account(service.unlock_user(session, user_id=user_id))


@router.put("/users/{user_id}/password", response_model=UserAccount)
def reset_password(
    user_id: PathId, body: PasswordReset, session: SessionDep, _: CanUsersManage
) -> UserAccount:
    """Set a user's password (for a forgotten one); their lock-out and sessions end, and they
    must choose their own password at the next sign-in."""
    return _account(service.reset_password(session, user_id=user_id, password=body.password))


@router.patch("/users/{user_id}", response_model=UserAccount)
def update_user(
    user_id: PathId, body: UserUpdate, session: SessionDep, _: CanUsersManage
) -> UserAccount:
    """Change a user's display name, role, team or e-mail, or disable (``is_active: false``)
    or enable the account. A disabled user cannot sign in, their browser sessions end and
    their API tokens stop working until the account is enabled again. Refused (409
    ``last_admin``) when no active administrator would be left."""
    return _account(service.update_user(session, user_id=user_id, changes=body))


@router.post("/users", response_model=UserRead, status_code=201)
def create_user(body: UserCreate, session: SessionDep, _: CanUsersManage) -> UserRead:
    """Create a user; they must choose their own password at the first sign-in."""
    user = service.create_user(
        session,
        username=body.username,
        display_name=body.display_name,
        role=body.role,
        password=body.password,
        team=body.team,
        email=body.email,
        password_change_required=True,
    )
    return UserRead.model_validate(user)


@router.get("/tokens", response_model=list[TokenRead])
def list_tokens(session: SessionDep, principal: CurrentPrincipal) -> list[TokenRead]:
    """Your tokens; all tokens for those who manage them."""
    user_id = None if principal.can(Permission.TOKENS_MANAGE) else principal.user_id
    return [TokenRead.model_validate(t) for t in service.list_tokens(session, user_id=user_id)]


@router.post("/tokens", response_model=TokenIssued, status_code=201)
def create_token(
    body: TokenCreate, session: SessionDep, principal: CurrentPrincipal
) -> TokenIssued:
    """Issue a token for yourself, or (with `tokens:manage`) for another user with the read and
    intake scopes at most; it can never do more than its user's role allows. The secret is in
    the answer once, and never again."""
    if principal.via == "token":
        raise PermissionDenied("tokens cannot mint tokens; sign in", code="permission_denied")
    owner: User | service.Caller = principal.user
    if body.user_id is not None and body.user_id != principal.user_id:
        if not principal.can(Permission.TOKENS_MANAGE):
            raise PermissionDenied(
                "issuing another user's token needs the permission 'tokens:manage'",
                code="permission_denied",
            )
        owner = service.get_user_or_raise(session, body.user_id)
    token, raw = service.issue_token(
        session,
        user=owner,
        name=body.name,
        scopes=body.scopes,
        expires_in_days=body.expires_in_days,
        issued_by=principal.user_id,
    )
    return TokenIssued(**TokenRead.model_validate(token).model_dump(), token=raw)


@router.delete("/tokens/{token_id}", response_model=TokenRead)
def revoke_token(token_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> TokenRead:
    """Revoke a token (your own, or any with tokens:manage)."""
    owned = {t.id for t in service.list_tokens(session, user_id=principal.user_id)}
    if token_id not in owned and not principal.can(Permission.TOKENS_MANAGE):
        raise NotFound(f"no token {token_id}", field="token_id")
    return TokenRead.model_validate(service.revoke_token(session, token_id=token_id))
