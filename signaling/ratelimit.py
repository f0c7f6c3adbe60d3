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

    def retry_after(self, now: float, cost: float = 1.0) -> float:
        """Seconds from `now` until `allow(now + that, cost)` would pass (0 if it would now)."""
        tokens = self._tokens
        if self._last is not None:
            tokens = min(self.burst, tokens + (now - self._last) * self.rate)
        return max(0.0, (cost - tokens) / self.rate)
