"""A background thread that runs one pass at start and then every interval until stopped."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Periodic:
    """Run ``work`` now and every ``interval`` seconds; a failing pass is logged and the next
    one retries, so one bad pass (the database away, say) never ends the thread."""

    def __init__(
        self,
        name: str,
        interval: Callable[[], float],
        work: Callable[[], object],
        *,
        at_start: bool = True,
    ):
        """``at_start`` False: the first pass comes one interval after start (work that a
        server restarting often should not repeat each time)."""
        self.name, self.interval, self.work, self.at_start = name, interval, work, at_start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"riskdesk-{name}", daemon=True)

    def start(self) -> None:
        """Start the passes."""
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current pass."""
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        if not self.at_start and self._stop.wait(self.interval()):
            return
        while True:
            try:
                self.work()
            except Exception:
                log.exception("%s pass failed", self.name)
            if self._stop.wait(self.interval()):
                return
