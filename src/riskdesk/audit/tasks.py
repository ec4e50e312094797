"""The server's checkpoint worker: signs the audit log's head every few minutes."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session, sessionmaker

from riskdesk.audit.service import CheckpointRefused, CheckpointResult, take_checkpoint
from riskdesk.config import Settings
from riskdesk.db import unavailable
from riskdesk.kit.periodic import Periodic

log = logging.getLogger(__name__)


def checkpoint_once(factory: sessionmaker[Session], settings: Settings) -> CheckpointResult | None:
    """One pass: a checkpoint when the log grew; None (and an error in the log) when it was
    refused or could not be written."""
    try:
        with factory() as session:  # reads only: no write lock, no entry
            return take_checkpoint(session, settings)
    except CheckpointRefused as exc:
        # Said on every pass until someone looks: this is the alarm.
        log.error("audit log: no checkpoint taken: %s", exc)
    except OSError as exc:
        log.error("audit log: no checkpoint written: %s", exc)
    return None


class CheckpointWorker(Periodic):
    """A thread that takes a checkpoint at start and then every interval until stopped."""

    def __init__(self, factory: sessionmaker[Session], settings: Settings) -> None:
        super().__init__(
            "audit-checkpoint",
            lambda: settings.audit_checkpoint_interval_seconds,
            lambda: checkpoint_once(factory, settings),
            outage=unavailable,
        )
