"""Memory freed by closed connections, given back to the system.

A media connection holds a few hundred KiB in many small allocations (aiortc's objects, OpenSSL's
DTLS state, SRTP contexts). Once it closes, two things keep that memory in the process: aiortc's
objects refer to each other (event handlers, closures), so they are freed only by a full
garbage collection, which an idle server may not run for a long time; and glibc keeps what is
freed, its heap shrinking only from the top. After a thousand halls joined and left, or a flood
of offers that never came up, the resident memory stayed 15-20% above what it was
(tests/media/test_soak.py) though nothing was alive. So once connections have closed, at most
once per `every` seconds, the bridge collects and `malloc_trim` hands the free pages back (a
few ms each at 100 MiB; no trim where glibc is not the allocator).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import time
from collections.abc import Callable

log = logging.getLogger("diemcau.media")


def _glibc_trim() -> Callable[[], object] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None  # musl, macOS: no malloc_trim
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


class HeapTrim:
    """`freed()` when a connection has closed: the heap is trimmed `every` seconds later, once
    for all that closed meanwhile."""

    def __init__(self, every: float = 10.0, trim: Callable[[], object] | None = None) -> None:
        self.every = every
        self._trim = trim if trim is not None else _glibc_trim()
        self._timer: asyncio.TimerHandle | None = None
        self.trims = 0

    def freed(self) -> None:
        if self._timer is not None:
            return
        self._timer = asyncio.get_running_loop().call_later(self.every, self.trim)

    def trim(self) -> None:
        self._timer = None
        started = time.perf_counter()
        gc.collect()
        if self._trim is not None:
            self._trim()
        self.trims += 1
        log.debug("heap collected and trimmed in %.1f ms", (time.perf_counter() - started) * 1000)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
