"""Accounts in the browser: the administrator's user list (with lock-outs to end) and each
user's own password."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from riskdesk.db import SessionDep
from riskdesk.kit.errors import PermissionDenied, RiskdeskError, ValidationFailed
from riskdesk.kit.timeutil import utcnow
from riskdesk.kit.validation import PathId
from riskdesk.security import passwords
from riskdesk.security import service as security_service
from riskdesk.security.deps import CanUsersManage, CanUsersRead, CurrentPrincipal
from riskdesk.security.permissions import Permission
from riskdesk.security.service import Principal
from riskdesk.ui.pages import FormDep
from riskdesk.ui.render import render

router = APIRouter(include_in_schema=False)


@router.get("/users", response_class=HTMLResponse)
def users_page(
    request: Request,
    session: SessionDep,
    principal: CanUsersRead,
    done: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """Every user with their state: active, disabled, or locked out until when."""
    now = utcnow()
    rows = [
        (u, security_service.account_state(u, now), security_service.locked_until(u, now))
        for u in security_service.list_users(session)
    ]
    return render(
        request,
        "users.html",
        principal,
        rows=rows,
        can_unlock=principal.can(Permission.USERS_MANAGE),
        done=done if done == "unlocked" else None,
    )


@router.post("/users/{user_id}/unlock")
def unlock_user(user_id: PathId, session: SessionDep, principal: CanUsersManage) -> Response:
    """End a lock-out now (the audit log records who did)."""
    security_service.unlock_user(session, user_id=user_id)
    return RedirectResponse("/users?done=unlocked", status_code=303)


def _password_page(
    request: Request,
    principal: Principal,
    *,
    status_code: int = 200,
    error: RiskdeskError | None = None,
    changed: bool = False,
) -> Response:
    return render(
        request,
        "password.html",
        principal,
        status_code=status_code,
        error=error,
        changed=changed,
        min_length=passwords.MIN_LENGTH,
    )


def _session_only(principal: Principal) -> None:
    if principal.via != "session":
        raise PermissionDenied("sign in to change your password", code="permission_denied")


@router.get("/me/password", response_class=HTMLResponse)
def password_page(request: Request, principal: CurrentPrincipal, changed: bool = False) -> Response:
    """The form to change one's own password."""
    _session_only(principal)
    return _password_page(request, principal, changed=changed)


@router.post("/me/password", response_class=HTMLResponse)
def change_password(
    request: Request, session: SessionDep, principal: CurrentPrincipal, form: FormDep
) -> Response:
    """Change one's own password (the current one first); other sessions end."""
    _session_only(principal)
    values: dict[str, Any] = {
        k: form.get(k) if isinstance(form.get(k), str) else ""
        for k in ("current_password", "new_password", "confirm_password")
    }
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
        return _password_page(request, principal, status_code=exc.status_code, error=exc)
    return RedirectResponse("/me/password?changed=true", status_code=303)
