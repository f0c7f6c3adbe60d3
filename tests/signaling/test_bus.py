"""One suite for both buses: the in-process default and Redis, with a real redis-server."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from diemcau.signaling.bus import Bus, LocalBus, Overflow, RedisBus, create_bus

REDIS = shutil.which("redis-server")


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if REDIS is None:
        pytest.skip("redis-server is not installed (tests/run installs it)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir: Path = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [
            REDIS,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=10)


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
