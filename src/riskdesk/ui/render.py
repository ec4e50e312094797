"""Rendering pages: the template environment, the context every page gets, and error pages."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context

from riskdesk.company import service as company_service
from riskdesk.indicators.catalogue import BY_NAME as INDICATORS
from riskdesk.kit.errors import ErrorAnswer, ErrorDetail, RiskdeskError
from riskdesk.kit.messages import plain_number
from riskdesk.kit.timeutil import local, offset_label, zone
from riskdesk.monitoring.rules import RuleError
from riskdesk.security.deps import SESSION_COOKIE, signed_in_principal
from riskdesk.security.service import Principal
from riskdesk.ui.i18n import Translator, pick_locale

log = logging.getLogger(__name__)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def _money(value: Decimal | float | int | None) -> str:
    if value is None:
        return "—"
    try:
        amount = Decimal(value)
    except (InvalidOperation, ValueError):
        return "—"
    return f"{amount:,.2f}" if amount.is_finite() else "—"  # NaN or infinity from a float


# Dates are ISO (2026-12-07) in both languages: the business format in China, unambiguous for
# English readers (no 12/07 vs 07/12), the same as the exports and the date inputs. Times are
# 24-hour, on the display zone's clock; business dates (a date, not an instant) never shift.


def format_day(value: dt.date | dt.datetime | None, tz: dt.tzinfo | None = None) -> str:
    """A date as YYYY-MM-DD for any year (strftime leaves years before 1000 unpadded); an
    instant's date on the clock of ``tz`` when given."""
    if value is None:
        return ""
    if tz is not None and isinstance(value, dt.datetime):
        value = local(value, tz)
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"


def format_stamp(
    value: dt.datetime | None,
    tz: dt.tzinfo | None = None,
    *,
    seconds: bool = False,
    sep: str = " ",
) -> str:
    """An instant as YYYY-MM-DD HH:MM[:SS] on the clock of ``tz`` (UTC when None), any year."""
    if value is None:
        return ""
    value = local(value, tz or dt.UTC)
    text = f"{format_day(value)}{sep}{value.hour:02d}:{value.minute:02d}"
    return f"{text}:{value.second:02d}" if seconds else text


def _zone_of(context: Context) -> dt.tzinfo:
    return context.get("tz") or dt.UTC


@pass_context
def _day(context: Context, value: dt.date | dt.datetime | None) -> str:
    """A business date as it is; an instant's date in the page's display zone."""
    return format_day(value, _zone_of(context))


@pass_context
def _stamp(
    context: Context, value: dt.datetime | None, *, seconds: bool = False, sep: str = " "
) -> str:
    """An instant in the page's display zone."""
    return format_stamp(value, _zone_of(context), seconds=seconds, sep=sep)


def _utc(value: dt.datetime | None) -> str:
    """An instant exactly, in UTC (for an auditor, and titles): 2026-12-07 01:30:00 UTC."""
    return f"{format_stamp(value, dt.UTC, seconds=True)} UTC" if value is not None else ""


def display_zone(request: Request) -> str:
    """The IANA zone this request's pages show times in (see :func:`display_zone_of`)."""
    return display_zone_of(request)[0]


def display_zone_of(request: Request, principal: Principal | None = None) -> tuple[str, bool]:
    """The zone this request's pages show times in, and whether it is the signed-in user's
    own: theirs when they set one, else the company's setting (cached per process), else
    RISKDESK_TIME_ZONE; the default when the database cannot say. ``principal``: the one the
    page is drawn for, else the one the request's route resolved."""
    default: str = request.app.state.settings.time_zone
    if principal is None:
        principal = getattr(request.state, "principal", None)
    user = principal.user if principal is not None else None
    if getattr(request.state, "database_failed", False):
        # An error page for a database that failed: do not wait on it again.
        return company_service.time_zone_for_offline(user, default)
    try:
        session = getattr(request.state, "db_session", None)
        if session is not None and session.is_active:
            return company_service.time_zone_for(session, user, default)
        with request.app.state.sessionmaker() as fresh:
            return company_service.time_zone_for(fresh, user, default)
    except Exception:  # an error page while the database is away still draws
        log.warning("display time zone unknown on %s", request.url.path, exc_info=True)
        return company_service.time_zone_for_offline(user, default)


def _number(value: float | int | None) -> str:
    """A count with thousands separators."""
    return "—" if value is None else f"{value:,.0f}"


def _percent(value: float | None, digits: int = 2) -> str:
    """A share as a percentage (0.0523 -> 5.23%), never in scientific notation."""
    return "—" if value is None else f"{value * 100:,.{digits}f}%"


def _decimal(value: Any, digits: int = 2) -> str:
    """A measured value with thousands separators and at most ``digits`` decimals (trailing
    zeros dropped), never in scientific notation; a non-number as it is."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return "—" if value is None else str(value)
    amount = Decimal(value) if not isinstance(value, float) else Decimal(repr(value))
    if not amount.is_finite():
        return "—"
    if amount == amount.to_integral_value():
        return f"{amount:,.0f}"
    return f"{amount:,.{digits}f}".rstrip("0").rstrip(".")


def indicator_label(name: str, locale: str) -> str:
    """An indicator's name as people read it, in their language (the name itself when it is
    not in the catalogue)."""
    found = INDICATORS.get(name)
    if found is None:
        return name
    return found.zh if locale == "zh-CN" else found.en


@pass_context
def _indicator(context: Context, name: str) -> str:
    return indicator_label(name, context.get("locale") or "zh-CN")


def measure_label(t: Translator, name: str) -> str:
    """What a rule or a detector measured, by its label: an indicator's, else the catalogue's
    (``evidence.<name>``, ``field.<name>``), else the name."""
    if name in INDICATORS:
        return indicator_label(name, t.locale)
    # A product surge counts over windows of configurable length (complaints_14d, baseline_84d).
    if windowed := _WINDOWED.fullmatch(name):
        return t(f"evidence.{windowed.group(1)}_days", days=windowed.group(2))
    return t.messages.get(f"evidence.{name}") or t.messages.get(f"field.{name}") or name


# Rule attributes that are shares (counted exposure / limit, a probability).
_SHARES = {"utilisation", "churn_p_alive"}
_WINDOWED = re.compile(r"(complaints|baseline)_(\d+)d")


@pass_context
def _measure(context: Context, name: str) -> str:
    return measure_label(context["t"], name)


@pass_context
def _evidence(context: Context, evidence: dict[str, Any] | None) -> list[tuple[str, str]]:
    """An alert's evidence as (label, formatted value) pairs, a detector's nested deviations
    in one line ("值 12; 同业偏离 3.1")."""
    t: Translator = context["t"]
    shown: list[tuple[str, str]] = []
    for key, value in (evidence or {}).items():
        if key == "cleared_with":
            continue
        if isinstance(value, dict):
            parts = (f"{measure_label(t, k)} {_decimal(v)}" for k, v in value.items())
            shown.append((measure_label(t, key), "; ".join(parts)))
        elif isinstance(value, (list, tuple)):
            shown.append((measure_label(t, key), ", ".join(_decimal(v) for v in value)))
        elif key in INDICATORS and INDICATORS[key].unit == "CNY":
            shown.append((measure_label(t, key), _money(value)))  # an amount: two decimals
        elif isinstance(value, (int, float)) and (
            key in _SHARES or (key in INDICATORS and INDICATORS[key].unit == "share")
        ):
            # A share read as a percentage: a utilisation of 3.56 is 356%, not "3.56".
            shown.append((measure_label(t, key), _percent(value, 0 if abs(value) >= 1 else 1)))
        elif key == "top_category" and isinstance(value, str):  # a product surge's main kind
            shown.append((measure_label(t, key), t(f"complaints.category.{value}")))
        elif key == "p_value" and isinstance(value, (int, float)):
            # How likely by chance: tiny, and two decimals would round it to a misleading 0.
            shown.append((measure_label(t, key), "< 0.001" if value < 0.001 else f"{value:.3f}"))
        else:
            shown.append((measure_label(t, key), _decimal(value)))
    return shown


# A changed field's values shown in the reader's words: amounts grouped, codes by their label.
_AMOUNT_FIELDS = {"credit_limit", "requested_limit", "recommended_limit", "current_limit"}
_CODED_FIELDS = {
    "segment": "segment.",
    "status": "status.",
    "kind": "kind.",
    "industry": "industry.",
}


# A statement's figure in the history: statement.<period type>.<period end>.<figure>.
_STATEMENT_FIELD = re.compile(r"statement\.(\w+)\.(\d{4}-\d\d-\d\d)\.(\w+)")


def source_label(t: Translator, source: str | None) -> str:
    """A data source (a bureau, a feeding system) by its name when the catalogue has one
    (``source.demo_bureau``), else as the integration named it."""
    if not source:
        return t("common.none")
    return t.messages.get(f"source.{source}") or source


def history_field_label(t: Translator, field: str) -> str:
    """A field of the credit file's history by the label its form uses: a statement's figure
    with its period ("Revenue (annual, 2025-12-31)"), a bureau report by its source's name."""
    if statement := _STATEMENT_FIELD.fullmatch(field):
        period, end, figure = statement.groups()
        return t(
            "file.statement_field",
            figure=field_label(t, figure),
            period=t(f"period_type.{period}"),
            end=end,
        )
    kind, _, source = field.partition(".")
    if kind == "credit_report" and source:
        return f"{t('field.credit_report')} · {source_label(t, source)}"
    return t.messages.get(f"field.{field}") or field_label(t, field)


def bin_range(t: Translator, lower: Any, upper: Any) -> str:
    """A scorecard bin's interval (lower included, upper not) as people read it: "20–100",
    "≥ 150", "< 1"."""
    if lower is None and upper is None:
        return t("scorecards.bin_any")
    if upper is None:
        return f"≥ {plain_number(lower)}"
    if lower is None:
        return f"< {plain_number(upper)}"
    return f"{plain_number(lower)}–{plain_number(upper)}"


@pass_context
def _bin_range(context: Context, bin_: Mapping[str, Any]) -> str:
    return bin_range(context["t"], bin_.get("lower"), bin_.get("upper"))


@pass_context
def _history_field(context: Context, field: str) -> str:
    return history_field_label(context["t"], field)


@pass_context
def _source(context: Context, source: str | None) -> str:
    return source_label(context["t"], source)


def _amount(value: Any, currency: str | None) -> str:
    try:
        shown = _money(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return str(value)
    return f"{shown} {currency}" if currency and shown != "—" else shown


@pass_context
def _change_value(
    context: Context,
    value: Any,
    field: str,
    currency: str | None = None,
    currencies: Mapping[str, str] | None = None,
) -> str:
    """One side of a recorded change (stored as text) as a page shows it: an amount grouped,
    with its currency when known (``currency`` for a limit, ``currencies`` by statement for a
    statement's figures)."""
    t: Translator = context["t"]
    if value is None or value == "":
        return t("common.none")
    if isinstance(value, bool) or value in ("True", "False", "true", "false"):
        return t("common.yes") if value in (True, "True", "true") else t("common.no")
    if field in _AMOUNT_FIELDS:
        return _amount(value, currency)
    if statement := _STATEMENT_FIELD.fullmatch(field):
        if statement.group(3) == "currency":
            return str(value)
        return _amount(value, (currencies or {}).get(field.rsplit(".", 1)[0]))
    prefix = _CODED_FIELDS.get(field)
    if prefix is not None:
        return t.messages.get(f"{prefix}{value}") or str(value)
    return str(value)


# Reasons Riskdesk itself records (in English, policy/service.py), said in the reader's words.
_SYSTEM_REASONS = ((re.compile(r"policy recommendation for tier (\w+)"), "limits.policy_reason"),)


@pass_context
def _said(context: Context, text: str | None) -> str:
    """A recorded reason: one Riskdesk wrote in the reader's language, a person's as typed."""
    t: Translator = context["t"]
    if not text:
        return t("common.none")
    for pattern, key in _SYSTEM_REASONS:
        match = pattern.fullmatch(text)
        if match:
            return t(key, tier=t(f"tier.{match.group(1)}"))
    return text


class Reason(str):
    """Why a form was refused: the English sentence, with the code (and the rule error, for a
    rule) a page in another language says it from."""

    code: str
    rule: RuleError | None

    def __new__(cls, text: str, code: str = "invalid", rule: RuleError | None = None) -> Reason:
        reason = super().__new__(cls, text)
        reason.code = code
        reason.rule = rule
        return reason

    @classmethod
    def of_error(cls, exc: RiskdeskError) -> Reason:
        cause = exc.__cause__
        return cls(exc.message, exc.code, cause if isinstance(cause, RuleError) else None)

    @classmethod
    def of_detail(cls, detail: ErrorDetail) -> Reason:
        return cls(detail.reason, detail.code)


_TYPED = ("want", "got", "left", "right")  # rule-error values that name a type


def rule_error_text(t: Translator, error: RuleError) -> str:
    """A rule's error in the reader's language (English keeps the parser's sentence)."""
    template = t.messages.get(f"rules.error.{error.code}")
    if t.locale == "en" or template is None:
        return error.message if t.locale == "en" else t("rules.error.invalid")
    values = {k: t(f"rules.type.{v}") if k in _TYPED else v for k, v in error.params.items()}
    try:
        return template.format(**values)
    except (KeyError, IndexError):
        return t("rules.error.invalid")


@pass_context
def _reason(context: Context, reason: str) -> str:
    """A form error's reason in the reader's language."""
    t: Translator = context["t"]
    if t.locale == "en" or not isinstance(reason, Reason):
        return str(reason)
    if reason.rule is not None:
        return (
            f"{t('rules.invalid', column=reason.rule.position)}: {rule_error_text(t, reason.rule)}"
        )
    return (
        t.messages.get(f"error.reason.{reason.code}")
        or t.messages.get(f"error.code.{reason.code}")
        or t("error.reason.invalid")
    )


templates.env.filters["money"] = _money
templates.env.filters["reason"] = _reason
templates.env.filters["change_value"] = _change_value
templates.env.filters["history_field"] = _history_field
templates.env.filters["source"] = _source
templates.env.filters["bin_range"] = _bin_range
templates.env.filters["said"] = _said
templates.env.filters["decimal"] = _decimal
templates.env.filters["indicator"] = _indicator
templates.env.filters["evidence"] = _evidence
templates.env.filters["measure"] = _measure
templates.env.filters["percent"] = _percent
templates.env.filters["number"] = _number
templates.env.filters["day"] = _day
templates.env.filters["stamp"] = _stamp
templates.env.filters["utc"] = _utc


def render(
    request: Request,
    template: str,
    principal: Principal | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page in the caller's language."""
    locale = pick_locale(request, request.app.state.settings.default_locale)
    zone_name, own_zone = display_zone_of(request, principal)
    tz = zone(zone_name)
    base = {
        "t": Translator(locale),
        "locale": locale,
        "tz": tz,
        "tz_name": zone_name,
        "tz_offset": offset_label(tz),
        "tz_own": own_zone,
        "principal": principal,
        "csrf_token": principal.csrf_token if principal else None,
        "path": request.url.path,
    }
    return templates.TemplateResponse(
        request, template, {**base, **context}, status_code=status_code
    )


# ---------------------------------------------------------------- error pages

# Where a field's name is prefixed by where it came from (FastAPI's loc), or nested in a body.
_LOC_PREFIXES = ("query.", "path.", "body.", "form.", "header.", "cookie.")


@dataclass(frozen=True)
class ErrorView:
    """An error as a person reads it, in their language."""

    status: int
    title: str
    text: str
    detail: str | None  # the server's own sentence, in English pages only
    fields: tuple[tuple[str, str], ...]  # (field label, reason)
    back: str


def field_label(t: Translator, field: str) -> str:
    """A form field's name as the page shows it (``field.<name>`` in the catalogue)."""
    name = field
    for prefix in _LOC_PREFIXES:
        name = name.removeprefix(prefix)
    parts = [p for p in name.split(".") if p and not p.isdigit()]
    if not parts:
        return t("field.unknown")
    # Every field of a UI form has a label (tests/ui/test_crawl.py checks forms and templates).
    return t.messages.get(f"field.{parts[-1]}") or parts[-1]


def _detail_reason(t: Translator, code: str, reason: str) -> str:
    # English pages keep the precise sentence; other languages say it from the code.
    if t.locale == "en":
        return reason
    return t.messages.get(f"error.reason.{code}") or t("error.reason.invalid")


def _same_site(request: Request, url: str) -> str | None:
    """The path (and query) of a URL of this site, else None."""
    parts = urlsplit(url)
    if parts.netloc != request.url.netloc or not parts.path.startswith("/"):
        return None
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return None if target.startswith("//") else target


def _back(request: Request) -> str:
    """Where the person came from, when it was a page of this site; else the start page."""
    if request.headers.get("HX-Request"):
        # A fragment inside the page the person is on: the way on is to load that page again.
        return _same_site(request, request.headers.get("HX-Current-URL", "")) or "/"
    target = _same_site(request, request.headers.get("referer", ""))
    if target is None or target.startswith(("/login", "/api/", "/static/")):
        return "/"
    if urlsplit(target).path == request.url.path and request.method == "GET":
        return "/"  # the page that failed: going back to it would fail again
    return target


def error_view(request: Request, t: Translator, answer: ErrorAnswer) -> ErrorView:
    """What the error page says: a title and a sentence per status (or per known code), the
    fields concerned, and a way back."""
    status = answer.status
    title = t.messages.get(f"error.{status}.title") or t("error.title")
    text = (
        t.messages.get(f"error.code.{answer.code}")
        or t.messages.get(f"error.{status}.text")
        or t("error.text")
    )
    fields: list[tuple[str, str]] = []
    for d in answer.details[:50] or ():
        if d.field:
            fields.append((field_label(t, d.field), _detail_reason(t, d.code, d.reason)))
    if not fields and answer.field and status in (409, 413, 422):
        fields.append(
            (field_label(t, answer.field), _detail_reason(t, answer.code, answer.message))
        )
    # A 404 says the same whether the record is missing or hidden from the caller; a 500
    # never shows internals.
    detail = (
        answer.message if t.locale == "en" and status not in (404, 500) and not fields else None
    )
    return ErrorView(status, title, text, detail, tuple(fields), _back(request))


_FALLBACK = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{status}</title>'
    '<link rel="stylesheet" href="/static/app.css"></head><body><main>'
    '<section class="card narrow"><h1>出错了 · Something went wrong ({status})</h1>'
    '<p><a href="/">返回首页 · Home</a></p></section></main></body></html>'
)


def _signed_in(request: Request, answer: ErrorAnswer) -> Principal | None:
    """Who is signed in, for the page's menu: kept by the route that failed, or (when no route
    ran, as for an unknown address) read from the session cookie."""
    # A plain snapshot (security/service.Caller): safe to read after the session closed.
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is not None or SESSION_COOKIE not in request.cookies:
        return principal
    if answer.status in (500, 503):
        return None  # the database may be what failed: no menu then
    try:
        with request.app.state.sessionmaker() as session:
            return signed_in_principal(request, session)
    except Exception:  # the page still shows, without the menu
        log.warning("no principal for the error page on %s", request.url.path, exc_info=True)
        return None


def render_error(request: Request, answer: ErrorAnswer) -> Response:
    """An error page for the browser (a fragment for htmx), with the answer's status. Runs in
    the thread pool (it may read the session cookie's user from the database)."""
    principal = _signed_in(request, answer)
    if answer.status in (500, 503):
        request.state.database_failed = True
    try:
        locale = pick_locale(request, request.app.state.settings.default_locale)
        view = error_view(request, Translator(locale), answer)
        template = "partials/error.html" if request.headers.get("HX-Request") else "error.html"
        response: Response = render(
            request, template, principal, status_code=answer.status, error=view
        )
    except Exception:
        # The error page itself failed: still answer with the status and a page, never JSON.
        log.exception("error page failed on %s %s", request.method, request.url.path)
        response = HTMLResponse(
            _FALLBACK.format(status=escape(str(answer.status))), status_code=answer.status
        )
    for name, value in (answer.headers or {}).items():
        response.headers[name] = value
    return response
