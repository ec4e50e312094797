"""Background threads: one that runs a pass at start and then every interval until stopped,
and the back-off and logging of any loop whose passes fail in a row (the database away)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

# The longest a failing loop waits between two tries (unless its own interval is longer): a
# database back from a restart is used again within this long.
BACKOFF_MAX_SECONDS = 5.0


class Retrying:
    """The failed passes in a row of a background loop.

    While a dependency is away every pass fails the same way; a traceback per pass would bury
    the log (an event worker polls five times a second). An outage (``outage(exc)`` true) is
    logged once as a warning when it begins and once when the loop works again; any other
    failure is logged in full each time. Waits double after each failure up to
    BACKOFF_MAX_SECONDS."""

    def __init__(
        self,
        name: str,
        logger: logging.Logger,
        outage: Callable[[BaseException], bool] = lambda exc: False,
    ) -> None:
        self.name, self.logger, self.outage = name, logger, outage
        self.failures = 0

    def failed(self, exc: BaseException) -> None:
        """Count and log a failed pass (call from the ``except`` block)."""
        self.failures += 1
        if not self.outage(exc):
            self.logger.exception("%s pass failed", self.name)
        elif self.failures == 1:
            # The kind only: a driver's message may name hosts or quote values.
            cause = type(getattr(exc, "orig", None) or exc).__name__
            self.logger.warning(
                "%s: the database is unavailable (%s); trying again every %g s at most",
                self.name,
                cause,
                BACKOFF_MAX_SECONDS,
            )

    def succeeded(self) -> None:
        """A pass went through: say so after an outage, and wait normally again."""
        if self.failures:
            self.logger.warning(
                "%s: working again after %d failed pass(es)", self.name, self.failures
            )
        self.failures = 0

    def delay(self, interval: float) -> float:
        """How long to wait before the next pass: the interval, doubled for each failure in a
        row, up to BACKOFF_MAX_SECONDS (never less than the interval)."""
        if not self.failures:
            return interval
        return min(interval * (1 << min(self.failures, 32)), max(interval, BACKOFF_MAX_SECONDS))


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
        outage: Callable[[BaseException], bool] = lambda exc: False,
    ):
        """``at_start`` False: the first pass comes one interval after start (work that a
        server restarting often should not repeat each time). ``outage``: which failures mean
        a dependency is away (logged once, not per pass)."""
        self.name, self.interval, self.work, self.at_start = name, interval, work, at_start
        self.retrying = Retrying(name, log, outage)
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
            except Exception as exc:
                self.retrying.failed(exc)
            else:
                self.retrying.succeeded()
            if self._stop.wait(self.retrying.delay(self.interval())):
                return
