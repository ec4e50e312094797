"""Signing in and out, the language switch, and / (each role's home)."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from riskdesk.audit.trail import set_context
from riskdesk.db import SessionDep
from riskdesk.kit.errors import NotAuthenticated
from riskdesk.security import service as security_service
from riskdesk.security.deps import (
    SESSION_COOKIE,
    CurrentPrincipal,
    cookie_serializer,
    landing_after_sign_in,
    safe_next,
)
from riskdesk.security.throttle import LoginThrottle
from riskdesk.ui import home_pages
from riskdesk.ui.i18n import LANG_COOKIE, LOCALES
from riskdesk.ui.render import render

router = APIRouter(include_in_schema=False)


PRE_CSRF_COOKIE = "rd_login_csrf"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None, error: str | None = None) -> Response:
    """The sign-in form."""
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        None,
        next=safe_next(next),
        login_csrf=token,
        error=error if error == "failed" else None,
    )
    response.set_cookie(
        PRE_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.app.state.settings.cookie_secure,
        max_age=3600,
    )
    return response


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    csrf_token: Annotated[str, Form(max_length=100)],
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    """Check the credentials and start a session."""
    expected = request.cookies.get(PRE_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, csrf_token):
        return RedirectResponse(f"/login?next={quote(safe_next(next))}", status_code=303)
    throttle: LoginThrottle = request.app.state.login_throttle
    address = request.client.host if request.client else "unknown"
    wait = throttle.retry_after(session, address)
    if wait is not None:
        refused = render(
            request, "login.html", None, status_code=429, next=safe_next(next), error="throttled"
        )
        refused.headers["Retry-After"] = str(wait)
        return refused
    settings = request.app.state.settings
    try:
        user = security_service.authenticate(
            session,
            username=username,
            password=password,
            policy=security_service.LockoutPolicy.from_settings(settings),
        )
        set_context(session, actor_id=user.id, actor=user.username)
    except NotAuthenticated:
        throttle.failed(session, address)
        session.commit()  # keep the failed-login count even though we answer with an error
        # One answer for a wrong password, an unknown name and a locked or disabled account.
        return RedirectResponse(
            f"/login?error=failed&next={quote(safe_next(next))}", status_code=303
        )
    row = security_service.start_session(session, user=user, hours=settings.session_hours)
    response = RedirectResponse(landing_after_sign_in(user, safe_next(next)), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie_serializer(request).dumps(row.id),
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        max_age=settings.session_hours * 3600,
    )
    response.delete_cookie(PRE_CSRF_COOKIE)
    return response


@router.post("/logout")
def logout(session: SessionDep, principal: CurrentPrincipal) -> Response:
    """End the session."""
    if principal.session_id:
        security_service.end_session(session, principal.session_id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/lang/{locale}")
def set_language(locale: str, next: str | None = None) -> Response:
    """Switch the UI language."""
    response = RedirectResponse(safe_next(next), status_code=303)
    if locale in LOCALES:
        response.set_cookie(LANG_COOKIE, locale, max_age=365 * 86400, samesite="lax")
    return response


@router.get("/")
def home(principal: CurrentPrincipal) -> Response:
    """Start at the role's home page (credit managers: the portfolio); without the
    permission that page needs, at the customer list."""
    return RedirectResponse(home_pages.home_of(principal), status_code=303)
