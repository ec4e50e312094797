"""The server's background work for jobs: job workers and the lost-job reaper."""

from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import Session, sessionmaker

from riskdesk.config import Settings
from riskdesk.db import unavailable
from riskdesk.jobs import service
from riskdesk.kit.periodic import Periodic, Retrying

log = logging.getLogger(__name__)


class JobReaper(Periodic):
    """A thread that queues again (or fails) jobs whose process was lost, and finishes what a
    lost process left after a done job's result, every interval."""

    def __init__(self, factory: sessionmaker[Session], settings: Settings) -> None:
        def reap() -> None:
            service.reap_lost(factory, grace_seconds=settings.job_lease_grace_seconds)
            service.recover(factory)

        super().__init__(
            "job-reaper", lambda: settings.job_reap_interval_seconds, reap, outage=unavailable
        )


class JobWorker:
    """A thread that runs queued jobs one after another until stopped: at once when this
    process queues one, and every ``job_poll_seconds`` for those other processes queued."""

    def __init__(
        self, factory: sessionmaker[Session], settings: Settings, *, number: int = 0
    ) -> None:
        self.factory, self.settings = factory, settings
        self.ran = 0
        self.retrying = Retrying(f"job worker {number}", log, unavailable)
        self._wakeup = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"riskdesk-jobs-{number}", daemon=True
        )

    def start(self) -> None:
        """Start running jobs."""
        service.register_wakeup(self._wakeup)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current job (a long one is left to the reaper after a minute)."""
        self._stop.set()
        self._wakeup.set()
        self._thread.join(timeout=60)
        service.unregister_wakeup(self._wakeup)

    def run_once(self) -> int | None:
        """Run the oldest queued job; its id, or None when none was queued."""
        return service.run_next(self.factory)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wakeup.clear()
            try:
                ran = self.run_once()
            except Exception as exc:  # the database away, say: a later pass tries again
                self.retrying.failed(exc)
                ran = None
            else:
                self.retrying.succeeded()
            if ran is not None:
                self.ran += 1
                continue
            self._wakeup.wait(self.retrying.delay(self.settings.job_poll_seconds))
