"""Closed connections' memory goes back to the system: one trim for a run of closes."""

from __future__ import annotations

import asyncio

from diemcau.media.heap import HeapTrim, _glibc_trim


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
