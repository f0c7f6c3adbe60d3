"""The liveness mark: the last moment the server knew itself alive, written every few seconds.

Crash recovery closes the connections a crash left open at this mark (Store.close_orphaned_
connections), so a writer that stopped would turn halls that were connected into absent ones. It
therefore never stops: a failed write is counted in the store's health (logged, /healthz 503) and
tried again at the next beat. It writes from a worker thread through its own connection, so a
lock held elsewhere or a slow disk stalls that thread, not the event loop and the media.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from datetime import UTC, datetime

from .store import Store


async def keep_alive(store: Store, interval: float) -> None:
    """Mark the store alive every `interval` seconds until cancelled."""
    worker = store.worker()
    try:
        while True:
            await asyncio.sleep(interval)
            await _beat(worker)
    finally:
        worker.close()


async def _beat(worker: Store) -> None:
    # One write at a time on the worker's connection: the next beat starts after this one ends.
    write = asyncio.ensure_future(asyncio.to_thread(worker.mark_alive, datetime.now(UTC)))
    try:
        await asyncio.shield(write)
    except asyncio.CancelledError:
        # Stopping: let the write in flight end (within the worker's busy timeout) before its
        # connection closes.
        with contextlib.suppress(Exception):
            await write
        raise
    except sqlite3.OperationalError:
        pass  # counted and logged by the store's health; tried again at the next beat
    except Exception as exc:  # whatever it was, the next beat tries again
        worker.health.failed(f"{type(exc).__name__}: {exc}", time.monotonic())
