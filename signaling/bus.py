"""The event bus: every message that crosses from one participant to others goes through it.

`LocalBus` is the embedded default, in-process with bounded queues. `RedisBus` adds what crosses
nodes: it delivers locally through a `LocalBus` and relays through Redis pub/sub to the other
nodes. `create_bus(redis_url)` picks one; the room logic never knows which.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import secrets
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Protocol

from ..server.backoff import Backoff, RetrySchedule

log = logging.getLogger("diemcau.bus")

Message = dict[str, Any]

# Redis pub/sub channel per topic; payload JSON {"node": sender node id, "message": {...}}.
BUS_CHANNEL = "diemcau:bus:{topic}"
BUS_PATTERN = "diemcau:bus:*"

DEFAULT_QUEUE_SIZE = 256

# Reconnecting to Redis once it went away: soon at first, then every 10 s at most; the jitter
# keeps the nodes from all knocking at once when it comes back.
RECONNECT = Backoff(first=0.25, factor=2.0, longest=10.0, jitter=0.2)
# The longest a publish waits for Redis: the meeting awaits it among an event's effects.
PUBLISH_TIMEOUT = 1.0
# A Redis gone without a word (a cut link, no reset) is noticed in about 25 s, not two hours.
KEEPALIVE = {socket.TCP_KEEPIDLE: 10, socket.TCP_KEEPINTVL: 5, socket.TCP_KEEPCNT: 3}


class Overflow(Exception):
    """A subscriber fell so far behind that its queue filled; it has been cut off and should
    start again from a fresh snapshot."""


class Subscription:
    """One consumer of one topic. Never blocks the publisher: when the bounded queue is full
    the subscription is closed with Overflow rather than growing or slowing everyone."""

    _CLOSED = object()

    def __init__(self, bus: LocalBus, topic: str, maxsize: int) -> None:
        self._bus = bus
        self.topic = topic
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize)
        self.overflowed = False
        self.closed = False

    def _offer(self, message: Message) -> None:
        if self.closed:
            return
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed = True
            self.close()

    async def get(self) -> Message:
        item = await self._queue.get()
        if item is Subscription._CLOSED:
            self._queue.put_nowait(item)  # every later get() ends the same way
            if self.overflowed:
                raise Overflow(self.topic)
            raise StopAsyncIteration
        message: Message = item
        return message

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._bus._unsubscribe(self)
        # Make room for the end mark even when full: what is queued is lost either way.
        while self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(Subscription._CLOSED)

    def __aiter__(self) -> AsyncIterator[Message]:
        return self

    async def __anext__(self) -> Message:
        return await self.get()


class Bus(Protocol):
    async def publish(self, topic: str, message: Message) -> None: ...

    def subscribe(self, topic: str, maxsize: int = DEFAULT_QUEUE_SIZE) -> Subscription: ...

    async def ping(self) -> None:
        """Return once the bus can carry messages; raise (ConnectionError, OSError, a client's
        error) if it cannot."""
        ...

    async def close(self) -> None: ...


class LocalBus:
    """In-process delivery: publish puts the message in each subscriber's bounded queue."""

    def __init__(self) -> None:
        self._topics: dict[str, set[Subscription]] = {}

    def subscribe(self, topic: str, maxsize: int = DEFAULT_QUEUE_SIZE) -> Subscription:
        subscription = Subscription(self, topic, maxsize)
        self._topics.setdefault(topic, set()).add(subscription)
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        subscribers = self._topics.get(subscription.topic)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._topics[subscription.topic]

    def deliver(self, topic: str, message: Message) -> None:
        for subscription in list(self._topics.get(topic, ())):
            subscription._offer(message)

    async def publish(self, topic: str, message: Message) -> None:
        self.deliver(topic, message)

    async def ping(self) -> None:
        return  # in-process: nothing to reach

    async def close(self) -> None:
        for subscribers in list(self._topics.values()):
            for subscription in list(subscribers):
                subscription.close()


class RedisBus:
    """A LocalBus for this node plus Redis pub/sub between nodes, reconnecting when Redis goes.

    Local delivery never depends on Redis. While Redis is away (restarted, the connection cut)
    the reader reconnects with backoff and subscribes again; what is published meanwhile is
    delivered here and dropped for the other nodes, counted in `dropped`: the relay carries
    state changes (floor, mutes, presence, link reissues) that a page applies as they come, so
    one replayed minutes late would undo what happened since (docs/meeting.md)."""

    def __init__(self, url: str, node: str | None = None, backoff: Backoff = RECONNECT) -> None:
        import redis.asyncio as redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self.node = node or secrets.token_hex(6)
        self.local = LocalBus()
        # What the client raises when Redis is not there (its ConnectionError, TimeoutError),
        # and a socket's own errors: the optional client is imported here, not at the top.
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)
        # The reconnection is this bus's own (one log per outage): the client does not retry.
        options: dict[str, Any] = {
            "retry": Retry(NoBackoff(), 0),
            "socket_keepalive": True,
            "socket_keepalive_options": KEEPALIVE,
            "socket_connect_timeout": PUBLISH_TIMEOUT,
        }
        # Two clients: publishing may wait PUBLISH_TIMEOUT at most, the subscriber idles forever.
        self._redis = redis.from_url(url, socket_timeout=PUBLISH_TIMEOUT, **options)
        self._listener = redis.from_url(url, socket_timeout=None, **options)
        self._pubsub = self._listener.pubsub()
        self._schedule = RetrySchedule(backoff)
        self._reader: asyncio.Task[None] | None = None
        # Down since this wall-clock time (for /healthz), None while Redis carries messages.
        self.down_since: datetime | None = None
        self.dropped = 0  # messages published while Redis was away, not relayed to other nodes
        self._dropped_at_outage = 0

    async def start(self) -> None:
        """Subscribe, or begin reconnecting: a Redis not up yet when the node starts (both
        coming back from a power cut) is an outage like any other, not a reason to stop."""
        try:
            await self._pubsub.psubscribe(BUS_PATTERN)
        except self._errors as exc:
            self._went_down(exc)
        self._reader = asyncio.create_task(self._read(connected=self.down_since is None))

    def _broken(self, exc: BaseException) -> None:
        """A publish failed while the reader still relays (Redis too slow, or the subscriber's
        connection not yet noticed gone): the reader starts over on a fresh connection."""
        relaying = self.down_since is None
        self._went_down(exc)
        if relaying and self._reader is not None:
            self._reader.cancel()
            self._reader = asyncio.create_task(self._read(connected=False))

    async def _read(self, connected: bool = True) -> None:
        try:
            await self._follow(connected)
        except Exception as exc:  # not Redis going away, which _follow outlives: said once here
            log.error("the Redis bus stopped: %s; this node no longer hears the others", exc)

    async def _follow(self, connected: bool) -> None:
        """The one owner of the connection's state: relays while up, reconnects while down."""
        if not connected:
            await self._reconnect()
        while True:
            try:
                await self._relay()
            except self._errors as exc:
                self._went_down(exc)
            await self._reconnect()

    async def _reconnect(self) -> None:
        """Subscribe again on a fresh connection, waiting longer after each failure."""
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            await asyncio.sleep(self._schedule.failed(now, random.random()) - now)
            with contextlib.suppress(*self._errors):  # the old connection is gone anyway
                await self._pubsub.aclose()
            self._pubsub = self._listener.pubsub()
            try:
                await self._pubsub.psubscribe(BUS_PATTERN)
            except self._errors:
                continue  # said once when it went down; still down
            # The publisher's pooled connections died with the old server: start them afresh.
            with contextlib.suppress(*self._errors):
                await self._redis.connection_pool.disconnect()
            self._schedule.succeeded()
            self._came_back()
            return

    def _went_down(self, exc: BaseException) -> None:
        if self.down_since is not None:
            return
        self.down_since = datetime.now(UTC)
        self._dropped_at_outage = self.dropped
        log.warning(
            "the Redis bus is down (%s: %s): reconnecting; messages to other nodes are dropped"
            " until it is back",
            type(exc).__name__,
            exc,
        )

    def _came_back(self) -> None:
        if self.down_since is None:
            return
        log.info(
            "the Redis bus is back after %.1f s; %d messages were not relayed meanwhile",
            (datetime.now(UTC) - self.down_since).total_seconds(),
            self.dropped - self._dropped_at_outage,
        )
        self.down_since = None

    async def _relay(self) -> None:
        prefix = BUS_CHANNEL.format(topic="")
        async for item in self._pubsub.listen():
            if item.get("type") != "pmessage":
                continue
            try:
                envelope = json.loads(item["data"])
                channel = item["channel"].decode()
            except (ValueError, AttributeError, UnicodeDecodeError):
                log.warning("ignored a malformed bus message")
                continue
            if envelope.get("node") == self.node:
                continue  # delivered locally when published
            self.local.deliver(channel[len(prefix) :], envelope.get("message", {}))
        raise ConnectionError("the subscription ended")

    def subscribe(self, topic: str, maxsize: int = DEFAULT_QUEUE_SIZE) -> Subscription:
        return self.local.subscribe(topic, maxsize)

    async def publish(self, topic: str, message: Message) -> None:
        self.local.deliver(topic, message)
        if self.down_since is not None:
            self.dropped += 1  # not even tried: each try would cost the meeting a timeout
            return
        payload = json.dumps({"node": self.node, "message": message}, ensure_ascii=False)
        try:
            await self._redis.publish(BUS_CHANNEL.format(topic=topic), payload)
        except self._errors as exc:
            # Until the reader is back on a fresh connection nothing more is tried.
            self.dropped += 1
            self._broken(exc)

    async def ping(self) -> None:
        if self._reader is not None and self._reader.done():
            raise ConnectionError("this node stopped reading the bus from Redis")
        if self.down_since is not None:
            raise ConnectionError(
                f"the Redis bus is down since {self.down_since:%H:%M:%S} UTC, reconnecting"
                f" ({self.dropped - self._dropped_at_outage} messages not relayed)"
            )
        await self._redis.ping()

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._pubsub.aclose()
        await self._listener.aclose()
        await self._redis.aclose()
        await self.local.close()


async def create_bus(redis_url: str | None = None) -> Bus:
    """The bus for this configuration: Redis when a URL is given, else in-process."""
    if redis_url:
        bus = RedisBus(redis_url)
        await bus.start()
        log.info("using the Redis bus at %s as node %s", redis_url.split("@")[-1], bus.node)
        return bus
    log.info("using the in-process bus (single node)")
    return LocalBus()
