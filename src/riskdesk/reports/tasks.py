"""The server's report schedule: queues the report e-mails due, every interval (an hour by
default; each subscription gets one e-mail per period however often it runs)."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.orm import Session, sessionmaker

from riskdesk.config import Settings
from riskdesk.db import unavailable
from riskdesk.kit.periodic import Periodic
from riskdesk.kit.timeutil import utcnow
from riskdesk.reports import subscriptions
from riskdesk.reports.subscription_schemas import DueResult

log = logging.getLogger(__name__)


def send_due(
    factory: sessionmaker[Session], settings: Settings, *, now: dt.datetime | None = None
) -> DueResult:
    """One pass: queue what is due now (read, then a short transaction per e-mail)."""
    result = subscriptions.due_reports(factory, now=now or utcnow(), public_url=settings.public_url)
    if result.queued:
        log.info("report e-mails queued: %d (%s)", result.queued, result.periods)
    return result


class ReportScheduler(Periodic):
    """A thread that queues the due report e-mails every interval until stopped. The first
    pass comes one interval after start: a server restarting often need not read each time."""

    def __init__(self, factory: sessionmaker[Session], settings: Settings) -> None:
        super().__init__(
            "report-schedule",
            lambda: settings.report_schedule_interval_seconds,
            lambda: send_due(factory, settings),
            at_start=False,
            outage=unavailable,
        )
