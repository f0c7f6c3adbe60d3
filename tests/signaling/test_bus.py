"""One suite for both buses: the in-process default and Redis, with a real redis-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from diemcau.signaling.bus import Bus, LocalBus, Overflow, RedisBus, create_bus
from tests.redisserver import start_redis


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
