"""The server's complaint-surge worker: checks every product for a surge every few minutes.

A product-level alert is shared by the complaints of many customers; judging it on every
complaint intake made each intake read and write the same product rows, one serialisation
point among concurrent writers. Periodic, it is one short writer at a time.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session, sessionmaker

from riskdesk.complaints import service
from riskdesk.config import Settings
from riskdesk.db import unavailable, unit_of_work
from riskdesk.kit.periodic import Periodic

log = logging.getLogger(__name__)


def check_once(factory: sessionmaker[Session]) -> tuple[int, int]:
    """One pass over every product: (product alerts raised, refreshed)."""
    with unit_of_work(factory) as session:
        raised, refreshed = service.detect_surges(session)
    if raised:
        log.info("complaint surges: %s product alert(s) raised", raised)
    return raised, refreshed


class SurgeWorker(Periodic):
    """A thread that checks for complaint surges every interval, from one interval after start:
    nothing new has come in yet, and a server that restarts often does not rescan each time."""

    def __init__(self, factory: sessionmaker[Session], settings: Settings) -> None:
        super().__init__(
            "complaint-surges",
            lambda: settings.complaint_surge_seconds,
            lambda: check_once(factory),
            at_start=False,
            outage=unavailable,
        )
