"""Where a running import publishes its progress, so that every API node can show it, not only
the one running it.

    always              the job's row: each of the import's short transactions writes the
                        job's cursor (rows written) with the rows (``intake.run_job``)
    Redis configured    also a hash per job (``done``, ``total``) that expires if the job's
                        process dies, renewed up to four times a second

The process running an import keeps its progress in memory as well (``intake._PROGRESS``).
"""

from __future__ import annotations

from typing import Protocol

import redis
from sqlalchemy import Connection, Engine

from riskdesk.redis_store import SharedRedis

# A hash outlives its last update by this much: long enough for any pause between two chunks,
# short enough that a job whose process died leaves nothing behind for long.
REDIS_TTL_SECONDS = 3600


class ProgressBoard(Protocol):
    """Where a running import's progress is shared."""

    # Seconds between two publications of one job at least.
    interval: float

    def publish(self, job_id: int, done: int, total: int) -> None:
        """Share (rows done, rows in all) of a running job; never raises."""
        ...

    def read(self, job_id: int) -> tuple[int, int] | None:
        """What was published for the job, or None when the job row has it (or nothing
        was)."""
        ...

    def clear(self, job_id: int) -> None:
        """Forget the job's progress (it finished: its row has the outcome)."""
        ...


class RedisBoard:
    """A hash per job in Redis. A Redis that does not answer costs the import nothing: the
    job row has the progress as of its last chunk meanwhile."""

    interval = 0.25

    def __init__(self, store: SharedRedis) -> None:
        self.store = store

    def _key(self, job_id: int) -> str:
        return self.store.key("import-progress", job_id)

    def publish(self, job_id: int, done: int, total: int) -> None:
        """Write the job's hash and renew its expiry, in one round trip."""
        if self.store.usable():
            try:
                with self.store.client.pipeline(transaction=True) as pipe:
                    pipe.hset(self._key(job_id), mapping={"done": done, "total": total})
                    pipe.expire(self._key(job_id), REDIS_TTL_SECONDS)
                    pipe.execute()
            except redis.RedisError as exc:
                self.store.unavailable(exc)

    def read(self, job_id: int) -> tuple[int, int] | None:
        """The job's hash, or None when there is none or Redis does not answer."""
        if not self.store.usable():
            return None
        try:
            done, total = self.store.client.hmget(self._key(job_id), ["done", "total"])
        except redis.RedisError as exc:
            self.store.unavailable(exc)
            return None
        if done is None or total is None:
            return None
        return int(done), int(total)

    def clear(self, job_id: int) -> None:
        """Delete the job's hash (its expiry would, later)."""
        if not self.store.usable():
            return
        try:
            self.store.client.delete(self._key(job_id))
        except redis.RedisError as exc:
            self.store.unavailable(exc)


def board_for(bind: Engine | Connection, store: SharedRedis | None) -> ProgressBoard | None:
    """Where imports share their progress beside their job row; None: only the row."""
    del bind  # every database has the row now; kept for the callers' one signature
    return RedisBoard(store) if store is not None else None
