"""A token bucket per connection, so one client cannot flood the room. Sans-I/O."""

from __future__ import annotations


class TokenBucket:
    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate  # tokens per second
        self.burst = burst
        self._tokens = burst
        self._last: float | None = None

    def allow(self, now: float, cost: float = 1.0) -> bool:
        if self._last is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= cost:
            self._tokens -= cost
            return True
        return False
