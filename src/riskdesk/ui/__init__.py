"""The browser UI: server-rendered Jinja2 pages with HTMX, in zh-CN and English."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles


def mount_ui(app: FastAPI) -> None:
    """Serve the static assets and the pages."""
    from riskdesk.ui import (
        alert_pages,
        approval_pages,
        audit_pages,
        auth_pages,
        credit_pages,
        customer_pages,
        desk_pages,
        ecl_pages,
        export_pages,
        help_pages,
        home_pages,
        import_pages,
        job_pages,
        model_pages,
        nav,  # noqa: F401  (registers the navigation with the templates)
        policy_pages,
        portfolio_pages,
        privacy_pages,
        relationship_pages,
        report_pages,
        reports_pages,
        rule_pages,
        scorecard_pages,
        settings_pages,
        user_pages,
    )
    from riskdesk.ui.render import render_error

    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    app.state.render_error = render_error
    # Before the pages: /customers/export is not /customers/{customer_id}.
    app.include_router(export_pages.router)
    # The pages split out of the old ui/pages.py, in its order (where paths overlap, the first
    # route registered wins).
    app.include_router(auth_pages.router)
    app.include_router(customer_pages.router)
    app.include_router(credit_pages.router)
    app.include_router(alert_pages.router)
    app.include_router(rule_pages.router)
    app.include_router(model_pages.router)
    app.include_router(approval_pages.router)
    app.include_router(import_pages.router)
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
    app.include_router(settings_pages.router)
