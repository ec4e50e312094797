"""The server's backtest worker: replays the active pack over the last year every so often and
keeps what it measured, so that severities follow the pack's current precision."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.orm import Session, sessionmaker

from riskdesk.config import Settings
from riskdesk.db import reading, unavailable, unit_of_work
from riskdesk.kit.periodic import Periodic
from riskdesk.kit.timeutil import today, utcnow
from riskdesk.models import WarningBacktest
from riskdesk.monitoring import replay
from riskdesk.monitoring import repository as repo

log = logging.getLogger(__name__)

CHECK_SECONDS = 3600.0  # how often the worker looks whether a backtest is due
REPLAY_DAYS = 365  # a year of month ends


def backtest_if_due(factory: sessionmaker[Session], every_days: int) -> WarningBacktest | None:
    """Replay the active pack over the last year (monthly) and keep its precision per type,
    when the newest backtest is older than ``every_days``; None when none was due. The replay
    reads one snapshot with no lock held; only the result is written."""
    with reading(factory) as session:
        latest = repo.latest_backtest(session)
        if latest is not None and utcnow() - latest.measured_at < dt.timedelta(days=every_days):
            return None
        end = today()
        report = replay.run(session, start=end - dt.timedelta(days=REPLAY_DAYS), end=end)
    with unit_of_work(factory) as session:
        kept = replay.record(session, report, created_by_id=None)
    log.info("warning pack backtested: kept as backtest %s", kept.id)
    return kept


class BacktestWorker(Periodic):
    """A thread that checks hourly whether a backtest is due and runs it, from an hour after
    start: a server that restarts often does not replay the pack each time."""

    def __init__(self, factory: sessionmaker[Session], settings: Settings) -> None:
        super().__init__(
            "warning-backtest",
            lambda: CHECK_SECONDS,
            lambda: backtest_if_due(factory, settings.warning_backtest_days),
            at_start=False,
            outage=unavailable,
        )
