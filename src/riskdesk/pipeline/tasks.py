"""The server's background work of the pipeline: event workers and the import reaper."""

from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import Session, sessionmaker

from riskdesk.config import Settings
from riskdesk.kit.periodic import Periodic
from riskdesk.pipeline import intake, processing

log = logging.getLogger(__name__)


class ImportReaper(Periodic):
    """A thread that looks for lost imports at start and then every interval until stopped."""

    def __init__(self, factory: sessionmaker[Session], settings: Settings) -> None:
        super().__init__(
            "import-reaper",
            lambda: settings.import_reap_interval_seconds,
            lambda: intake.reap_interrupted(
                factory, grace_seconds=settings.import_lease_grace_seconds
            ),
        )


class EventWorker:
    """A thread that processes queued work until stopped: at once when this process commits
    some, and every ``event_poll_seconds`` for work other processes committed. ``number``
    staggers where each worker begins its passes (workers of one process or of many)."""

    def __init__(
        self, factory: sessionmaker[Session], settings: Settings, *, number: int = 0
    ) -> None:
        self.factory, self.settings = factory, settings
        self.start_at = (number * 7919) % settings.event_partitions
        self.processed = 0
        self._wakeup = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"riskdesk-events-{number}", daemon=True
        )

    def start(self) -> None:
        """Start processing."""
        processing.register_wakeup(self._wakeup)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current batch."""
        self._stop.set()
        self._wakeup.set()
        self._thread.join(timeout=60)
        processing.unregister_wakeup(self._wakeup)

    def run_once(self) -> int:
        """One pass over the partitions with work; rows processed."""
        batches = processing.process_pass(self.factory, self.settings, start=self.start_at)
        done = sum(b.rows for b in batches if not b.failed)
        self.processed += done
        return done

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wakeup.clear()
            try:
                busy = bool(self.run_once())
            except Exception:  # the database away, say: the next pass tries again
                log.exception("event worker pass failed")
                busy = False
            if not busy:
                self._wakeup.wait(self.settings.event_poll_seconds)
