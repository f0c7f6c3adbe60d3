"""Closed connections' memory goes back to the system: one trim for a run of closes."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from diemcau.media.bridge import Bridge
from diemcau.media.heap import HeapTrim, _glibc_trim
from tests.media.test_bridge import dead_offer
from tests.peers import wait_for


async def test_one_trim_for_the_connections_that_closed_meanwhile() -> None:
    calls: list[int] = []
    heap = HeapTrim(every=0.05, trim=lambda: calls.append(1))
    for _ in range(100):
        heap.freed()  # a hundred halls leave at once
    assert calls == []  # not at once: closes come in runs
    await asyncio.sleep(0.2)
    assert calls == [1]
    heap.freed()
    await asyncio.sleep(0.2)
    assert calls == [1, 1]
    heap.freed()
    heap.cancel()  # the bridge closing
    await asyncio.sleep(0.2)
    assert calls == [1, 1]


async def test_glibcs_trim_is_found_here_and_runs() -> None:
    trim = _glibc_trim()
    assert trim is not None  # Debian's glibc
    heap = HeapTrim(every=0.0)
    heap.freed()
    await asyncio.sleep(0.05)
    assert heap.trims == 1


@pytest.mark.netns
async def test_a_closed_connection_is_gone_after_the_trim() -> None:
    """aiortc's objects refer to each other: a closed peer connection lives on until a full
    collection, which the trim makes."""
    bridge = Bridge(connect_timeout=1.0)
    bridge.heap = HeapTrim(every=0.1, trim=lambda: None)
    gc.disable()  # as an idle server that allocates too little for gen 2 to run
    try:
        answer = await bridge.subscribe("s1", "nga-thanh", await dead_offer(ended=True))
        pc = weakref.ref(bridge.broadcasts["s1"].subscribers[answer.resource_id].pc)
        assert await wait_for(lambda: bridge.resource_site("s1", answer.resource_id) is None, 10)
        assert await wait_for(lambda: bridge.heap.trims >= 1, 5)
        assert await wait_for(lambda: pc() is None, 2)
    finally:
        gc.enable()
        await bridge.close()
