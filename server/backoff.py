"""When to try again: exponential backoff with jitter, sans I/O.

`Backoff` is the rule (how long to wait after the n-th failure in a row); `RetrySchedule` is one
queue's state under it (when its next attempt is due). Time and randomness are arguments, so the
schedule is a table in its tests and the webhook delivery (server/webhooks.py) owns the clock.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """The wait after the n-th failure in a row: `first` × `factor`^(n-1), at most `longest`,
    scaled by a random factor in [1 - jitter, 1 + jitter) so that receivers coming back are not
    hit by every sender at the same moment, and never more than `longest`."""

    first: float = 1.0
    factor: float = 2.0
    longest: float = 300.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if not (0 < self.first <= self.longest and self.factor >= 1 and 0 <= self.jitter < 1):
            raise ValueError("backoff: need 0 < first <= longest, factor >= 1, 0 <= jitter < 1")

    def delay(self, failures: int, sample: float) -> float:
        """Seconds to wait after `failures` (>= 1) failures in a row; `sample` in [0, 1)."""
        if failures < 1:
            return 0.0
        # The exponent is bounded before the power: a queue failing for weeks must not overflow.
        step = self.first * self.factor ** min(failures - 1, 64)
        return min(self.longest, min(step, self.longest) * (1 + self.jitter * (2 * sample - 1)))


@dataclass
class RetrySchedule:
    """One queue's next attempt: due at once until it fails, then after each failure in a row
    the backoff's delay later; a success starts over."""

    backoff: Backoff
    failures: int = 0
    due_at: float = 0.0

    def failed(self, now: float, sample: float) -> float:
        """One more failure at `now`; returns when the next attempt is due."""
        self.failures += 1
        self.due_at = now + self.backoff.delay(self.failures, sample)
        return self.due_at

    def succeeded(self) -> None:
        self.failures = 0
        self.due_at = 0.0

    def wait(self, now: float) -> float:
        """Seconds until the next attempt is due (0 when it is)."""
        return max(0.0, self.due_at - now)
