"""The liveness mark: the last moment the server knew itself alive, written every few seconds.

Crash recovery closes the connections a crash left open at this mark (Store.close_orphaned_
connections), so a writer that stopped would turn halls that were connected into absent ones. It
therefore never stops: a failed write is counted in the store's health (logged, /healthz 503) and
tried again at the next beat. It writes through the store's writer (server/writer.py), so a lock
held elsewhere or a slow disk stalls the writer's thread, not the event loop and the media.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime

from .store import Store
from .writer import Writer


async def keep_alive(writer: Writer, interval: float) -> None:
    """Mark the store alive every `interval` seconds until cancelled. One mark at a time: the
    next beat starts after this one ended. Cancelled, a mark in progress still ends in the
    writer's thread (its `close()` waits for it)."""
    while True:
        await asyncio.sleep(interval)
        try:
            await writer.run(Store.mark_alive, datetime.now(UTC))
        except sqlite3.OperationalError:
            pass  # counted and logged by the store's health; tried again at the next beat
        except Exception as exc:  # whatever it was, the next beat tries again
            writer.store.health.failed(f"{type(exc).__name__}: {exc}", time.monotonic())
