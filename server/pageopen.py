"""Which of a hall's control connections the join log records as `page_open`. Sans-I/O.

A hall's join page opens its control channel when it loads, and again after every drop. The
join log says the page was open (`page_open`), so that the report can tell a hall that never
opened its link from one whose media never connected (server/attendance/outage.py): once per
control connection, but a page stuck reconnecting (a flapping network, a reload loop) must not
fill the record. Per hall, BURST at once, then PER_MINUTE a minute: at most BURST + PER_MINUTE
in any minute.
"""

from __future__ import annotations

from ..signaling.ratelimit import TokenBucket

BURST = 4
PER_MINUTE = 2


class PageOpens:
    """A token bucket per session and hall; `now` in seconds."""

    def __init__(self, burst: int = BURST, per_minute: int = PER_MINUTE) -> None:
        self._burst = burst
        self._rate = per_minute / 60.0
        self._buckets: dict[tuple[str, str], TokenBucket] = {}

    def allow(self, session_id: str, site: str, now: float) -> bool:
        """Whether this connection's opening goes into the record."""
        bucket = self._buckets.get((session_id, site))
        if bucket is None:
            bucket = self._buckets[session_id, site] = TokenBucket(self._rate, self._burst)
        return bucket.allow(now)

    def __len__(self) -> int:
        """How many halls it keeps a bucket for."""
        return len(self._buckets)

    def forget(self, session_id: str) -> None:
        """The session closed on this node: nothing of it is kept."""
        for key in [key for key in self._buckets if key[0] == session_id]:
            del self._buckets[key]
