"""Keyframe requests toward the publisher: aggregated, at most one per min_interval."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from diemcau.media.keyframe import DEFAULT_MIN_INTERVAL, KeyframeRequests

# (time, action, what the call returns); actions: "request", "timer" (handle_timer), "keyframe".
Step = tuple[float, str, bool | None]


def run(steps: list[Step], min_interval: float = 0.5) -> KeyframeRequests:
    requests = KeyframeRequests(min_interval)
    for now, action, expected in steps:
        if action == "request":
            assert requests.request(now) is expected, (now, action)
        elif action == "timer":
            assert requests.handle_timer(now) is expected, (now, action)
        else:
            requests.keyframe_arrived()
    return requests


SCENARIOS: dict[str, tuple[list[Step], int, int]] = {
    # name: (steps, requested, sent)
    "first request goes up at once": ([(0.0, "request", True)], 1, 1),
    "burst of joins is one request, then one deferred": (
        [
            (10.0, "request", True),
            (10.01, "request", False),
            (10.02, "request", False),
            (10.3, "request", False),
            (10.49, "timer", False),  # early: nothing yet
            (10.5, "timer", True),  # the deferred one, exactly min_interval after the first
            (10.5, "timer", False),  # and only once
            (10.6, "timer", False),
        ],
        4,
        2,
    ),
    "spaced requests each go up": (
        [(0.0, "request", True), (0.5, "request", True), (1.7, "request", True)],
        3,
        3,
    ),
    "keyframe answers the deferred request": (
        [
            (0.0, "request", True),
            (0.1, "request", False),
            (0.2, "keyframe", None),
            (0.5, "timer", False),
            (0.9, "timer", False),
        ],
        2,
        1,
    ),
    "request after the keyframe is deferred again": (
        [
            (0.0, "request", True),
            (0.1, "request", False),
            (0.2, "keyframe", None),
            (0.3, "request", False),
            (0.5, "timer", True),
        ],
        3,
        2,
    ),
    "late timer still sends, and restarts the interval": (
        [
            (0.0, "request", True),
            (0.1, "request", False),
            (2.0, "timer", True),
            (2.2, "request", False),
            (2.49, "timer", False),
            (2.5, "timer", True),
        ],
        3,
        3,
    ),
    "request past the interval sends and clears the pending one": (
        [
            (0.0, "request", True),
            (0.2, "request", False),
            (0.6, "request", True),
            (1.1, "timer", False),
        ],
        3,
        2,
    ),
    "keyframe with nothing pending changes nothing": (
        [
            (0.0, "keyframe", None),
            (0.0, "request", True),
            (0.1, "keyframe", None),
            (0.2, "request", False),
            (0.5, "timer", True),
        ],
        2,
        2,
    ),
    "timer without any request": ([(0.0, "timer", False), (5.0, "timer", False)], 0, 0),
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenarios(name: str) -> None:
    steps, requested, sent = SCENARIOS[name]
    requests = run(steps)
    assert (requests.requested, requests.sent) == (requested, sent)


def test_get_timer() -> None:
    requests = KeyframeRequests(min_interval=0.5)
    assert requests.get_timer() is None
    assert requests.request(3.0)
    assert requests.get_timer() is None  # sent at once, nothing to wait for
    assert not requests.request(3.1)
    assert requests.get_timer() == 3.5
    assert not requests.request(3.4)
    assert requests.get_timer() == 3.5  # further requests join the same deferred one
    assert not requests.handle_timer(3.2)
    assert requests.get_timer() == 3.5  # an early call leaves it armed
    assert requests.handle_timer(3.5)
    assert requests.get_timer() is None


def test_keyframe_disarms_timer() -> None:
    requests = KeyframeRequests(min_interval=1.0)
    requests.request(0.0)
    requests.request(0.5)
    assert requests.get_timer() == 1.0
    requests.keyframe_arrived()
    assert requests.get_timer() is None
    assert not requests.handle_timer(1.0)


def test_default_interval() -> None:
    requests = KeyframeRequests()
    assert requests.min_interval == DEFAULT_MIN_INTERVAL
    assert requests.request(0.0)
    assert not requests.request(DEFAULT_MIN_INTERVAL / 2)
    assert requests.request(DEFAULT_MIN_INTERVAL)


def test_many_subscribers_one_request_per_interval() -> None:
    # 200 halls each asking every 10 ms for 3 s: the publisher sees one PLI per 0.5 s.
    requests = KeyframeRequests(min_interval=0.5)
    sent: list[float] = []
    for tick in range(300):
        now = tick / 100
        timer = requests.get_timer()
        if timer is not None and timer <= now and requests.handle_timer(now):
            sent.append(now)
        for _ in range(200):
            if requests.request(now):
                sent.append(now)
    assert requests.requested == 60_000
    assert sent == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert requests.sent == len(sent)


Event = tuple[float, str]  # (time, "request" | "keyframe")

events = st.lists(
    st.tuples(
        st.floats(0, 10, allow_nan=False, allow_infinity=False),
        st.sampled_from(["request", "request", "request", "keyframe"]),
    ),
    max_size=40,
).map(sorted)


def simulate(timeline: list[Event], min_interval: float) -> list[float]:
    """Drive the object as the bridge does: the timer fires exactly when get_timer says."""
    requests = KeyframeRequests(min_interval)
    sent: list[float] = []
    for now, action in [*timeline, (1e9, "end")]:
        timer = requests.get_timer()
        while timer is not None and timer <= now:
            if requests.handle_timer(timer):
                sent.append(timer)
            timer = requests.get_timer()
        if action == "request" and requests.request(now):
            sent.append(now)
        elif action == "keyframe":
            requests.keyframe_arrived()
    assert requests.sent == len(sent)
    assert requests.requested == sum(1 for _, a in timeline if a == "request")
    return sent


@given(events, st.sampled_from([0.1, 0.5, 1.0, 0.3]))
def test_requests_upstream_are_spaced_by_min_interval(
    timeline: list[Event], min_interval: float
) -> None:
    sent = simulate(timeline, min_interval)
    for earlier, later in itertools.pairwise(sent):
        # A float tolerance: the timer is last + interval, the check now - last >= interval.
        assert later - earlier >= min_interval - 1e-9


@given(events, st.sampled_from([0.1, 0.5, 1.0, 0.3]))
def test_every_request_is_answered_within_min_interval(
    timeline: list[Event], min_interval: float
) -> None:
    sent = simulate(timeline, min_interval)
    keyframes = [t for t, a in timeline if a == "keyframe"]
    for asked, action in timeline:
        if action != "request":
            continue
        answered = any(asked <= s <= asked + min_interval for s in sent)
        keyframe_came = any(asked <= k <= asked + min_interval for k in keyframes)
        assert answered or keyframe_came, (asked, sent, keyframes)


@given(events)
def test_no_request_goes_up_without_being_asked(timeline: list[Event]) -> None:
    sent = simulate(timeline, 0.5)
    requests = [t for t, a in timeline if a == "request"]
    assert len(sent) <= len(requests)
    for s in sent:
        assert any(r <= s for r in requests)
