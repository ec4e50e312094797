"""Throttling failed sign-ins by client address (account lockout is the other half).

An address that fails too often within the window is refused for the rest of the window,
whatever username it tries, so guessing across many accounts is slowed as well. The counts
live in the process; with several web workers each keeps its own (a shared store belongs to
the scale-out work).
"""

from __future__ import annotations

import threading
import time
from collections import deque


class LoginThrottle:
    """Failed sign-ins per address in a sliding window."""

    def __init__(self, limit: int, window_seconds: float) -> None:
        self.limit = limit
        self.window = window_seconds
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        found = self._failures.setdefault(key, deque())
        while found and now - found[0] > self.window:
            found.popleft()
        return found

    def retry_after(self, key: str) -> int | None:
        """Seconds until the address may try again, or None when it may now."""
        now = time.monotonic()
        with self._lock:
            recent = self._recent(key, now)
            if len(recent) < self.limit:
                if not recent:
                    self._failures.pop(key, None)
                return None
            return max(1, int(self.window - (now - recent[0])) + 1)

    def failed(self, key: str) -> None:
        """Count a failed sign-in."""
        now = time.monotonic()
        with self._lock:
            self._recent(key, now).append(now)
