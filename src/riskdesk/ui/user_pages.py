"""Accounts in the browser: the administrator's users (create, change role and team, disable
and enable, end a lock-out, reset a password) and API tokens (issue, shown once; revoke), and
each user's own password. The same service functions as the API, so the same rules and the
same audit entries."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from riskdesk.db import SessionDep
from riskdesk.kit.errors import Conflict, PermissionDenied, RiskdeskError, ValidationFailed
from riskdesk.kit.timeutil import as_utc, utcnow
from riskdesk.kit.validation import PathId
from riskdesk.models import ApiToken
from riskdesk.security import passwords
from riskdesk.security import service as security_service
from riskdesk.security.deps import (
    CanTokensManage,
    CanUsersManage,
    CanUsersRead,
    CurrentPrincipal,
    safe_next,
)
from riskdesk.security.permissions import Permission, Role
from riskdesk.security.schemas import TokenCreate, UserCreate, UserUpdate
from riskdesk.security.service import Principal
from riskdesk.ui.forms import FormDep, FormErrors, filled, form_failure
from riskdesk.ui.render import render

router = APIRouter(include_in_schema=False)


USER_FIELDS = ("username", "display_name", "email", "role", "team")
USER_DONE = ("unlocked", "saved", "disabled", "enabled")
TOKEN_DONE = ("revoked",)
# A page that shows a secret once must not be kept by the browser or a proxy.
NO_STORE = {"Cache-Control": "no-store"}


def _users_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    status_code: int = 200,
    done: str | None = None,
    form_errors: FormErrors | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    now = utcnow()
    rows = [
        (u, security_service.account_state(u, now), security_service.locked_until(u, now))
        for u in security_service.list_users(session)
    ]
    return render(
        request,
        "users.html",
        principal,
        status_code=status_code,
        rows=rows,
        can_manage=principal.can(Permission.USERS_MANAGE),
        can_unlock=principal.can(Permission.USERS_MANAGE),
        done=done if done in USER_DONE else None,
        roles=list(Role),
        form_errors=form_errors,
        values=values or {},
        system_user=security_service.SYSTEM_USERNAME,
    )


@router.get("/users", response_class=HTMLResponse)
def users_page(
    request: Request,
    session: SessionDep,
    principal: CanUsersRead,
    done: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """Every user with their state: active, disabled, or locked out until when; for those who
    manage users, the form to create one."""
    return _users_page(request, session, principal, done=done)


@router.post("/users", response_class=HTMLResponse)
def create_user(
    request: Request, session: SessionDep, principal: CanUsersManage, form: FormDep
) -> Response:
    """Create a user with a generated first password, shown once on the next page; the user
    replaces it with their own at the first sign-in."""
    values = filled(form, USER_FIELDS)
    password = security_service.generate_password()
    try:
        body = UserCreate.model_validate({**values, "password": password})
        user = security_service.create_user(
            session,
            username=body.username,
            display_name=body.display_name,
            role=body.role,
            password=body.password,
            team=body.team,
            email=body.email,
            password_change_required=True,
        )
    except (ValidationError, RiskdeskError) as exc:
        status, errors = form_failure(session, exc)
        return _users_page(
            request, session, principal, status_code=status, form_errors=errors, values=values
        )
    return _user_page(request, session, principal, user.id, new_password=password, created=True)


def _user_page(
    request: Request,
    session: Session,
    principal: Principal,
    user_id: int,
    *,
    status_code: int = 200,
    done: str | None = None,
    form_errors: FormErrors | None = None,
    new_password: str | None = None,
    created: bool = False,
) -> Response:
    user = security_service.get_user_or_raise(session, user_id)
    now = utcnow()
    tokens = security_service.list_tokens(session, user_id=user.id)
    response = render(
        request,
        "user.html",
        principal,
        status_code=status_code,
        user=user,
        state=security_service.account_state(user, now),
        until=security_service.locked_until(user, now),
        tokens=tokens,
        token_states={t.id: _token_state(t, now) for t in tokens},
        roles=list(Role),
        done=done if done in USER_DONE else None,
        form_errors=form_errors,
        new_password=new_password,
        created=created,
        stamp=security_service.password_stamp(user),
        is_system=user.username == security_service.SYSTEM_USERNAME,
        is_me=user.id == principal.user_id,
        can_tokens=principal.can(Permission.TOKENS_MANAGE),
    )
    if new_password is not None:
        response.headers.update(NO_STORE)
    return response


@router.get("/users/{user_id}", response_class=HTMLResponse)
def user_page(
    request: Request,
    user_id: PathId,
    session: SessionDep,
    principal: CanUsersManage,
    done: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """One user: details, role and team, the account's state and its actions, their tokens."""
    return _user_page(request, session, principal, user_id, done=done)


def _refused(
    request: Request, session: Session, principal: Principal, user_id: int, exc: Exception
) -> Response:
    status, errors = form_failure(session, exc)
    return _user_page(request, session, principal, user_id, status_code=status, form_errors=errors)


@router.post("/users/{user_id}", response_class=HTMLResponse)
def update_user(
    request: Request, user_id: PathId, session: SessionDep, principal: CanUsersManage, form: FormDep
) -> Response:
    """Save a user's display name, e-mail, role and team (an empty team or e-mail clears it)."""
    changes: dict[str, Any] = filled(form, ("display_name", "role"))
    for name in ("team", "email"):  # sent empty: cleared; not sent: left alone
        value = form.get(name)
        if isinstance(value, str):
            changes[name] = value.strip() or None
    try:
        body = UserUpdate.model_validate(changes)
        security_service.update_user(session, user_id=user_id, changes=body)
    except (ValidationError, RiskdeskError) as exc:
        return _refused(request, session, principal, user_id, exc)
    return RedirectResponse(f"/users/{user_id}?done=saved", status_code=303)


def _set_active(
    request: Request, session: Session, principal: Principal, user_id: int, active: bool
) -> Response:
    try:
        security_service.update_user(session, user_id=user_id, changes=UserUpdate(is_active=active))
    except RiskdeskError as exc:
        return _refused(request, session, principal, user_id, exc)
    done = "enabled" if active else "disabled"
    return RedirectResponse(f"/users/{user_id}?done={done}", status_code=303)


@router.post("/users/{user_id}/disable", response_class=HTMLResponse)
def disable_user(
    request: Request, user_id: PathId, session: SessionDep, principal: CanUsersManage
) -> Response:
    """Disable an account: no sign-in, sessions end, tokens stop (never the last admin)."""
    return _set_active(request, session, principal, user_id, False)


@router.post("/users/{user_id}/enable", response_class=HTMLResponse)
def enable_user(
    request: Request, user_id: PathId, session: SessionDep, principal: CanUsersManage
) -> Response:
    """Enable a disabled account again (its tokens work again)."""
    return _set_active(request, session, principal, user_id, True)


@router.post("/users/{user_id}/password", response_class=HTMLResponse)
def reset_password(
    request: Request, user_id: PathId, session: SessionDep, principal: CanUsersManage, form: FormDep
) -> Response:
    """Give a user a new generated password, shown once, which they replace with their own at
    the next sign-in; their lock-out and sessions end."""
    stamp = form.get("form_key")
    try:
        # Locked: a reset posted twice at once compares its stamp one after the other.
        user = security_service.get_user_or_raise(session, user_id, lock=True)
        if user.username == security_service.SYSTEM_USERNAME:
            raise Conflict(
                "the automatic user belongs to Riskdesk itself and cannot be changed",
                field="user_id",
                code="system_user",
            )
        if stamp != security_service.password_stamp(user):
            # The form was posted before (or the password changed since it was drawn).
            raise Conflict(
                "the password was already reset; reload the page to reset it again",
                code="stale_form",
            )
        password = security_service.generate_password()
        security_service.reset_password(session, user_id=user_id, password=password)
    except RiskdeskError as exc:
        return _refused(request, session, principal, user_id, exc)
    return _user_page(request, session, principal, user_id, new_password=password)


@router.post("/users/{user_id}/unlock")
def unlock_user(
    request: Request, user_id: PathId, session: SessionDep, principal: CanUsersManage
) -> Response:
    """End a lock-out now (the audit log records who did)."""
    security_service.unlock_user(session, user_id=user_id)
    back = request.query_params.get("back")
    if back == "user":
        return RedirectResponse(f"/users/{user_id}?done=unlocked", status_code=303)
    return RedirectResponse("/users?done=unlocked", status_code=303)


# ---------------------------------------------------------------- API tokens


def _token_state(token: ApiToken, now: dt.datetime) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and as_utc(token.expires_at) <= now:
        return "expired"
    return "live"


def _scope_choices(
    session: Session, principal: Principal, owner_id: str | int | None
) -> tuple[Any, list[str]]:
    """The chosen owner (None when none, unknown, disabled or the system user: none of them
    may be given a token) and the scopes their token may carry."""
    owner = None
    if owner_id is not None and str(owner_id).isdigit() and 0 < int(owner_id) < 2**31:
        owner = security_service.get_user(session, int(owner_id))
    if owner is None or not owner.is_active or owner.username == security_service.SYSTEM_USERNAME:
        return None, []
    return owner, security_service.scope_choices_for(owner, issued_by=principal.user_id)


def _tokens_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    status_code: int = 200,
    done: str | None = None,
    form_errors: FormErrors | None = None,
    values: dict[str, Any] | None = None,
    issued: tuple[Any, str] | None = None,
    for_user: int | None = None,
) -> Response:
    now = utcnow()
    tokens = security_service.list_tokens(session)
    users = security_service.list_users(session)
    owners = {u.id: u for u in users}
    values = values or {"user_id": str(for_user) if for_user else ""}
    owner, choices = _scope_choices(session, principal, values.get("user_id"))
    response = render(
        request,
        "tokens.html",
        principal,
        status_code=status_code,
        tokens=sorted(tokens, key=lambda t: t.id, reverse=True),
        states={t.id: _token_state(t, now) for t in tokens},
        owners=owners,
        candidates=[
            u for u in users if u.is_active and u.username != security_service.SYSTEM_USERNAME
        ],
        scope_owner=owner,
        scope_choices=choices,
        done=done if done in TOKEN_DONE else None,
        form_errors=form_errors,
        values=values,
        issued=issued,
    )
    if issued is not None:
        response.headers.update(NO_STORE)
    return response


@router.get("/tokens", response_class=HTMLResponse)
def tokens_page(
    request: Request,
    session: SessionDep,
    principal: CanTokensManage,
    done: Annotated[str | None, Query(max_length=32)] = None,
    user: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    user_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Response:
    """Every API token (owner, name, scopes, created, last used, expiry, revoked) and the form
    to issue one (``user`` or ``user_id``: the owner chosen, whose scopes the form offers)."""
    return _tokens_page(request, session, principal, done=done, for_user=user_id or user)


@router.get("/tokens/scopes", response_class=HTMLResponse)
def token_scopes(
    request: Request,
    session: SessionDep,
    principal: CanTokensManage,
    user_id: Annotated[str | None, Query(max_length=12)] = None,
) -> Response:
    """The token form's scope choices for the owner just chosen (htmx swaps them in)."""
    owner, choices = _scope_choices(session, principal, user_id)
    return render(
        request,
        "partials/token_scopes.html",
        principal,
        scope_owner=owner,
        scope_choices=choices,
        values={"scopes": []},
    )


@router.post("/tokens", response_class=HTMLResponse)
def issue_token(
    request: Request, session: SessionDep, principal: CanTokensManage, form: FormDep
) -> Response:
    """Issue a token for a user with the chosen scopes; its secret is shown on the answer only."""
    values: dict[str, Any] = filled(form, ("user_id", "token_name", "expires_in_days"))
    scopes = [s for s in form.getlist("scopes") if isinstance(s, str) and s]
    values["scopes"] = scopes
    try:
        if principal.via == "token":
            raise PermissionDenied("tokens cannot mint tokens; sign in", code="permission_denied")
        body = TokenCreate.model_validate(
            {
                "name": values.get("token_name", ""),
                "scopes": scopes,
                "expires_in_days": values.get("expires_in_days"),
                "user_id": values.get("user_id"),
            }
        )
        if body.user_id is None:
            raise ValidationFailed("choose whose token it is", field="user_id", code="missing")
        owner = security_service.get_user_or_raise(session, body.user_id)
        token, raw = security_service.issue_token(
            session,
            user=owner,
            name=body.name,
            scopes=body.scopes,
            expires_in_days=body.expires_in_days,
            unique_name=True,
            issued_by=principal.user_id,
        )
    except (ValidationError, RiskdeskError) as exc:
        status, errors = form_failure(session, exc)
        errors = [("token_name" if f == "name" else f, r) for f, r in errors]
        return _tokens_page(
            request, session, principal, status_code=status, form_errors=errors, values=values
        )
    return _tokens_page(request, session, principal, issued=(token, raw))


@router.post("/tokens/{token_id}/revoke")
def revoke_token(token_id: PathId, session: SessionDep, principal: CanTokensManage) -> Response:
    """Revoke a token now (revoking it again changes nothing)."""
    security_service.revoke_token(session, token_id=token_id)
    return RedirectResponse("/tokens?done=revoked", status_code=303)


def _password_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    status_code: int = 200,
    error: RiskdeskError | None = None,
    changed: bool = False,
    going: str = "/",
) -> Response:
    user = security_service.get_user_or_raise(session, principal.user_id)
    response = render(
        request,
        "password.html",
        principal,
        status_code=status_code,
        error=error,
        changed=changed,
        going=going,
        forced=user.password_change_required,
        stamp=security_service.password_stamp(user),
        min_length=passwords.MIN_LENGTH,
    )
    response.headers.update(NO_STORE)
    return response


def _session_only(principal: Principal) -> None:
    if principal.via != "session":
        raise PermissionDenied("sign in to change your password", code="permission_denied")


@router.get("/me/password", response_class=HTMLResponse)
def password_page(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    changed: bool = False,
    next: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response:
    """The form to change one's own password; the only page a user whose password an
    administrator set may see until they chose their own (``next``: where they were going)."""
    _session_only(principal)
    return _password_page(request, session, principal, changed=changed, going=safe_next(next))


@router.post("/me/password", response_class=HTMLResponse)
def change_password(
    request: Request, session: SessionDep, principal: CurrentPrincipal, form: FormDep
) -> Response:
    """Change one's own password (the current one first); other sessions end. After a change
    an administrator asked for, on to the page the user was going to (or their home)."""
    _session_only(principal)
    next_field = form.get("next")
    going = safe_next(next_field if isinstance(next_field, str) else None)
    values: dict[str, Any] = {
        k: form.get(k) if isinstance(form.get(k), str) else ""
        for k in ("current_password", "new_password", "confirm_password")
    }
    # Locked: the same form posted twice at once compares its stamp one after the other.
    user = security_service.get_user_or_raise(session, principal.user_id, lock=True)
    forced = user.password_change_required
    stamp = form.get("form_key")
    if isinstance(stamp, str) and stamp != security_service.password_stamp(user):
        # The form was drawn before the password changed: posted again after it worked (or
        # changed in another tab). Nothing to do, and no wrong password to count.
        session.rollback()
        return RedirectResponse("/me/password?changed=true", status_code=303)
    try:
        if len(values["new_password"]) > passwords.MAX_LENGTH:
            raise ValidationFailed(
                "new password is too long", field="new_password", code="password_too_long"
            )
        if values["new_password"] != values["confirm_password"]:
            raise ValidationFailed(
                "the two new passwords differ", field="confirm_password", code="password_mismatch"
            )
        security_service.change_password(
            session,
            principal,
            current_password=values["current_password"][: passwords.MAX_LENGTH],
            new_password=values["new_password"],
            policy=security_service.LockoutPolicy.from_settings(request.app.state.settings),
        )
    except ValidationFailed as exc:
        if exc.code == "wrong_password":
            session.commit()  # the wrong guess counts towards a lock-out
        else:
            session.rollback()
        return _password_page(
            request, session, principal, status_code=exc.status_code, error=exc, going=going
        )
    return RedirectResponse(going if forced else "/me/password?changed=true", status_code=303)
