"""Crash recovery at start: the store opened, and the connections a crash left open closed at the
last liveness mark, before the server serves anything; through a fault, it waits.

A write lock held by another program (an operator's `sqlite3` shell, a backup tool) or a full
disk at start would otherwise stop `serve` with a traceback; and serving without recovery would
be worse: what the crash left open would be closed at the next start, at a mark this run wrote,
so halls would be present for a time they were not. So each step is tried again every
`retry_every` seconds until it succeeds, said at once and then once a minute with a count; a
signal still stops the wait.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from .repeated import RepeatedError
from .store import EventObserver, Store
from .times import log_time

T = TypeVar("T")

log = logging.getLogger("diemcau")


def recover(path: Path, retry_every: float = 0.5, observers: Sequence[EventObserver] = ()) -> Store:
    """The store at `path`, recovered from a crash and marked alive; its event `observers`
    (the webhooks' outbox) see the leaves recovery writes."""
    waiting = RepeatedError(
        log, "the attendance record must be recovered before anything is served; waiting"
    )

    def patiently(step: Callable[[], T]) -> T:
        while True:
            try:
                return step()
            except sqlite3.OperationalError as exc:  # locked, busy, full, an I/O error
                waiting.occurred(exc)
            time.sleep(retry_every)

    store = patiently(lambda: Store.open(path))
    store.event_observers.extend(observers)
    try:
        closed = patiently(
            lambda: store.close_orphaned_connections(datetime.now(UTC), "server_shutdown")
        )
        for leave in closed:
            log.warning(
                "session %s: site %s was still connected when the server stopped; closed at %s",
                leave.session_id,
                leave.site_id,
                log_time(leave.ts),
            )
        patiently(lambda: store.mark_alive(datetime.now(UTC)))
    except BaseException:
        store.close()
        raise
    if waiting.ended():
        log.warning("the attendance record is recovered: the server starts")
    return store
