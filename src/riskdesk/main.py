"""The web application: API under /api/v1, the browser UI at /."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from pydantic import BaseModel
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from riskdesk import __version__, bootstrap
from riskdesk.alerts import delivery
from riskdesk.alerts.endpoints import router as alerts_router
from riskdesk.audit.endpoints import router as audit_router
from riskdesk.audit.tasks import CheckpointWorker
from riskdesk.audit.trail import route_template
from riskdesk.company.endpoints import router as company_router
from riskdesk.complaints.endpoints import router as complaints_router
from riskdesk.complaints.tasks import SurgeWorker
from riskdesk.config import Settings, get_settings
from riskdesk.credit.endpoints import router as credit_router
from riskdesk.customers.endpoints import router as customers_router
from riskdesk.db import DbLimits, SessionDep, answers, make_engine, make_sessionmaker
from riskdesk.ecl.endpoints import router as ecl_router
from riskdesk.events.endpoints import router as events_router
from riskdesk.home.endpoints import router as home_router
from riskdesk.indicators.endpoints import router as indicators_router
from riskdesk.jobs import kinds as job_kinds
from riskdesk.jobs import service as job_service
from riskdesk.jobs.endpoints import router as jobs_router
from riskdesk.jobs.tasks import JobReaper, JobWorker
from riskdesk.kit import metrics
from riskdesk.kit.errors import (
    ErrorAnswer,
    ErrorDetail,
    NotAuthenticated,
    PasswordChangeRequired,
    RiskdeskError,
)
from riskdesk.kit.validation import (
    BODY_MAX_DEPTH,
    json_body_too_deep,
    path_text,
    refuse_control_characters,
)
from riskdesk.monitoring.endpoints import router as monitoring_router
from riskdesk.monitoring.tasks import BacktestWorker
from riskdesk.pipeline import processing
from riskdesk.pipeline.bus import NatsBus
from riskdesk.pipeline.endpoints import router as imports_router
from riskdesk.pipeline.tasks import BusWorker, EventWorker, ImportReaper
from riskdesk.policy.endpoints import router as policy_router
from riskdesk.portfolio.endpoints import router as portfolio_router
from riskdesk.portfolio.migration_endpoints import router as migration_router
from riskdesk.portfolio.tasks import MonthEndWorker
from riskdesk.privacy.endpoints import router as privacy_router
from riskdesk.redis_store import SharedRedis
from riskdesk.redis_store import connect as connect_redis
from riskdesk.relationship.endpoints import router as relationship_router
from riskdesk.reports.committee_endpoints import router as committee_router
from riskdesk.reports.endpoints import router as reports_router
from riskdesk.reports.subscription_endpoints import router as subscription_router
from riskdesk.reports.tasks import ReportScheduler
from riskdesk.scoring.endpoints import router as scoring_router
from riskdesk.security import storage
from riskdesk.security.deps import CanSystemMonitor, password_page_for
from riskdesk.security.endpoints import router as security_router
from riskdesk.security.throttle import make_throttle

log = logging.getLogger("riskdesk")


class _NoQueryStrings(logging.Filter):
    """Drops query strings from access-log lines: a search (?q=) may carry a phone number or
    an ID number, which must not end up in the server's logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


ACCESS_LOG_FILTER = _NoQueryStrings()
API_PREFIX = "/api/v1"

SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' "
    "'unsafe-inline'; script-src 'self'; frame-ancestors 'none'; form-action 'self'",
}


# The API docs page: Swagger UI's files from ui/static/vendor, started by a static script.
# Its policy allows exactly that: scripts and styles from this site, its SVG icons as data:
# images, and fetching the OpenAPI document and "try it out" calls from this site.
API_DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'"
)
API_DOCS_PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Riskdesk API</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/vendor/swagger-ui/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{API_PREFIX}/openapi.json"></div>
<script src="/static/vendor/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/static/api-docs.js"></script>
</body>
</html>
"""


class ErrorDetailBody(BaseModel):
    """One problem in one field (of one row, in a batch)."""

    field: str | None
    code: str
    reason: str
    row: int | None = None


class ErrorBody(BaseModel):
    """What went wrong: a stable code, a message, the field concerned."""

    code: str
    message: str
    field: str | None
    details: list[ErrorDetailBody] | None = None


class ErrorResponse(BaseModel):
    """Every error answer of the API has this shape."""

    error: ErrorBody


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "The request could not be read"},
    401: {"model": ErrorResponse, "description": "Not signed in, or the token is invalid"},
    403: {"model": ErrorResponse, "description": "The caller lacks the permission"},
    404: {"model": ErrorResponse, "description": "No such record, or not visible to the caller"},
    409: {"model": ErrorResponse, "description": "Conflicts with the record's state"},
    413: {"model": ErrorResponse, "description": "The body or file is too large"},
    422: {"model": ErrorResponse, "description": "Invalid input; the field is named"},
    429: {"model": ErrorResponse, "description": "Too many requests; see Retry-After"},
    503: {"model": ErrorResponse, "description": "The database is busy or unavailable"},
}


def _json(answer: ErrorAnswer) -> JSONResponse:
    body: dict[str, Any] = {"code": answer.code, "message": answer.message, "field": answer.field}
    if answer.details:
        body["details"] = [d.as_dict() for d in answer.details]
    return JSONResponse({"error": body}, status_code=answer.status, headers=answer.headers)


def _wants_html(request: Request) -> bool:
    """Browser pages get error pages; the API and static files keep the JSON shape."""
    return not request.url.path.startswith((API_PREFIX, "/static"))


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media: bytes = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return True  # no content type: FastAPI reads a body as JSON


class JsonDepthGuard:
    """Refuses a JSON request body nested deeper than BODY_MAX_DEPTH before it is parsed:
    Python's parser fails near 1,000 levels, and what it can parse may still be too deep for
    the database or for pydantic's serializer (255 levels). The models bound each free-form
    field more tightly (and name it); this guards the parser itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD") or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        path = json_body_too_deep(body)
        if path is not None:
            field = path[0] if path and isinstance(path[0], str) else None
            reason = (
                f"JSON nested deeper than {BODY_MAX_DEPTH} levels (at {path_text(path) or 'top'})"
            )
            detail = ErrorDetail(field=field, reason=reason, code="json_too_deep")
            message_text = f"{field}: {reason}" if field else reason
            response = _json(ErrorAnswer(422, "validation_failed", message_text, field, (detail,)))
            await response(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _answer(request: Request, answer: ErrorAnswer) -> Response:
    if _wants_html(request):
        # Set by mount_ui: the UI draws the page (main must not import the UI at module level).
        render_error = getattr(request.app.state, "render_error", None)
        if render_error is not None:
            # In the thread pool: drawing it may read the signed-in user from the database.
            page: Response = await run_in_threadpool(render_error, request, answer)
            return page
    return _json(answer)


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> str:
    """Every method some route of this path answers. The router's 405 names only the methods
    of the first route with this path (GET /imports, but not POST /imports)."""
    allowed = []
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        for route in request.app.router.routes:
            # A mount takes any method under its prefix; it serves files, not this path.
            if not isinstance(route, Mount) and route.matches(scope)[0] == Match.FULL:
                allowed.append(method)
                break
    return ", ".join(allowed)


def install_error_handlers(app: FastAPI) -> None:
    """One error shape for everything: JSON for the API, a page in the user's language for the
    browser (render_error, set by the UI)."""

    @app.exception_handler(RiskdeskError)
    async def domain_error(request: Request, exc: RiskdeskError) -> Response:
        if isinstance(exc, NotAuthenticated) and _wants_html(request):
            if request.headers.get("HX-Request"):
                # htmx would swap the login page into a fragment; have it navigate instead.
                current = urlsplit(request.headers.get("HX-Current-URL", "")).path or "/"
                return Response(
                    status_code=401, headers={"HX-Redirect": f"/login?next={quote(current)}"}
                )
            return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
        if isinstance(exc, PasswordChangeRequired) and _wants_html(request):
            # Every page leads to the password page until the user chose their own password.
            # The page asked for is kept, so the user lands there once the password changed.
            if request.headers.get("HX-Request"):
                shown = urlsplit(request.headers.get("HX-Current-URL", ""))
                going = shown.path + (f"?{shown.query}" if shown.query else "")
                return Response(status_code=403, headers={"HX-Redirect": password_page_for(going)})
            going = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            if request.method not in ("GET", "HEAD"):
                going = "/"  # a form posted elsewhere is not sent again
            return RedirectResponse(password_page_for(going), status_code=303)
        return await _answer(
            request,
            ErrorAnswer(exc.status_code, exc.code, exc.message, exc.field, tuple(exc.details)),
        )

    @app.exception_handler(RequestValidationError)
    async def request_invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        if _wants_html(request) and any(e["loc"][:1] == ("path",) for e in errors):
            # /customers/abc in the address bar names no page there is: a 404, as for any
            # unknown address, rather than a form error about a field nobody filled in.
            return await _answer(request, ErrorAnswer(404, "not_found", "no such page"))
        details = [
            ErrorDetail(
                # The body itself is not a field ("body" may also be a field's own name).
                field=".".join(str(p) for p in e["loc"][e["loc"][:1] == ("body",) :]) or None,
                reason=str(e.get("msg", "invalid")).removeprefix("Value error, "),
                code=str(e.get("type", "invalid")),
            )
            for e in errors
        ]
        first = details[0] if details else None
        message = (
            f"{first.field}: {first.reason}"
            if first and first.field
            else (first.reason if first else "invalid request")
        )
        return await _answer(
            request,
            ErrorAnswer(
                422, "validation_failed", message, first.field if first else None, tuple(details)
            ),
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(request) or headers.get("Allow", "")
        return await _answer(
            request,
            ErrorAnswer(
                exc.status_code,
                codes.get(exc.status_code, "http_error"),
                str(exc.detail),
                headers=headers or None,
            ),
        )

    @app.exception_handler(IntegrityError)
    async def integrity(request: Request, exc: IntegrityError) -> Response:
        # A unique key taken by a concurrent request between our check and our write.
        log.warning("integrity error on %s %s", request.method, request.url.path)
        return await _answer(
            request,
            ErrorAnswer(
                409,
                "conflict",
                "the record clashes with one written at the same time; send it again",
            ),
        )

    @app.exception_handler(DataError)
    async def bad_value(request: Request, exc: DataError) -> Response:
        # A value the database refuses to store or compare (PostgreSQL: a NUL character in a
        # text, a number out of range): the caller's input, so a 422, not a 500.
        log.warning("data error on %s %s", request.method, request.url.path)
        return await _answer(
            request,
            ErrorAnswer(
                422,
                "invalid_value",
                "a value contains characters or a size the database cannot take (e.g. a NUL byte)",
            ),
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeoutError)
    async def db_unavailable(request: Request, exc: Exception) -> Response:
        # Not answering, locked past the request's wait, or no free pooled connection: the
        # request gives up within its time-outs (DbLimits), the next one tries afresh.
        # The kind only: a driver's message may quote values.
        cause = type(getattr(exc, "orig", None) or exc).__name__
        log.error("database error on %s %s: %s", request.method, request.url.path, cause)
        return await _answer(
            request,
            ErrorAnswer(
                503,
                "database_unavailable",
                "the database is busy or unavailable; try again",
                headers={"Retry-After": "5"},
            ),
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        response = await _answer(
            request,
            ErrorAnswer(500, "internal_error", "something went wrong on our side; it was logged"),
        )
        # Starlette answers this one from its outermost layer, past the headers middleware.
        for name, value in {**SECURITY_HEADERS, "Cache-Control": "no-store"}.items():
            response.headers.setdefault(name, value)
        return response


# Every API router, in the order they are mounted under API_PREFIX (the permission matrix in
# docs/security.md is read from these).
system_router = APIRouter(tags=["system"])


@system_router.get("/metrics", response_class=PlainTextResponse)
def prometheus_metrics(session: SessionDep, _: CanSystemMonitor) -> Response:
    """This process's metrics in Prometheus' text format: request latency by route, records
    written and queued by kind, work processed, alerts raised by type and severity, the
    process's CPU, memory and garbage collection; and, read from the database, the event
    queue's rows and lag and the dead letters waiting. Scrape with a token scoped to
    ``system:monitor``."""
    try:
        figures = processing.queue_figures(session)
    except SQLAlchemyError as exc:
        # The process's own figures still answer while the database does not; the queue's
        # gauges keep their last reading (`/ready` says the database is away).
        log.warning("metrics: the event queue could not be read (%s)", type(exc).__name__)
        session.rollback()
    else:
        metrics.QUEUE_ROWS.set(figures.rows)
        metrics.QUEUE_LAG_SECONDS.set(figures.lag_seconds)
        metrics.DEAD_LETTERS_WAITING.set(figures.dead_letters)
    try:
        jobs = job_service.counts_by_status(session)
    except SQLAlchemyError as exc:
        log.warning("metrics: the jobs could not be read (%s)", type(exc).__name__)
        session.rollback()
    else:
        for status, count in jobs.items():
            metrics.JOBS.labels(status=status).set(count)
    data, media_type = metrics.exposition()
    return Response(data, media_type=media_type)


API_ROUTERS = (
    system_router,
    security_router,
    audit_router,
    # Before the domains: /customers/export must not be taken for /customers/{customer_id}.
    reports_router,
    customers_router,
    events_router,
    imports_router,
    indicators_router,
    credit_router,
    scoring_router,
    policy_router,
    monitoring_router,
    alerts_router,
    complaints_router,
    portfolio_router,
    home_router,
    migration_router,
    committee_router,
    subscription_router,
    ecl_router,
    privacy_router,
    jobs_router,
    relationship_router,
    company_router,
)


def db_limits(settings: Settings) -> DbLimits:
    """The time-outs of the web process's engine (its requests and the imports they start)."""
    statement = settings.db_statement_timeout_seconds
    return DbLimits(
        connect_seconds=settings.db_connect_timeout_seconds,
        statement_seconds=statement if statement > 0 else None,
        ping_seconds=settings.db_ping_timeout_seconds,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout_seconds=settings.db_pool_timeout_seconds,
    )


def create_app(
    settings: Settings | None = None, *, session_factory: sessionmaker[Session] | None = None
) -> FastAPI:
    """Build the app; tests hand in their own session factory."""
    bootstrap.install()  # before any session: the audit trail sees every write
    job_kinds.register_all()
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logging.getLogger("uvicorn.access").addFilter(ACCESS_LOG_FILTER)
        # Before the database is opened: SQLite gives its WAL and SHM files the main file's mode.
        storage.secure_storage(settings)
        engine = None
        if not hasattr(app.state, "sessionmaker"):
            engine = make_engine(settings.database_url, limits=db_limits(settings))
            app.state.engine = engine
            app.state.sessionmaker = make_sessionmaker(engine)
        worker = None
        if settings.delivery_interval_seconds > 0:
            worker = delivery.Worker(app.state.sessionmaker, settings)
            worker.start()
        reports = None
        if settings.report_schedule_interval_seconds > 0:
            reports = ReportScheduler(app.state.sessionmaker, settings)
            reports.start()
        month_end_worker = None
        if settings.month_end_interval_seconds > 0:
            month_end_worker = MonthEndWorker(app.state.sessionmaker, settings)
            month_end_worker.start()
        checkpointer = None
        if settings.audit_checkpoint_interval_seconds > 0:
            checkpointer = CheckpointWorker(app.state.sessionmaker, settings)
            checkpointer.start()
        surges = None
        if settings.complaint_surge_seconds > 0:
            surges = SurgeWorker(app.state.sessionmaker, settings)
            surges.start()
        backtester = None
        if settings.warning_backtest_days > 0:
            backtester = BacktestWorker(app.state.sessionmaker, settings)
            backtester.start()
        reaper = None
        if settings.import_reap_interval_seconds > 0:
            reaper = ImportReaper(app.state.sessionmaker, settings)
            reaper.start()
        # With NATS, this node publishes what it commits, and its workers (if any) take their
        # work from the bus; without, they poll the queue table.
        bus = NatsBus.from_settings(settings)
        app.state.bus = bus
        event_workers: list[EventWorker | BusWorker] = []
        if bus is not None:
            bus.start()
            processing.register_publisher(bus.publish_soon)
            event_workers.extend(
                BusWorker(app.state.sessionmaker, settings, bus, number=n)
                for n in range(settings.event_workers)
            )
        else:
            event_workers.extend(
                EventWorker(app.state.sessionmaker, settings, number=n)
                for n in range(settings.event_workers)
            )
        app.state.event_workers = event_workers
        for event_worker in event_workers:
            event_worker.start()
        job_reaper = None
        if settings.job_reap_interval_seconds > 0:
            job_reaper = JobReaper(app.state.sessionmaker, settings)
            job_reaper.start()
        job_workers = [
            JobWorker(app.state.sessionmaker, settings, number=n)
            for n in range(settings.job_workers)
        ]
        for job_worker in job_workers:
            job_worker.start()
        yield
        for job_worker in job_workers:
            job_worker.stop()
        if job_reaper is not None:
            job_reaper.stop()
        for event_worker in event_workers:
            event_worker.stop()
        if bus is not None:
            processing.unregister_publisher(bus.publish_soon)
            bus.close()
        if reaper is not None:
            reaper.stop()
        if backtester is not None:
            backtester.stop()
        if surges is not None:
            surges.stop()
        if checkpointer is not None:
            checkpointer.stop()
        if month_end_worker is not None:
            month_end_worker.stop()
        if reports is not None:
            reports.stop()
        if worker is not None:
            worker.stop()
        if engine is not None:
            engine.dispose()
        if app.state.shared_redis is not None:
            app.state.shared_redis.close()

    app = FastAPI(
        title="Riskdesk API",
        version=__version__,
        lifespan=lifespan,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # FastAPI's page loads Swagger UI from a CDN, with an inline script
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        description="Customer credit files, events and credit risk (客户风险管理系统). "
        "Authenticate with an API token (`Authorization: Bearer rd_...`) or the UI's session "
        "cookie: see the security schemes (Authorize). Errors are "
        '`{"error": {"code", "message", "field"}}`.',
        # Query, path and form values of every route (API and UI) are checked once, here.
        dependencies=[Depends(refuse_control_characters)],
    )
    app.state.settings = settings
    app.state.request_writer_wait_seconds = settings.db_request_wait_seconds
    app.state.secret_key = settings.resolved_secret_key()
    # Shared by every API node: Redis when configured, else the database (no state of ours).
    app.state.shared_redis = connect_redis(settings)
    app.state.login_throttle = make_throttle(
        settings.login_failures_per_address,
        settings.login_throttle_seconds,
        app.state.secret_key,
        app.state.shared_redis,
    )
    if session_factory is not None:
        app.state.sessionmaker = session_factory

    # Inside the security headers: its refusals carry them too.
    app.add_middleware(JsonDepthGuard)
    metrics.install()

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        response: Response = await call_next(request)
        # Labelled by the route's template (never the path: ids would make a series each).
        matched = request.scope.get("route") is not None
        metrics.observe_request(
            request.method,
            route_template(request) if matched else "unmatched",
            response.status_code,
            time.perf_counter() - started,
        )
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith("/static/"):
            # Pages and answers carry personal data: no browser or proxy keeps a copy.
            response.headers.setdefault("Cache-Control", "no-store")
        if settings.cookie_secure:
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        return response

    install_error_handlers(app)
    api = APIRouter(prefix=API_PREFIX, responses=ERROR_RESPONSES)
    for router in API_ROUTERS:
        api.include_router(router)

    @api.get("/health", tags=["system"])
    def health() -> dict[str, str]:
        """Liveness: the process answers (no permission needed, nothing revealed)."""
        return {"status": "ok", "version": __version__}

    @api.get("/ready", tags=["system"], responses={503: {"description": "not ready"}})
    def ready(request: Request) -> JSONResponse:
        """Readiness: the database answers, Redis when one is configured, and the event bus
        when NATS is (no permission needed; only "ok" or "unavailable" per dependency, never
        why). 503 while the database does not, so a load balancer stops sending this node work
        until it does. A Redis or a NATS that does not answer makes the node "degraded", still
        200: the database stands in for Redis, intake keeps committing work to the queue table
        while NATS is away (the relay publishes it once it is back), and taking every node out
        because a shared service is away would stop everything."""
        database = answers(request.app.state.sessionmaker)
        checks = {"database": "ok" if database else "unavailable"}
        up = database
        degraded = False
        shared: SharedRedis | None = request.app.state.shared_redis
        bus: NatsBus | None = getattr(request.app.state, "bus", None)
        if bus is not None:
            bus_ok = bus.ping()
            checks["event_bus"] = "ok" if bus_ok else "unavailable"
            degraded = degraded or not bus_ok
        if shared is not None:
            redis_ok = shared.answers()
            checks["redis"] = "ok" if redis_ok else "unavailable"
            degraded = degraded or not redis_ok
        status = "unavailable" if not up else "degraded" if degraded else "ready"
        return JSONResponse({"status": status, "checks": checks}, status_code=200 if up else 503)

    @app.get(f"{API_PREFIX}/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        """Swagger UI, from the package's own files (no CDN, no inline script)."""
        return HTMLResponse(API_DOCS_PAGE, headers={"Content-Security-Policy": API_DOCS_CSP})

    app.include_router(api)
    from riskdesk.ui import mount_ui

    mount_ui(app)
    return app
