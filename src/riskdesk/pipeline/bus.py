"""NATS JetStream as the carrier of queued work between processes (``RISKDESK_EVENT_BUS``).

The queue table stays the durable truth, a transactional outbox: intake writes one row per
customer in its own transaction, and once that commits this process publishes the rows, one
message per row, on ``riskdesk.<name>.work.<partition>`` of the work-queue stream
``riskdesk-<name>``, with ``Nats-Msg-Id`` = the row's key (``WorkRef.key``), so JetStream
drops a copy published again within its duplicate window. A publish that fails (NATS away)
fails nothing else: the workers' relay publishes rows still queued after
``event_bus_relay_seconds``.

Workers pull from one durable consumer, process the partitions the messages name through the
fenced path (``processing.process_batch``) and ack a message once its row is gone: processed
(the row is deleted in the transaction that does the work, so the ack follows the commit) or
buried. A message whose row still waits (its partition owned by another worker now, or failed
and waiting for its retry) is held, with progress sent so NATS does not redeliver it, and acked
when its row goes.

Dead letters: a failure is counted on the row (``attempts``), as without a bus, and the
``event_max_deliveries``-th failure buries it. NATS redelivers only what a lost worker held
(ack wait expired), so the consumer's ``max_deliver`` is the same number: the worker that gets
the last delivery of a row still queued buries it (every earlier holder died on it) and acks.
Either count reaching the limit puts the row in dead letters, and NATS never gives up on a
message whose row still waits.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import threading
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api

from riskdesk.config import Settings
from riskdesk.pipeline.processing import WorkRef

log = logging.getLogger(__name__)

# A held message gets progress well within this; a lost holder's is redelivered after it.
ACK_WAIT_SECONDS = 30.0
DUPLICATE_WINDOW_SECONDS = 120.0  # JetStream drops a message whose key it saw this recently
CALL_SECONDS = 5.0  # the longest a worker waits on one call to NATS
PUBLISH_SECONDS = 2.0
MAX_ACK_PENDING = 20_000  # messages all workers may hold at once

T = TypeVar("T")


class BusUnavailable(Exception):
    """NATS cannot be reached now (or did not answer in time)."""


@dataclass(frozen=True)
class BusFigures:
    """The stream and the workers' consumer now."""

    stream_messages: int
    pending: int  # not yet delivered
    ack_pending: int  # delivered, not yet acked (held by workers)
    redelivered: int  # delivered more than once, not yet acked


@dataclass
class Delivery:
    """One message as a worker got it."""

    queue_id: int
    partition: int
    deliveries: int
    msg: Msg


class NatsBus:
    """A connection to NATS, run on an asyncio loop of its own thread; its methods are called
    from the worker and request threads and never hold them longer than a call's time-out.

    Connecting (and reconnecting) goes on in the background until ``close``: the bus is
    ``ready`` once the stream and the consumer exist on the server it reached."""

    def __init__(self, servers: str, name: str, *, max_deliver: int) -> None:
        self.servers = [s for s in servers.split(",") if s]
        self.stream = f"riskdesk-{name}"
        self.subject_prefix = f"riskdesk.{name}.work"
        self.durable = f"riskdesk-{name}-workers"
        self.max_deliver = max_deliver
        self.ack_wait = ACK_WAIT_SECONDS
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="riskdesk-bus", daemon=True
        )
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._declared = False
        self._closing = False
        self._connecting: concurrent.futures.Future[None] | None = None
        self._declaring: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> NatsBus | None:
        """The bus the settings name, not yet started; None when the database is the bus."""
        if not settings.event_bus:
            return None
        return cls(
            settings.event_bus, settings.bus_name(), max_deliver=settings.event_max_deliveries
        )

    def subject(self, partition: int) -> str:
        """The subject of a partition's work."""
        return f"{self.subject_prefix}.{partition}"

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start connecting in the background."""
        self._thread.start()
        self._connecting = asyncio.run_coroutine_threadsafe(self._connect(), self._loop)

    def close(self) -> None:
        """Close the connection and stop the loop."""
        if not self._thread.is_alive():
            return
        self._closing = True
        if self._connecting is not None:
            self._connecting.cancel()
        if self._nc is not None:
            future = asyncio.run_coroutine_threadsafe(self._nc.close(), self._loop)
            try:
                future.result(CALL_SECONDS)
            except Exception:  # closing a connection that is away: nothing to keep
                log.debug("closing the NATS connection failed", exc_info=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(CALL_SECONDS)
        if not self._loop.is_running():
            self._loop.close()

    @property
    def ready(self) -> bool:
        """Connected, with the stream and the consumer declared."""
        return self._declared and self._nc is not None and self._nc.is_connected

    async def _connect(self) -> None:
        nc = Client()
        # No limit on reconnecting: a worker outlives a NATS restart or outage.
        await nc.connect(
            servers=self.servers,
            name="riskdesk",
            connect_timeout=2,
            reconnect_time_wait=0.5,  # type: ignore[arg-type]  # seconds; typed int upstream
            max_reconnect_attempts=-1,
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
        )
        self._nc = nc
        self._js = nc.jetstream(timeout=CALL_SECONDS)
        await self._declare()
        log.info("event bus: connected to NATS, stream %s", self.stream)

    async def _declare(self) -> None:
        """Create the stream and the consumer unless they exist (a restarted server keeps
        them in its store; a server with a fresh store gets them again)."""
        assert self._js is not None
        while True:
            try:
                try:
                    await self._js.stream_info(self.stream)
                except nats.js.errors.NotFoundError:
                    await self._js.add_stream(
                        api.StreamConfig(
                            name=self.stream,
                            subjects=[f"{self.subject_prefix}.*"],
                            retention=api.RetentionPolicy.WORK_QUEUE,
                            storage=api.StorageType.FILE,
                            duplicate_window=DUPLICATE_WINDOW_SECONDS,
                        )
                    )
                try:
                    await self._js.consumer_info(self.stream, self.durable)
                except nats.js.errors.NotFoundError:
                    await self._js.add_consumer(
                        self.stream,
                        api.ConsumerConfig(
                            durable_name=self.durable,
                            ack_policy=api.AckPolicy.EXPLICIT,
                            ack_wait=self.ack_wait,
                            max_deliver=self.max_deliver,
                            max_ack_pending=MAX_ACK_PENDING,
                            filter_subject=f"{self.subject_prefix}.*",
                        ),
                    )
                self._declared = True
                return
            except (TimeoutError, nats.errors.Error, OSError) as exc:
                log.warning("event bus: declaring the stream failed (%s)", type(exc).__name__)
                await asyncio.sleep(0.5)

    async def _on_error(self, exc: Exception) -> None:
        log.debug("event bus: %s", type(exc).__name__)

    async def _on_disconnected(self) -> None:
        if not self._closing:
            log.warning("event bus: disconnected from NATS; reconnecting")

    async def _on_reconnected(self) -> None:
        log.info("event bus: reconnected to NATS")
        self._declared = False
        # A task of its own: the client finishes reconnecting while it declares.
        self._declaring = asyncio.get_running_loop().create_task(self._declare())

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float = CALL_SECONDS) -> T:
        """Run ``coro`` on the bus's loop and wait for it; BusUnavailable when NATS is not
        reached, does not answer in time, or answers with an error."""
        if not self.ready:
            coro.close()
            raise BusUnavailable("not connected")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise BusUnavailable("no answer in time") from None
        except (TimeoutError, nats.errors.Error, OSError) as exc:
            raise BusUnavailable(type(exc).__name__) from exc

    # ------------------------------------------------------------ publishing

    async def _publish(self, works: Sequence[WorkRef]) -> int:
        assert self._js is not None
        js = self._js
        acks = await asyncio.gather(
            *(
                js.publish(
                    self.subject(w.partition),
                    json.dumps({"q": w.queue_id, "p": w.partition}).encode(),
                    timeout=PUBLISH_SECONDS,
                    stream=self.stream,
                    headers={"Nats-Msg-Id": w.key},
                )
                for w in works
            )
        )
        return sum(1 for a in acks if not a.duplicate)

    def publish(self, works: Sequence[WorkRef], timeout: float = CALL_SECONDS) -> int:
        """Publish and wait for JetStream's acks; how many were new (not duplicates)."""
        if not works:
            return 0
        return self._call(self._publish(works), timeout)

    def publish_soon(self, works: list[WorkRef]) -> None:
        """Publish without waiting (after an intake's commit): a failure is logged, and the
        relay publishes the rows later."""
        if not works:
            return
        if not self.ready:
            log.warning("event bus: not connected; %s queued row(s) left to the relay", len(works))
            return
        future = asyncio.run_coroutine_threadsafe(self._publish(works), self._loop)
        future.add_done_callback(_log_failed_publish)

    # ------------------------------------------------------------ consuming

    def consumer(self) -> BusConsumer:
        """A pull subscription of the workers' durable consumer (one per worker thread)."""
        return BusConsumer(self)

    def figures(self, timeout: float = CALL_SECONDS) -> BusFigures:
        """The stream's messages and the consumer's pending, held and redelivered ones."""

        async def read() -> BusFigures:
            assert self._js is not None
            stream = await self._js.stream_info(self.stream)
            consumer = await self._js.consumer_info(self.stream, self.durable)
            return BusFigures(
                stream_messages=stream.state.messages,
                pending=consumer.num_pending or 0,
                ack_pending=consumer.num_ack_pending or 0,
                redelivered=consumer.num_redelivered or 0,
            )

        return self._call(read(), timeout)

    def tidy(self, timeout: float = CALL_SECONDS) -> int:
        """Purge the messages the consumer will never deliver again, and how many: after a
        NATS server is killed, its store may keep messages whose acks (in a work queue, their
        deletion) it had not yet written, while the consumer's state is past them. They are
        all acked work (a worker acks only once a row is gone), so nothing is lost."""

        async def purge() -> int:
            assert self._js is not None
            stream = await self._js.stream_info(self.stream)
            consumer = await self._js.consumer_info(self.stream, self.durable)
            settled = consumer.ack_floor if consumer.num_ack_pending else consumer.delivered
            floor = settled.stream_seq if settled is not None else 0
            if not stream.state.messages or stream.state.first_seq > floor:
                return 0
            await self._js.purge_stream(self.stream, seq=floor + 1)
            after = await self._js.stream_info(self.stream)
            return stream.state.messages - after.state.messages

        return self._call(purge(), timeout)

    def ping(self, timeout: float = 1.0) -> bool:
        """Whether JetStream answers for the stream now (readiness), never an exception."""
        try:
            self.figures(timeout)
        except Exception:  # any failure means not ready
            return False
        return True


class BusConsumer:
    """One worker's pull subscription; its calls wait on the bus's loop."""

    def __init__(self, bus: NatsBus) -> None:
        self.bus = bus
        self._sub: JetStreamContext.PullSubscription | None = None

    async def _fetch(self, batch: int, timeout: float) -> list[Msg]:
        js = self.bus._js
        assert js is not None
        if self._sub is None:
            self._sub = await js.pull_subscribe_bind(self.bus.durable, stream=self.bus.stream)
        try:
            return await self._sub.fetch(batch, timeout=timeout)
        except nats.errors.TimeoutError:
            return []

    def fetch(self, batch: int, timeout: float) -> list[Delivery]:
        """Up to ``batch`` messages, waiting up to ``timeout`` seconds for the first; a message
        that is not Riskdesk's work is terminated (never redelivered)."""
        msgs = self.bus._call(self._fetch(batch, timeout), timeout + CALL_SECONDS)
        found: list[Delivery] = []
        for msg in msgs:
            try:
                body = json.loads(msg.data)
                found.append(
                    Delivery(int(body["q"]), int(body["p"]), msg.metadata.num_delivered, msg)
                )
            except (ValueError, KeyError, TypeError):
                log.error("event bus: a message on %s is not queued work; dropped", msg.subject)
                self.bus._call(msg.term())
        return found

    def ack(self, deliveries: Sequence[Delivery]) -> list[Delivery]:
        """Done with them (their rows are processed or buried); those NATS confirmed. A
        confirmed ack, not a fire-and-forget one: an ack lost with a dying connection would
        leave the message to be redelivered only after the ack wait."""

        async def ack_all() -> list[bool]:
            answers = await asyncio.gather(
                *(d.msg.ack_sync(timeout=CALL_SECONDS) for d in deliveries),
                return_exceptions=True,
            )
            return [not isinstance(a, BaseException) for a in answers]

        if not deliveries:
            return []
        confirmed = self.bus._call(ack_all(), CALL_SECONDS + 1)
        return [d for d, ok in zip(deliveries, confirmed, strict=True) if ok]

    def progress(self, delivery: Delivery) -> None:
        """Still held: NATS waits another ack wait before redelivering it."""
        self.bus._call(delivery.msg.in_progress())

    def close(self) -> None:
        """Drop the subscription (the durable consumer stays)."""
        if self._sub is not None and self.bus.ready:
            with contextlib.suppress(BusUnavailable):
                self.bus._call(self._sub.unsubscribe())
        self._sub = None


def _log_failed_publish(future: concurrent.futures.Future[int]) -> None:
    if future.cancelled():
        return
    exc = future.exception()
    if exc is not None:
        # The type only: the rows are still queued and the relay publishes them.
        log.warning("event bus: publishing committed work failed (%s)", type(exc).__name__)
