"""One suite for both buses: the in-process default and Redis, with a real redis-server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from diemcau.server.backoff import Backoff
from diemcau.signaling.bus import Bus, LocalBus, Overflow, RedisBus, Subscription, create_bus
from tests.redisserver import RedisServer, start_redis

# Reconnection in tenths of seconds, so that an outage of a second sees several attempts.
QUICK = Backoff(first=0.05, factor=2.0, longest=0.3, jitter=0.2)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    redis = start_redis(tmp_path_factory.mktemp("redis"))
    yield redis.url
    redis.stop()


@pytest.fixture(params=["local", "redis"])
async def buses(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Bus, Bus]]:
    """Two nodes' buses: the same object for the local bus, two Redis clients otherwise."""
    if request.param == "local":
        bus = await create_bus(None)
        yield bus, bus
        await bus.close()
        return
    url = request.getfixturevalue("redis_url")
    a, b = await create_bus(url), await create_bus(url)
    yield a, b
    await a.close()
    await b.close()


async def _next(subscription: object) -> dict:
    return await asyncio.wait_for(subscription.get(), 5)  # type: ignore[attr-defined]


async def test_a_message_reaches_every_subscriber_of_its_topic_once(buses: tuple[Bus, Bus]) -> None:
    a, b = buses
    here, there = a.subscribe("session:s1"), b.subscribe("session:s1")
    elsewhere = b.subscribe("session:s2")
    await asyncio.sleep(0.2)  # let Redis subscriptions settle
    await a.publish("session:s1", {"type": "floor", "holder": "nga-thanh", "tên": "Xã Nga Thạnh"})
    for subscription in (here, there):
        assert await _next(subscription) == {
            "type": "floor",
            "holder": "nga-thanh",
            "tên": "Xã Nga Thạnh",
        }
    await a.publish("session:s1", {"type": "second"})
    assert (await _next(here))["type"] == "second"  # not a duplicate of the first
    assert (await _next(there))["type"] == "second"
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(elsewhere.get(), 0.3)


async def test_order_is_kept_per_publisher(buses: tuple[Bus, Bus]) -> None:
    a, b = buses
    subscription = b.subscribe("t")
    await asyncio.sleep(0.2)
    for i in range(50):
        await a.publish("t", {"n": i})
    assert [(await _next(subscription))["n"] for _ in range(50)] == list(range(50))


async def test_a_slow_subscriber_is_cut_off_not_waited_for(buses: tuple[Bus, Bus]) -> None:
    a, b = buses
    slow = b.subscribe("t", maxsize=4)
    fast = b.subscribe("t", maxsize=100)
    await asyncio.sleep(0.2)
    for i in range(10):
        await a.publish("t", {"n": i})
    assert [(await _next(fast))["n"] for _ in range(10)] == list(range(10))
    with pytest.raises(Overflow):
        while True:
            await _next(slow)
    assert slow.overflowed


async def test_closing_a_subscription_ends_its_iteration() -> None:
    bus = LocalBus()
    subscription = bus.subscribe("t")
    await bus.publish("t", {"n": 1})
    subscription.close()
    # What was queued before the close is still read, then the iteration ends.
    assert [m async for m in subscription] == [{"n": 1}]
    await bus.publish("t", {"n": 2})  # nobody listening: no error


async def test_create_bus_picks_by_configuration(redis_url: str) -> None:
    local = await create_bus(None)
    assert isinstance(local, LocalBus)
    remote = await create_bus(redis_url)
    assert isinstance(remote, RedisBus)
    await remote.close()


async def test_a_bus_that_can_carry_messages_answers_a_ping(buses: tuple[Bus, Bus]) -> None:
    a, b = buses
    await a.ping()
    await b.ping()
    subscription = b.subscribe("room")
    await a.publish("room", {"type": "ping"})
    assert await asyncio.wait_for(subscription.get(), 5) == {"type": "ping"}


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("not reached within 10 s")


@dataclass
class TwoNodes:
    redis: RedisServer
    a: RedisBus
    b: RedisBus
    here: Subscription  # on a
    there: Subscription  # on b


@pytest.fixture
async def nodes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> AsyncIterator[TwoNodes]:
    """Two nodes' Redis buses on a redis-server of their own, having exchanged a message."""
    caplog.set_level(logging.INFO, logger="diemcau.bus")
    redis = start_redis(tmp_path)
    a, b = RedisBus(redis.url, backoff=QUICK), RedisBus(redis.url, backoff=QUICK)
    await a.start()
    await b.start()
    two = TwoNodes(redis, a, b, a.subscribe("t", maxsize=1000), b.subscribe("t"))
    await _exchange(two)
    yield two
    await a.close()
    await b.close()
    two.redis.stop()  # the one started last


async def _exchange(nodes: TwoNodes) -> None:
    """A message each way, each heard on the other node (and only once on its own)."""
    for sender in (nodes.a, nodes.b):
        await sender.publish("t", {"from": sender.node})
        assert await _next(nodes.there) == {"from": sender.node}
        assert await _next(nodes.here) == {"from": sender.node}


def _said(caplog: pytest.LogCaptureFixture, words: str) -> int:
    return sum(words in record.getMessage() for record in caplog.records)


async def test_the_redis_bus_comes_back_after_redis_restarts(
    nodes: TwoNodes, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = nodes.a, nodes.b
    tasks = len(asyncio.all_tasks())
    nodes.redis.stop()
    await _until(lambda: a.down_since is not None and b.down_since is not None)
    with pytest.raises(ConnectionError, match="down"):
        await a.ping()  # what /healthz reports
    # Published meanwhile: delivered on this node at once, dropped for the others, counted.
    for n in range(500):
        await a.publish("t", {"n": n})
    assert [(await _next(nodes.here))["n"] for _ in range(500)] == list(range(500))
    assert a.dropped == 500
    await _until(lambda: a._schedule.failures >= 3)  # several attempts fail meanwhile

    nodes.redis = start_redis(tmp_path, port=nodes.redis.port)
    await _until(lambda: a.down_since is None and b.down_since is None)
    await a.ping()
    await b.ping()
    # None of the dropped messages arrives late: the first one the other node hears is new.
    await _exchange(nodes)
    assert nodes.there._queue.empty() and nodes.here._queue.empty()
    assert len(asyncio.all_tasks()) == tasks  # the reconnection left nothing running behind
    # Once per outage and bus, not once per attempt; and no traceback.
    assert _said(caplog, "the Redis bus is down") == 2
    assert _said(caplog, "the Redis bus is back") == 2
    assert _said(caplog, "500 messages were not relayed") == 1
    assert not any(record.exc_info for record in caplog.records)
    assert "Traceback" not in caplog.text


async def test_the_redis_bus_comes_back_after_its_connection_is_cut(
    nodes: TwoNodes, caplog: pytest.LogCaptureFixture
) -> None:
    import redis.asyncio as redis_client

    admin = redis_client.from_url(nodes.redis.url)
    try:
        # Redis stays up; the subscribers' connections are closed under them.
        assert await admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub") == 2
    finally:
        await admin.aclose()
    await _until(lambda: _said(caplog, "the Redis bus is back") == 2)
    await _exchange(nodes)
    assert _said(caplog, "the Redis bus is down") == 2
    assert "Traceback" not in caplog.text


async def test_a_publish_that_redis_does_not_answer_in_time_starts_the_bus_over(
    nodes: TwoNodes, caplog: pytest.LogCaptureFixture
) -> None:
    import redis.asyncio as redis_client

    admin = redis_client.from_url(nodes.redis.url)
    try:
        # Redis holds every write (PUBLISH among them) for 2 s; its subscribers stay connected.
        await admin.execute_command("CLIENT", "PAUSE", "2000", "WRITE")
        await nodes.a.publish("t", {"n": 1})  # waits 1 s at most, then gives up: no error
    finally:
        await admin.aclose()
    assert nodes.a.dropped == 1
    assert await _next(nodes.here) == {"n": 1}  # delivered on its own node all the same
    await _until(lambda: _said(caplog, "the Redis bus is back") == 1)
    await asyncio.sleep(2)  # the pause is over
    await _exchange(nodes)
    assert nodes.there._queue.empty()  # the message given up on never arrived late
    assert _said(caplog, "the Redis bus is down") == 1
    assert "Traceback" not in caplog.text


async def test_a_redis_bus_started_before_redis_connects_once_it_is_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="diemcau.bus")
    gone = start_redis(tmp_path)
    gone.stop()  # its port, with nobody on it yet
    bus = RedisBus(gone.url, backoff=QUICK)
    await bus.start()  # no error: the node serves its own halls meanwhile
    redis: RedisServer | None = None
    try:
        here = bus.subscribe("t")
        await bus.publish("t", {"n": 1})
        assert await _next(here) == {"n": 1}
        assert bus.dropped == 1
        with pytest.raises(ConnectionError, match="down"):
            await bus.ping()
        redis = start_redis(tmp_path, port=gone.port)
        await _until(lambda: bus.down_since is None)
        await bus.ping()
    finally:
        await bus.close()
        if redis is not None:
            redis.stop()
    assert _said(caplog, "the Redis bus is down") == 1
    assert _said(caplog, "the Redis bus is back") == 1
    assert "Traceback" not in caplog.text
