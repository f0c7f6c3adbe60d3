"""The lifecycle of one conference session: scheduled -> live -> ended.

Sans-I/O: the caller passes `now` and persists the result; illegal moves raise.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum


class SessionState(StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"


class SessionStateError(Exception):
    """A move the lifecycle does not allow (starting an ended session)."""


@dataclass(frozen=True)
class Lifecycle:
    state: SessionState
    started_at: datetime | None = None
    ended_at: datetime | None = None

    def start(self, now: datetime) -> tuple[Lifecycle, bool]:
        """Go live. Returns the new lifecycle and whether anything changed.

        Starting a live session again is a no-op (a host page reloaded, a retried request);
        an ended session cannot be restarted, because its join log is already the record.
        """
        _require_aware(now)
        if self.state is SessionState.LIVE:
            return self, False
        if self.state is SessionState.ENDED:
            raise SessionStateError("an ended session cannot be started again")
        return replace(self, state=SessionState.LIVE, started_at=now), True

    def end(self, now: datetime) -> tuple[Lifecycle, bool]:
        """End the session. Returns the new lifecycle and whether anything changed.

        Ending an ended session is a no-op. Ending a scheduled one cancels it (started_at
        stays None), which also frees its sites for deletion.
        """
        _require_aware(now)
        if self.state is SessionState.ENDED:
            return self, False
        # A clock stepped backwards must not give a negative duration.
        ended_at = now if self.started_at is None else max(now, self.started_at)
        return replace(self, state=SessionState.ENDED, ended_at=ended_at), True

    def cancel(self, now: datetime) -> tuple[Lifecycle, bool]:
        """Cancel a session that has not started: it ends, started_at None. Cancelling a
        cancelled one is a no-op. A live one, or one held and ended, is refused: a cancel
        that crossed the session going live must not end a conference under way."""
        _require_aware(now)
        if self.state is SessionState.ENDED and self.started_at is None:
            return self, False
        if self.state is not SessionState.SCHEDULED:
            raise SessionStateError("only a session that has not started can be cancelled")
        return self.end(now)


def _require_aware(now: datetime) -> None:
    # Naive times compare wrongly with stored UTC ones; refuse them at the edge.
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
