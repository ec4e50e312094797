"""Throttling failed sign-ins by client address (account lockout is the other half).

An address that fails too often within the window is refused for the rest of the window,
whatever username it tries, so guessing across many accounts is slowed as well. The failures
are rows in the database (``login_failures``), so every API node behind a load balancer counts
the same ones; the address is stored only as a keyed hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from sqlalchemy.orm import Session

from riskdesk.kit.timeutil import utcnow
from riskdesk.security import repository as repo


class LoginThrottle:
    """Failed sign-ins per address in a sliding window, shared through the database."""

    def __init__(self, limit: int, window_seconds: float, secret: str) -> None:
        self.limit = limit
        self.window = window_seconds
        self._secret = secret.encode()

    def _key(self, address: str) -> str:
        return hmac.new(self._secret, address.encode(), hashlib.sha256).hexdigest()

    def retry_after(self, session: Session, address: str) -> int | None:
        """Seconds until the address may try again, or None when it may now."""
        now = utcnow()
        recent = repo.login_failures_since(
            session, self._key(address), now - dt.timedelta(seconds=self.window)
        )
        if len(recent) < self.limit:
            return None
        # The window frees up when the oldest failure that keeps it full leaves it.
        blocking = recent[len(recent) - self.limit]
        left = self.window - (now - blocking).total_seconds()
        return max(1, int(left) + 1)

    def failed(self, session: Session, address: str) -> None:
        """Count a failed sign-in (in the caller's transaction), and forget what no window
        reaches any more."""
        now = utcnow()
        repo.forget_login_failures(session, now - dt.timedelta(seconds=self.window))
        repo.add_login_failure(session, self._key(address), now)
