"""The server's import reaper: marks failed the imports whose process was lost."""

from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import Session, sessionmaker

from riskdesk.config import Settings
from riskdesk.pipeline import intake

log = logging.getLogger(__name__)


class ImportReaper:
    """A thread that looks for lost imports at start and then every interval until stopped."""

    def __init__(self, factory: sessionmaker[Session], settings: Settings) -> None:
        self.factory, self.settings = factory, settings
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="riskdesk-import-reaper", daemon=True
        )

    def start(self) -> None:
        """Start looking."""
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current pass."""
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            try:
                intake.reap_interrupted(
                    self.factory, grace_seconds=self.settings.import_lease_grace_seconds
                )
            except Exception:  # a bad pass (say, the database is away) must not end the reaper
                log.exception("import reaper pass failed")
            if self._stop.wait(self.settings.import_reap_interval_seconds):
                return
