"""The Redis that API nodes share state through when ``RISKDESK_REDIS_URL`` is set: the login
throttle's failures and running imports' progress. Without it the database holds both.

It stands beside ``db.py`` at the bottom and knows no domain. Every key begins with a prefix (the
setting, or one derived from the database's name and schema), so installs and test schemas that
share one Redis keep apart.

Redis here carries state the database can also hold, so a Redis that does not answer makes a
node fall back, not fail: a caller that meets a ``redis.RedisError`` calls ``unavailable()``,
and for ``BREAKER_SECONDS`` after that ``usable()`` is False and callers go straight to the
database instead of paying the time-out on every request.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy.engine import make_url

from riskdesk.config import Settings

log = logging.getLogger(__name__)

# How long a node does without Redis after a failure before trying it again.
BREAKER_SECONDS = 5.0


def default_prefix(database_url: str) -> str:
    """A key prefix naming the database and schema the URL selects (not the host: nodes that
    reach one database by different addresses must share their keys)."""
    url = make_url(database_url)
    options = url.query.get("options", "")
    identity = f"{url.get_backend_name()}|{url.database or ''}|{options}"
    return f"riskdesk:{hashlib.sha256(identity.encode()).hexdigest()[:12]}:"


class SharedRedis:
    """A Redis client, the install's key prefix, and whether Redis answered lately."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._lock = threading.Lock()
        self._down_until = 0.0

    def key(self, *parts: str | int) -> str:
        """The install's key made of these parts."""
        return self.prefix + ":".join(str(p) for p in parts)

    def usable(self) -> bool:
        """False for a while after Redis last failed (callers use the database meanwhile)."""
        with self._lock:
            return time.monotonic() >= self._down_until

    def unavailable(self, exc: Exception) -> None:
        """Note that a command failed; callers skip Redis for BREAKER_SECONDS."""
        with self._lock:
            first = time.monotonic() >= self._down_until
            self._down_until = time.monotonic() + BREAKER_SECONDS
        if first:
            # The kind only: a connection error's text may name the URL.
            log.warning(
                "Redis did not answer (%s); the database stands in for %g s",
                type(exc).__name__,
                BREAKER_SECONDS,
            )

    def answers(self) -> bool:
        """Whether Redis answers a PING now (readiness); never raises."""
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        """Close the pooled connections."""
        self.client.close()


def connect(settings: Settings) -> SharedRedis | None:
    """The shared Redis of these settings, or None when none is configured. Connects lazily:
    a Redis that is down at start-up does not keep the node from starting."""
    url = settings.redis_url.get_secret_value()
    if not url:
        return None
    timeout = settings.redis_timeout_seconds
    client = redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        # One immediate retry on a broken connection (a pooled one left over from before a
        # Redis restart); a time-out is not retried, so a hung Redis costs one time-out.
        retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
        decode_responses=True,
        client_name="riskdesk",
    )
    prefix = settings.redis_key_prefix or default_prefix(settings.database_url)
    return SharedRedis(client, prefix if prefix.endswith(":") else prefix + ":")
