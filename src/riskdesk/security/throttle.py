"""Throttling failed sign-ins by client address (account lockout is the other half).

An address that fails too often within the window is refused for the rest of the window,
whatever username it tries, so guessing across many accounts is slowed as well. The failures
are kept where every API node behind a load balancer counts the same ones: rows in the database
(``login_failures``), or a sorted set per address in Redis when one is configured. Either way the
address is stored only as a keyed hash.

    LoginThrottle            the interface the sign-in page uses
    ├── DatabaseThrottle     rows in the caller's transaction
    └── RedisThrottle        Redis, with the database standing in while Redis does not answer
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import Protocol

import redis
from sqlalchemy.orm import Session

from riskdesk.kit.timeutil import utcnow
from riskdesk.redis_store import SharedRedis
from riskdesk.security import repository as repo


class LoginThrottle(Protocol):
    """Failed sign-ins per address in a sliding window, shared by every API node."""

    limit: int

    def retry_after(self, session: Session, address: str) -> int | None:
        """Seconds until the address may try again, or None when it may now."""
        ...

    def failed(self, session: Session, address: str) -> None:
        """Count a failed sign-in from the address."""
        ...


def _address_key(secret: bytes, address: str) -> str:
    return hmac.new(secret, address.encode(), hashlib.sha256).hexdigest()


class DatabaseThrottle:
    """The failures as rows in the database."""

    def __init__(self, limit: int, window_seconds: float, secret: str) -> None:
        self.limit = limit
        self.window = window_seconds
        self._secret = secret.encode()

    def retry_after(self, session: Session, address: str) -> int | None:
        """Seconds until the address may try again, or None when it may now."""
        now = utcnow()
        recent = repo.login_failures_since(
            session, _address_key(self._secret, address), now - dt.timedelta(seconds=self.window)
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
        repo.add_login_failure(session, _address_key(self._secret, address), now)


# Both scripts run atomically in Redis and read its clock, so nodes whose clocks differ still
# agree on the window. A failure is a member of its own (time and a random token): two failures
# at the same moment on two nodes are two members, not one.
_FAILED = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t - tonumber(ARGV[1]))
redis.call('ZADD', KEYS[1], t, now[1] .. now[2] .. ':' .. ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1]) * 1000))
return 1
"""
# -1 when the address may try; else the seconds until the oldest failure that keeps the window
# full leaves it.
_RETRY_AFTER = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
local window, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local recent = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (t - window), '+inf', 'WITHSCORES')
local count = #recent / 2
if count < limit then return -1 end
local blocking = tonumber(recent[2 * (count - limit) + 2])
return math.max(1, math.floor(window - (t - blocking)) + 1)
"""


class RedisThrottle:
    """The failures in Redis: a sorted set per hashed address, scored by time, that expires
    with the window.

    While Redis does not answer, the database counts instead (``DatabaseThrottle``): sign-in
    stays open and still throttled across nodes, since they share the database as well. Refusing
    every sign-in (503) would turn a Redis outage into a full one, for little gain: the
    per-account lockout holds either way, and the worst case is one window's worth of extra
    failures for an address while the store changes over.
    """

    def __init__(self, limit: int, window_seconds: float, secret: str, store: SharedRedis) -> None:
        self.window = window_seconds
        self._secret = secret.encode()
        self.store = store
        self.fallback = DatabaseThrottle(limit, window_seconds, secret)
        self._failed = store.client.register_script(_FAILED)
        self._retry_after = store.client.register_script(_RETRY_AFTER)

    @property
    def limit(self) -> int:
        """Failures an address may make per window (the fallback's too)."""
        return self.fallback.limit

    @limit.setter
    def limit(self, value: int) -> None:
        self.fallback.limit = value

    def _key(self, address: str) -> str:
        return self.store.key("login-failures", _address_key(self._secret, address))

    def retry_after(self, session: Session, address: str) -> int | None:
        """Seconds until the address may try again, or None when it may now."""
        if self.store.usable():
            try:
                left = int(
                    self._retry_after(keys=[self._key(address)], args=[self.window, self.limit])
                )
            except redis.RedisError as exc:
                self.store.unavailable(exc)
            else:
                return None if left < 0 else left
        return self.fallback.retry_after(session, address)

    def failed(self, session: Session, address: str) -> None:
        """Count a failed sign-in in Redis (at once: it is not part of the caller's
        transaction), or in the database while Redis does not answer."""
        if self.store.usable():
            try:
                self._failed(keys=[self._key(address)], args=[self.window, secrets.token_hex(8)])
            except redis.RedisError as exc:
                self.store.unavailable(exc)
            else:
                return
        self.fallback.failed(session, address)


def make_throttle(
    limit: int, window_seconds: float, secret: str, store: SharedRedis | None
) -> LoginThrottle:
    """The throttle for this configuration: in Redis when one is configured."""
    if store is None:
        return DatabaseThrottle(limit, window_seconds, secret)
    return RedisThrottle(limit, window_seconds, secret, store)
