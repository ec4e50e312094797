"""Rendering pages: the template environment and the context every page gets."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from riskdesk.kit.errors import RiskdeskError
from riskdesk.security.service import Principal
from riskdesk.ui.i18n import Translator, pick_locale

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def _money(value: Decimal | float | int | None) -> str:
    if value is None:
        return "—"
    return f"{Decimal(value):,.2f}"


templates.env.filters["money"] = _money


def render(
    request: Request,
    template: str,
    principal: Principal | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page in the caller's language."""
    locale = pick_locale(request, request.app.state.settings.default_locale)
    base = {
        "t": Translator(locale),
        "locale": locale,
        "principal": principal,
        "csrf_token": principal.csrf_token if principal else None,
        "path": request.url.path,
    }
    return templates.TemplateResponse(
        request, template, {**base, **context}, status_code=status_code
    )


def render_error(request: Request, exc: RiskdeskError) -> HTMLResponse:
    """An error page for the browser."""
    principal = getattr(request.state, "principal", None)
    return render(request, "error.html", principal, status_code=exc.status_code, error=exc)
