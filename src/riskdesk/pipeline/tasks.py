"""The server's background work of the pipeline: event workers (polling the queue, or fed
by a NATS bus) and the import reaper."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from riskdesk.config import Settings
from riskdesk.db import unavailable
from riskdesk.kit.periodic import Periodic, Retrying
from riskdesk.pipeline import intake, processing
from riskdesk.pipeline.bus import (
    DUPLICATE_WINDOW_SECONDS,
    BusUnavailable,
    Delivery,
    NatsBus,
)

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


IDLE_FETCH_SECONDS = 1.0  # how long an idle worker's fetch waits for the first message
RELAY_BATCH = 1000  # rows the relay reads (and may publish again) per pass
BACKOFF_FIRST_SECONDS = 0.1  # a failed partition is retried after this, doubling per failure
BACKOFF_MAX_SECONDS = 5.0


@dataclass
class _Held:
    delivery: Delivery
    progressed: float  # when NATS last heard that it is being worked on


class BusWorker:
    """A thread that processes the work a NATS bus delivers until stopped (``pipeline.bus``
    says how): it holds the messages it fetched, processes their partitions through the
    fenced path, and acks each once its row is gone. Worker ``number`` 0 of a process also
    runs the relay that publishes again what a crash or an outage kept off the bus."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        settings: Settings,
        bus: NatsBus,
        *,
        number: int = 0,
    ) -> None:
        self.factory, self.settings, self.bus, self.number = factory, settings, bus, number
        self.processed = 0
        self.retrying = Retrying(f"event bus worker {number}", log, unavailable)
        self.hold_limit = max(
            64, settings.event_batch_customers * processing.CLAIM_ROWS_PER_CUSTOMER
        )
        self._held: dict[int, _Held] = {}
        self._failures: dict[int, int] = {}  # partition: failed batches in a row
        self._retry_at: dict[int, float] = {}  # partition: not before (monotonic)
        self._relayed: dict[str, float] = {}  # key: when the relay published it
        self._next_relay = 0.0
        self._consumer = bus.consumer()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"riskdesk-bus-events-{number}", daemon=True
        )

    def start(self) -> None:
        """Start processing."""
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current step; what it holds unacked NATS redelivers (to others)."""
        self._stop.set()
        self._thread.join(timeout=60)
        self._consumer.close()

    @property
    def holding(self) -> int:
        """Messages held now."""
        return len(self._held)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.step()
            except BusUnavailable:
                busy = False
                self._stop.wait(0.2)  # NATS away: the client reconnects meanwhile
            except Exception as exc:  # the database away, say: a later step tries again
                self.retrying.failed(exc)
                self._stop.wait(self.retrying.delay(self.settings.event_poll_seconds))
                continue
            else:
                self.retrying.succeeded()
            if not busy and self._held:
                self._stop.wait(0.05)  # what it holds is owned elsewhere or waits for a retry

    def step(self) -> bool:
        """Relay when due, take messages, process one batch of their partitions and ack what
        is done; whether a batch was processed."""
        now = time.monotonic()
        if self.number == 0 and now >= self._next_relay:
            self._next_relay = now + self.settings.event_bus_relay_seconds
            self.relay()
            if purged := self.bus.tidy():
                log.warning("event bus: purged %s message(s) of acked work left by a crash", purged)
        self._take()
        if not self._held:
            return False
        done = self._process()
        self._settle()
        return done > 0

    def _take(self) -> None:
        room = self.hold_limit - len(self._held)
        if room <= 0:
            return
        linger = max(0.01, self.settings.event_linger_seconds)
        if self._held:
            got = self._consumer.fetch(room, linger)
        else:
            # One message ends the wait at once; a fetch of many would wait out its time-out
            # for the batch to fill. Then what came with it.
            got = self._consumer.fetch(1, IDLE_FETCH_SECONDS)
            if got and room > 1:
                with contextlib.suppress(BusUnavailable):  # keep the one it has
                    got += self._consumer.fetch(room - 1, linger)
        now = time.monotonic()
        for delivery in got:
            # A redelivery of a row held already replaces the older one.
            self._held[delivery.queue_id] = _Held(delivery, now)
        for delivery in got:
            if delivery.deliveries >= self.bus.max_deliver:
                buried = processing.bury_undelivered(
                    self.factory, delivery.queue_id, delivery.deliveries, self.settings
                )
                if buried is not None and self._consumer.ack([delivery]):
                    del self._held[delivery.queue_id]  # buried now, or gone already

    def _process(self) -> int:
        now = time.monotonic()
        first: dict[int, int] = {}
        for queue_id, held in self._held.items():
            p = held.delivery.partition
            first[p] = min(first.get(p, queue_id), queue_id)
        partitions = sorted(
            (p for p in first if self._retry_at.get(p, 0.0) <= now), key=lambda p: first[p]
        )
        if not partitions:
            return 0
        batch = processing.process_batch(self.factory, partitions, self.settings)
        if batch is None:
            return 0
        if batch.failed:
            for p in batch.partitions:
                n = self._failures[p] = self._failures.get(p, 0) + 1
                delay = min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** (n - 1))
                self._retry_at[p] = time.monotonic() + delay
            return 0
        for p in batch.partitions:
            self._failures.pop(p, None)
            self._retry_at.pop(p, None)
        self.processed += batch.rows
        return batch.rows

    def _settle(self) -> None:
        """Ack the held messages whose rows are gone (their processing committed, or they
        were buried); tell NATS the others are still being worked on."""
        waiting = processing.still_queued(self.factory, list(self._held))
        gone = [h.delivery for q, h in self._held.items() if q not in waiting]
        for delivery in self._consumer.ack(gone):  # unconfirmed ones: again next step
            del self._held[delivery.queue_id]
        now = time.monotonic()
        for queue_id in waiting:
            held = self._held[queue_id]
            if now - held.progressed > self.bus.ack_wait / 3:
                self._consumer.progress(held.delivery)
                held.progressed = now

    def relay(self) -> int:
        """Publish again the rows queued over ``event_bus_relay_seconds`` ago when the bus
        holds fewer messages than rows wait (a publish lost to a crash or a NATS outage);
        JetStream drops those it holds already. How many were new to it."""
        total, waiting = processing.waiting_work(
            self.factory, self.settings.event_bus_relay_seconds, RELAY_BATCH
        )
        if not waiting:
            return 0
        figures = self.bus.figures()
        if figures.pending + figures.ack_pending >= total:
            return 0
        now = time.monotonic()
        self._relayed = {
            k: t for k, t in self._relayed.items() if now - t < DUPLICATE_WINDOW_SECONDS
        }
        fresh = [w for w in waiting if w.key not in self._relayed]
        new = self.bus.publish(fresh)
        self._relayed.update((w.key, now) for w in fresh)
        if new:
            log.warning("event bus relay: published %s queued row(s) the bus did not hold", new)
        return new
