"""Whether the store's writes reach the disk: the one account of failed writes that /healthz,
`diemcau doctor` and the log read, shared by the store's connections (the loop's and the
writer's thread).
"""

from __future__ import annotations

import logging

from .repeated import RepeatedError

log = logging.getLogger("diemcau")


class WriteHealth(RepeatedError):
    """Whether the store's last write reached the disk: /healthz answers 503 while it did not.

    A run of failures is logged loudly at its first write, then at most once per `report_every`
    seconds with a count, never a line per write; its end is logged once. Shared by a store's
    connections, from the event loop and the writer's thread.
    """

    def __init__(self, report_every: float = 60.0) -> None:
        super().__init__(log, "cannot write the database", every=report_every)
        self.problem: str | None = None

    def failed(self, error: str, now: float) -> None:
        with self._lock:
            self.problem = error
            self.occurred(error, now)

    def succeeded(self) -> None:
        if self.problem is None:
            return  # every write that succeeds comes here: no lock taken then
        with self._lock:
            if self.problem is None:
                return  # another thread's write said so first
            self.problem = None
            failed = self.ended()
        log.warning("the database is written again, after %d failed writes", failed)

    def first_line(self, detail: object) -> str:
        return (
            f"cannot write the database ({detail}): the attendance record is not being written;"
            " /healthz answers 503 until a write succeeds"
        )

    def again_line(self, detail: object, count: int, seconds: float) -> str:
        return (
            f"still cannot write the database ({detail}): {count} failed writes in the last"
            f" {seconds:.0f} s"
        )
