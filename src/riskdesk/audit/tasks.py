"""The server's checkpoint worker: signs the audit log's head every few minutes."""

from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import Session, sessionmaker

from riskdesk.audit.service import CheckpointRefused, CheckpointResult, take_checkpoint
from riskdesk.config import Settings

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


class CheckpointWorker:
    """A thread that takes a checkpoint at start and then every interval until stopped."""

    def __init__(self, factory: sessionmaker[Session], settings: Settings) -> None:
        self.factory, self.settings = factory, settings
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="riskdesk-audit-checkpoint", daemon=True
        )

    def start(self) -> None:
        """Start checkpointing."""
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current pass."""
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            try:
                checkpoint_once(self.factory, self.settings)
            except Exception:  # a bad pass must not end the worker; the next one retries
                log.exception("audit checkpoint pass failed")
            if self._stop.wait(self.settings.audit_checkpoint_interval_seconds):
                return
