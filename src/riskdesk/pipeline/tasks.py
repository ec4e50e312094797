"""The server's background work of the pipeline: event workers and the import reaper."""

from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import Session, sessionmaker

from riskdesk.config import Settings
from riskdesk.db import unavailable
from riskdesk.kit.periodic import Periodic, Retrying
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
            outage=unavailable,
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
        self.retrying = Retrying(f"event worker {number}", log, unavailable)
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
        """One batch over the partitions with work; rows processed."""
        return self._batch()[0]

    def _batch(self) -> tuple[int, bool]:
        """(rows processed, whether the batch was full) of one batch."""
        batch = processing.process_pass(self.factory, self.settings, start=self.start_at)
        if batch is None or batch.failed:
            return 0, False
        self.processed += batch.rows
        return batch.rows, batch.customers >= self.settings.event_batch_customers

    def _run(self) -> None:
        full = False
        while not self._stop.is_set():
            self._wakeup.clear()
            if not full and self.settings.event_linger_seconds:
                # A batch costs about the same for one customer as for a hundred, and on
                # SQLite it holds the one write lock: after a batch that was not full (or when
                # woken from idle) let the next events gather first.
                self._stop.wait(self.settings.event_linger_seconds)
            try:
                done, full = self._batch()
            except Exception as exc:  # the database away, say: a later pass tries again
                self.retrying.failed(exc)
                done, full = 0, False
            else:
                self.retrying.succeeded()
            if not done:
                # Backing off while passes fail; a commit of this process (so the database is
                # back) still wakes it at once.
                self._wakeup.wait(self.retrying.delay(self.settings.event_poll_seconds))
