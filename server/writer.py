"""The store's writer: every write of a running server, in one thread off the event loop.

The event loop forwards every hall's media; a write that waits for SQLite's lock (an operator's
`sqlite3` shell, a backup tool) or for a slow fsync must not stall it. So the server writes
through one `Writer`: one thread with its own connection (`Store.worker()`), fed by a bounded
queue, doing the writes one at a time in the order they were asked for. Reads stay on the loop's
connection: in WAL mode a reader never waits for a writer.

Use it from the event loop with the Store method and its arguments, as the method would be called
on a connection of its own:

    seq = await writer.run(Store.append_event, session_id, "join", now, site_id=site, conn=c)
    session, changed = await writer.run(Store.start_session, session_id, now)

`run` returns once the write committed (or raises what the method raised), so an answer sent
after it is an answer about what is on disk. Writes asked for one after another commit in that
order, so a session's events keep their order. The waits are bounded:

- a full queue (`capacity` writes waiting) refuses at once;
- a write that has not started within `wait` seconds is withdrawn, never done later;
- a write that started ends within the worker connection's busy timeout (the lock) and its fsync.

Each refusal raises `WriteUnavailable`, a `sqlite3.OperationalError` like a lock held past the
busy timeout or a full disk: the write did not happen, the API answers 503 record_unavailable,
and it counts in the store's `WriteHealth` (/healthz 503, logged once per interval). A caller
that is cancelled before its write started withdraws it too.

The thread starts at the first write and stops at `close()`, which first does every write
already asked for.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Concatenate, ParamSpec, TypeVar

from .store import Store

P = ParamSpec("P")
T = TypeVar("T")

log = logging.getLogger("diemcau")

# Writes are a few rows each: a thousand waiting means the lock or the disk is stuck.
CAPACITY = 1000
# How long a write may wait for the ones before it to end: a few of the worker connection's
# busy timeouts (store.WORKER_BUSY_TIMEOUT_MS), so one fault does not withdraw every write.
WAIT = 10.0


class WriteUnavailable(sqlite3.OperationalError):
    """The write was not done, and never will be: too many writes waiting, one that could not
    start within its wait, or a writer already closed."""


# What to do, and its name (for tests and errors).
_Job = tuple[Future[Any], str, Callable[[Store], Any]]


class Writer:
    """One thread writing the store, in order; `run` awaits a write from the event loop."""

    def __init__(self, store: Store, capacity: int = CAPACITY, wait: float = WAIT) -> None:
        self.store = store
        self.capacity = capacity
        self.wait = wait
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._running: str | None = None  # the name of the write in progress, for tests

    @property
    def busy(self) -> bool:
        """Whether a write is in progress in the thread (waiting for the lock, say)."""
        return self._running is not None

    async def run(
        self, write: Callable[Concatenate[Store, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Do `write(worker_store, *args, **kwargs)` in the writer's thread, after the writes
        asked for before it, and return its result once committed (or raise its error)."""
        if self._closed:
            raise WriteUnavailable("the store's writer is closed")
        if self._jobs.qsize() >= self.capacity:
            raise self._refused(f"{self.capacity} writes are waiting")
        done: Future[T] = Future()
        self._jobs.put(
            (done, getattr(write, "__name__", "write"), lambda store: write(store, *args, **kwargs))
        )
        self._start()
        answer = asyncio.wrap_future(done)
        try:
            await asyncio.wait({answer}, timeout=self.wait)
        except asyncio.CancelledError:
            done.cancel()  # withdrawn if not started; a write started ends in its thread
            raise
        if not answer.done() and done.cancel():
            raise self._refused(f"a write waited {self.wait:g} s for the writes before it")
        return await answer

    def _refused(self, why: str) -> WriteUnavailable:
        self.store.health.failed(why, time.monotonic())
        return WriteUnavailable(why)

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name="diemcau-writer", daemon=True)
            self._thread.start()

    def _serve(self) -> None:
        worker: Store | None = None
        try:
            while (job := self._jobs.get()) is not None:
                done, name, write = job
                if not done.set_running_or_notify_cancel():
                    continue  # withdrawn by its caller: never done
                self._running = name
                try:
                    if worker is None:
                        worker = self.store.worker()
                    result = write(worker)
                except BaseException as exc:  # the caller's to handle, as from the method
                    done.set_exception(exc)
                else:
                    done.set_result(result)
                finally:
                    self._running = None
                del done, write, job  # no result or traceback kept alive until the next write
        finally:
            if worker is not None:
                worker.close()

    async def close(self) -> None:
        """Do the writes already asked for, then stop the thread and close its connection."""
        self._closed = True
        if self._thread is None:
            return
        self._jobs.put(None)
        await asyncio.to_thread(self._thread.join)
