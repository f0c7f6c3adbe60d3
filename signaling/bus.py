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
import secrets
from collections.abc import AsyncIterator
from typing import Any, Protocol

log = logging.getLogger("diemcau.bus")

Message = dict[str, Any]

# Redis pub/sub channel per topic; payload JSON {"node": sender node id, "message": {...}}.
BUS_CHANNEL = "diemcau:bus:{topic}"
BUS_PATTERN = "diemcau:bus:*"

DEFAULT_QUEUE_SIZE = 256


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
    """A LocalBus for this node plus Redis pub/sub between nodes."""

    def __init__(self, url: str, node: str | None = None) -> None:
        import redis.asyncio as redis

        self.node = node or secrets.token_hex(6)
        self.local = LocalBus()
        self._redis = redis.from_url(url)
        self._pubsub = self._redis.pubsub()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._pubsub.psubscribe(BUS_PATTERN)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            await self._relay()
        except Exception as exc:  # Redis went away: said once here, and on /healthz (ping)
            log.error("the Redis bus stopped: %s; this node no longer hears the others", exc)

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

    def subscribe(self, topic: str, maxsize: int = DEFAULT_QUEUE_SIZE) -> Subscription:
        return self.local.subscribe(topic, maxsize)

    async def publish(self, topic: str, message: Message) -> None:
        self.local.deliver(topic, message)
        payload = json.dumps({"node": self.node, "message": message}, ensure_ascii=False)
        await self._redis.publish(BUS_CHANNEL.format(topic=topic), payload)

    async def ping(self) -> None:
        # A reader that ended (Redis went away under it) hears no other node any more.
        if self._reader is not None and self._reader.done():
            raise ConnectionError("this node stopped reading the bus from Redis")
        await self._redis.ping()

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._pubsub.aclose()
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
