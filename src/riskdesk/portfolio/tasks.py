"""The server's month-end job: stores the dashboard's month ends every interval (ten minutes
by default; a pass with nothing to store reads three small tables)."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from riskdesk.config import Settings
from riskdesk.db import unavailable
from riskdesk.kit.periodic import Periodic
from riskdesk.portfolio import month_ends


class MonthEndWorker(Periodic):
    """A thread that runs ``month_ends.refresh`` every interval until stopped, the first pass
    one interval after start: nodes (and apps in tests) starting together do not all run a
    pass at once, and `riskdesk demo` has stored the demo's month ends already. Until a pass
    has run, the dashboard derives what is missing, with the same figures."""

    def __init__(self, factory: sessionmaker[Session], settings: Settings) -> None:
        super().__init__(
            "month-ends",
            lambda: settings.month_end_interval_seconds,
            lambda: month_ends.refresh(factory),
            at_start=False,
            outage=unavailable,
        )
