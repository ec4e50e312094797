"""Who is calling: bearer tokens for machines, signed session cookies (with CSRF) for people."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm import Session

from riskdesk.audit.trail import set_context
from riskdesk.db import SessionDep, writes_at_once
from riskdesk.kit.errors import NotAuthenticated, PasswordChangeRequired, PermissionDenied
from riskdesk.models import User
from riskdesk.security import service
from riskdesk.security.permissions import Permission
from riskdesk.security.service import Principal

SESSION_COOKIE = "rd_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FORM_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Where a browser session whose password an administrator set may still go: the page (and the
# API call) that changes it, and signing out. Everything else answers 403
# password_change_required, which the browser shows as a redirect to the page.
PASSWORD_CHANGE_PAGE = "/me/password"  # noqa: S105  (an address, not a password)
PASSWORD_CHANGE_PATHS = frozenset({PASSWORD_CHANGE_PAGE, "/api/v1/me/password", "/logout"})


def safe_next(target: str | None) -> str:
    """A same-site path to go on to, or ``/`` (the role's home): an open redirect would let a
    link send users anywhere after signing in (``//host`` and ``/\\host`` are other sites
    to a browser)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


def password_page_for(target: str | None) -> str:
    """The password page, remembering where the browser was going (kept through the change)."""
    going = safe_next(target)
    return PASSWORD_CHANGE_PAGE if going == "/" else f"{PASSWORD_CHANGE_PAGE}?next={quote(going)}"


def landing_after_sign_in(user: User, target: str) -> str:
    """Where a browser goes once signed in: the password page first when the password is one
    an administrator set (then on to ``target``), else where it was going."""
    return password_page_for(target) if user.password_change_required else target


def cookie_serializer(request: Request) -> URLSafeSerializer:
    """Signs and checks the session cookie with the app's secret key."""
    return URLSafeSerializer(request.app.state.secret_key, salt="riskdesk-session")


async def csrf_candidate(request: Request) -> str | None:
    """The CSRF token a browser sent with an unsafe request (header, or form field)."""
    if request.method in SAFE_METHODS:
        return None
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FORM_FIELD)
            sent = value if isinstance(value, str) else None
    return sent


# The two ways in, as the OpenAPI document declares them: every operation that needs a caller
# lists both (either will do). They read nothing get_principal does not read itself, and never
# refuse on their own (auto_error=False): get_principal decides.
bearer_token = HTTPBearer(
    scheme_name="bearerToken",
    description="An API token, sent as `Authorization: Bearer rd_<prefix>_<secret>` "
    "(issued by `POST /api/v1/tokens` or `riskdesk users token`); its scopes narrow the role.",
    auto_error=False,
)
session_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    scheme_name="sessionCookie",
    description="The browser session set by signing in to the UI (`/login`). Requests other "
    "than GET, HEAD and OPTIONS also need the session's CSRF token in the `X-CSRF-Token` header.",
    auto_error=False,
)


# A plain function, so FastAPI runs it in the thread pool: its queries may wait on a row lock,
# and waiting on the event loop would stall every other request, including the one holding it.
def get_principal(
    request: Request,
    session: SessionDep,
    csrf: Annotated[str | None, Depends(csrf_candidate)],
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_token)],
    _cookie: Annotated[str | None, Security(session_cookie)],
) -> Principal:
    """The authenticated caller, or NotAuthenticated."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        found = service.resolve_token(session, auth[7:].strip())
        if found is None:
            raise NotAuthenticated("invalid, expired or revoked API token", code="invalid_token")
        token, user = found
        principal = service.principal_for(
            session, user, via="token", scopes=token.scopes, token_id=token.id
        )
        set_context(session, actor_id=user.id, actor=user.username)
        request.state.principal = principal
        if not writes_at_once(request):
            # The token's bookkeeping may have written: on SQLite a reading request (a GET, a
            # reads-first POST) would then hold the write lock for as long as it runs.
            session.commit()
        return principal
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        try:
            session_id = cookie_serializer(request).loads(cookie)
        except BadSignature:
            session_id = None
        found_session = service.resolve_session(session, session_id) if session_id else None
        if found_session is not None:
            row, user = found_session
            if request.method not in SAFE_METHODS and not (
                csrf is not None and hmac.compare_digest(csrf, row.csrf_token)
            ):
                raise PermissionDenied(
                    "missing or wrong CSRF token; reload the page", code="csrf_failed"
                )
            principal = service.principal_for(
                session, user, via="session", session_id=row.id, csrf_token=row.csrf_token
            )
            set_context(session, actor_id=user.id, actor=user.username)
            request.state.principal = principal
            # Tokens are for systems and never stopped here; a person signed in with a password
            # an administrator set (and so knows) first chooses their own.
            if user.password_change_required and request.url.path not in PASSWORD_CHANGE_PATHS:
                raise PasswordChangeRequired(
                    "your password was set by an administrator: choose your own first "
                    f"({PASSWORD_CHANGE_PAGE}, or PUT /api/v1/me/password)"
                )
            return principal
    raise NotAuthenticated("sign in, or send an API token as 'Authorization: Bearer ...'")


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def signed_in_principal(request: Request, session: Session) -> Principal | None:
    """The browser session's principal, or None: for pages drawn where no route ran (an error
    page for an unknown address), so they still show who is signed in. Checks no CSRF token,
    so only for drawing a page, never for acting."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    try:
        session_id = cookie_serializer(request).loads(cookie)
    except BadSignature:
        return None
    found = service.resolve_session(session, session_id) if isinstance(session_id, str) else None
    if found is None:
        return None
    row, user = found
    return service.principal_for(
        session, user, via="session", session_id=row.id, csrf_token=row.csrf_token
    )


def require(permission: Permission) -> Callable[..., Principal]:
    """A dependency that lets the call through only with ``permission``."""

    def check(principal: CurrentPrincipal) -> Principal:
        if not principal.can(permission):
            raise PermissionDenied(
                f"this needs the permission {permission.value!r}", code="permission_denied"
            )
        return principal

    check.__name__ = f"require_{permission.name.lower()}"
    # Read by the permission matrix (security/matrix.py): what this dependency requires.
    setattr(check, "requires", (permission,))  # noqa: B010
    return check


# One alias per permission: `principal: CanReadCustomers` in an endpoint signature.
CanAuditRead = Annotated[Principal, Depends(require(Permission.AUDIT_READ))]
CanEclRead = Annotated[Principal, Depends(require(Permission.ECL_READ))]
CanEclRun = Annotated[Principal, Depends(require(Permission.ECL_RUN))]
CanSystemMonitor = Annotated[Principal, Depends(require(Permission.SYSTEM_MONITOR))]
CanPersonalDataReveal = Annotated[Principal, Depends(require(Permission.PII_REVEAL))]
CanPrivacyManage = Annotated[Principal, Depends(require(Permission.PRIVACY_MANAGE))]
CanCustomersRead = Annotated[Principal, Depends(require(Permission.CUSTOMERS_READ))]
CanCustomersWrite = Annotated[Principal, Depends(require(Permission.CUSTOMERS_WRITE))]
CanCustomersMerge = Annotated[Principal, Depends(require(Permission.CUSTOMERS_MERGE))]
CanCreditProfileWrite = Annotated[Principal, Depends(require(Permission.CREDIT_PROFILE_WRITE))]
CanChangesApprove = Annotated[Principal, Depends(require(Permission.CHANGES_APPROVE))]
CanDocumentsRead = Annotated[Principal, Depends(require(Permission.DOCUMENTS_READ))]
CanDocumentsWrite = Annotated[Principal, Depends(require(Permission.DOCUMENTS_WRITE))]
CanEventsRead = Annotated[Principal, Depends(require(Permission.EVENTS_READ))]
CanEventsWrite = Annotated[Principal, Depends(require(Permission.EVENTS_WRITE))]
CanServiceEventsWrite = Annotated[Principal, Depends(require(Permission.SERVICE_EVENTS_WRITE))]
CanInteractionsWrite = Annotated[Principal, Depends(require(Permission.INTERACTIONS_WRITE))]
CanImportsRun = Annotated[Principal, Depends(require(Permission.IMPORTS_RUN))]
CanUsersRead = Annotated[Principal, Depends(require(Permission.USERS_READ))]
CanUsersManage = Annotated[Principal, Depends(require(Permission.USERS_MANAGE))]
CanTokensManage = Annotated[Principal, Depends(require(Permission.TOKENS_MANAGE))]
CanCreditCheck = Annotated[Principal, Depends(require(Permission.CREDIT_CHECK))]
CanCreditDecisionsResolve = Annotated[
    Principal, Depends(require(Permission.CREDIT_DECISIONS_RESOLVE))
]
CanExposureManage = Annotated[Principal, Depends(require(Permission.EXPOSURE_MANAGE))]
CanCreditPolicyManage = Annotated[Principal, Depends(require(Permission.CREDIT_POLICY_MANAGE))]
CanScoringManage = Annotated[Principal, Depends(require(Permission.SCORING_MANAGE))]
CanLimitRequestsCreate = Annotated[Principal, Depends(require(Permission.LIMIT_REQUESTS_CREATE))]
CanLimitRequestsApprove = Annotated[Principal, Depends(require(Permission.LIMIT_REQUESTS_APPROVE))]
CanReviewsPerform = Annotated[Principal, Depends(require(Permission.REVIEWS_PERFORM))]
CanRulesManage = Annotated[Principal, Depends(require(Permission.RULES_MANAGE))]
CanAlertsWork = Annotated[Principal, Depends(require(Permission.ALERTS_WORK))]
CanComplaintsWork = Annotated[Principal, Depends(require(Permission.COMPLAINTS_WORK))]
CanPortfolioRead = Annotated[Principal, Depends(require(Permission.PORTFOLIO_READ))]
CanIntegrationsManage = Annotated[Principal, Depends(require(Permission.INTEGRATIONS_MANAGE))]
CanSettingsManage = Annotated[Principal, Depends(require(Permission.SETTINGS_MANAGE))]
