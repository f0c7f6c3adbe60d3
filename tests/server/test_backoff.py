"""The retry schedule, sans I/O: tables of failures, samples and moments."""

from __future__ import annotations

import pytest

from diemcau.server.backoff import Backoff, RetrySchedule

RULE = Backoff(first=1.0, factor=2.0, longest=300.0, jitter=0.2)


@pytest.mark.parametrize(
    ("failures", "sample", "delay"),
    [
        (0, 0.5, 0.0),  # nothing failed: no wait
        (1, 0.5, 1.0),  # sample 0.5: the step itself
        (2, 0.5, 2.0),
        (3, 0.5, 4.0),
        (5, 0.5, 16.0),
        (1, 0.0, 0.8),  # jitter down to 1 - 0.2
        (1, 0.999999, 1.2 - 4e-7),  # and up to, not including, 1 + 0.2
        (3, 0.25, 3.6),
        (9, 0.5, 256.0),
        (10, 0.5, 300.0),  # 512 capped at longest
        (10, 0.0, 240.0),  # the cap, jittered down
        (10, 0.99, 300.0),  # jittered up, never past longest
        (10_000, 0.5, 300.0),  # weeks of failures: no overflow
    ],
)
def test_delay_after_failures(failures: int, sample: float, delay: float) -> None:
    assert RULE.delay(failures, sample) == pytest.approx(delay)


def test_the_schedule_backs_off_and_a_success_starts_over() -> None:
    schedule = RetrySchedule(Backoff(first=1.0, factor=2.0, longest=5.0, jitter=0.0))
    # (now, outcome) -> (due_at, wait at that moment)
    steps = [
        (100.0, "failed", 101.0, 1.0),
        (101.0, "failed", 103.0, 2.0),
        (103.0, "failed", 107.0, 4.0),
        (107.0, "failed", 112.0, 5.0),  # 8 capped at 5
        (112.0, "failed", 117.0, 5.0),
    ]
    assert schedule.wait(100.0) == 0.0  # due at once before any failure
    for now, _, due_at, wait in steps:
        assert schedule.failed(now, 0.5) == due_at
        assert schedule.wait(now) == wait
    assert schedule.wait(116.0) == 1.0
    assert schedule.wait(200.0) == 0.0
    assert schedule.failures == 5
    schedule.succeeded()
    assert (schedule.failures, schedule.wait(117.0)) == (0, 0.0)
    assert schedule.failed(200.0, 0.5) == 201.0  # from the first step again


@pytest.mark.parametrize(
    "rule",
    [
        {"first": 0.0},
        {"first": 10.0, "longest": 5.0},
        {"factor": 0.5},
        {"jitter": 1.0},
        {"jitter": -0.1},
    ],
)
def test_a_bad_rule_is_refused(rule: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="backoff"):
        Backoff(**rule)
