"""Keyframe requests toward the publisher, aggregated and rate-limited. Sans-I/O."""

from __future__ import annotations

# One request per interval whatever the number of subscribers asking; a publisher answers each
# with a costly keyframe, and a burst of PLIs from many joining halls must not flood it.
DEFAULT_MIN_INTERVAL = 0.5


class KeyframeRequests:
    def __init__(self, min_interval: float = DEFAULT_MIN_INTERVAL) -> None:
        self.min_interval = min_interval
        self._last_sent: float | None = None
        self._pending = False
        self.requested = 0  # requests from subscribers
        self.sent = 0  # requests passed to the publisher

    def request(self, now: float) -> bool:
        """A subscriber needs a keyframe. True: send a request upstream now."""
        self.requested += 1
        if self._last_sent is None or now - self._last_sent >= self.min_interval:
            return self._send(now)
        self._pending = True
        return False

    def get_timer(self) -> float | None:
        """When handle_timer should next be called, or None."""
        if not self._pending or self._last_sent is None:
            return None
        return self._last_sent + self.min_interval

    def handle_timer(self, now: float) -> bool:
        """True: the deferred request is due now; send it upstream."""
        timer = self.get_timer()
        if timer is None or now < timer:
            return False
        return self._send(now)

    def keyframe_arrived(self) -> None:
        """A keyframe reached the bridge: a deferred request has been answered already."""
        self._pending = False

    def _send(self, now: float) -> bool:
        self._last_sent = now
        self._pending = False
        self.sent += 1
        return True
