"""The browser UI: server-rendered Jinja2 pages with HTMX, in zh-CN and English."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles


def mount_ui(app: FastAPI) -> None:
    """Serve the static assets and the pages."""
    from riskdesk.ui import (
        audit_pages,
        desk_pages,
        ecl_pages,
        export_pages,
        help_pages,
        home_pages,
        job_pages,
        pages,
        policy_pages,
        portfolio_pages,
        privacy_pages,
        relationship_pages,
        report_pages,
        reports_pages,
        scorecard_pages,
        user_pages,
    )
    from riskdesk.ui.render import render_error

    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    app.state.render_error = render_error
    # Before the pages: /customers/export is not /customers/{customer_id}.
    app.include_router(export_pages.router)
    app.include_router(pages.router)
    app.include_router(desk_pages.router)
    app.include_router(audit_pages.router)
    app.include_router(privacy_pages.router)
    app.include_router(relationship_pages.router)
    app.include_router(user_pages.router)
    app.include_router(job_pages.router)
    app.include_router(portfolio_pages.router)
    app.include_router(home_pages.router)
    app.include_router(ecl_pages.router)
    app.include_router(report_pages.router)
    app.include_router(reports_pages.router)
    app.include_router(help_pages.router)
    app.include_router(policy_pages.router)
    app.include_router(scorecard_pages.router)
