"""A repeated error, logged at its first occurrence and then at most once per interval with a
count, never a line per occurrence: an error that every request or every accept hits (no file
descriptors left) must not fill the disk with logs. Time is an argument. A run of occurrences may
end (`ended()`): the next one is logged at once again. WriteHealth (server/writehealth.py) is
one, in its own words.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import threading
import time
from typing import Any

# No file descriptor left, in the process (EMFILE) or in the system (ENFILE).
OUT_OF_DESCRIPTORS = frozenset({errno.EMFILE, errno.ENFILE})


class RepeatedError:
    """One kind of error: `occurred` logs `message` the first time, then once per `every`
    seconds with the number of occurrences since the last line."""

    def __init__(
        self, logger: logging.Logger, message: str, every: float = 60.0, level: int = logging.ERROR
    ) -> None:
        self.logger = logger
        self.message = message
        self.every = every
        self.level = level
        self.count = 0  # every occurrence, all time
        self._lock = threading.RLock()
        self._run = 0  # occurrences since the run began
        self._unreported = 0
        self._reported_at: float | None = None  # None: no run going on

    def occurred(self, detail: object, now: float | None = None) -> bool:
        """One more occurrence (`detail`: its error); True when this one was logged."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self.count += 1
            self._run += 1
            self._unreported += 1
            since = self._reported_at
            if since is not None and now - since < self.every:
                return False
            self._reported_at = now
            unreported, self._unreported = self._unreported, 0
        if since is None:
            self.logger.log(self.level, "%s", self.first_line(detail))
        else:
            self.logger.log(self.level, "%s", self.again_line(detail, unreported, now - since))
        return True

    def ended(self) -> int:
        """The error went away: how many times it occurred in the run that ended (0 if none was
        going on). The next occurrence begins a new run and is logged at once."""
        with self._lock:
            run, self._run, self._unreported, self._reported_at = self._run, 0, 0, None
        return run

    def first_line(self, detail: object) -> str:
        return f"{self.message} ({detail})"

    def again_line(self, detail: object, count: int, seconds: float) -> str:
        return f"{self.message} ({detail}): {count} times in the last {seconds:.0f} s"


def quiet_accept_errors(loop: asyncio.AbstractEventLoop, repeated: RepeatedError) -> None:
    """asyncio logs a traceback each second while accept() finds no descriptor left (and
    retries): through `repeated` instead, one line per interval. Other errors as before."""
    previous = loop.get_exception_handler()

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in OUT_OF_DESCRIPTORS:
            repeated.occurred(exc)
        elif previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handle)
