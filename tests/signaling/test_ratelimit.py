"""signaling/ratelimit.py: the token bucket, as a table of moments."""

from __future__ import annotations

import pytest

from diemcau.signaling.ratelimit import TokenBucket


@pytest.mark.parametrize(
    ("rate", "burst", "moments", "allowed"),
    [
        # A full bucket lets a burst through, then nothing until it refills.
        (1.0, 3.0, [0, 0, 0, 0], [True, True, True, False]),
        (1.0, 3.0, [0, 0, 0, 0, 1.0], [True, True, True, False, True]),
        # Refilling never goes past the burst.
        (1.0, 2.0, [0, 100, 100, 100], [True, True, True, False]),
        # Half a second at two a second is one more.
        (2.0, 1.0, [0, 0.25, 0.5], [True, False, True]),
    ],
)
def test_allow(rate: float, burst: float, moments: list[float], allowed: list[bool]) -> None:
    bucket = TokenBucket(rate, burst)
    assert [bucket.allow(now) for now in moments] == allowed


@pytest.mark.parametrize(
    ("rate", "burst", "spent_at", "asked_at", "wait"),
    [
        (1.0, 2.0, [0, 0], 0.0, 1.0),  # empty: one second for one token
        (1.0, 2.0, [0, 0], 0.25, 0.75),
        (2.0, 2.0, [0, 0], 0.0, 0.5),
        (1.0, 2.0, [0], 0.0, 0.0),  # a token left: no wait
        (0.1, 1.0, [5], 5.0, 10.0),
    ],
)
def test_retry_after(
    rate: float, burst: float, spent_at: list[float], asked_at: float, wait: float
) -> None:
    bucket = TokenBucket(rate, burst)
    for now in spent_at:
        assert bucket.allow(now)
    assert bucket.retry_after(asked_at) == pytest.approx(wait)
    # And it is right: allowed then, not a little before (when there was a wait).
    if wait > 0:
        assert not TokenBucket.allow(_copy(bucket), asked_at + wait * 0.9)
    assert bucket.allow(asked_at + wait)


def _copy(bucket: TokenBucket) -> TokenBucket:
    clone = TokenBucket(bucket.rate, bucket.burst)
    clone.__dict__.update(bucket.__dict__)
    return clone
