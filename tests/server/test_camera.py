"""The hall camera's count in the report (server/attendance/camera.py): the largest stable count
of the samples inside the window, and the disagreement with the check-ins and the headcount.
Tables, properties, and the count as the whole report gives it from a log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from diemcau.server.attendance import LogEvent, RosterSite, attendance, report_json
from diemcau.server.attendance.camera import (
    CameraRules,
    counts_in_window,
    disagrees,
    stable_count,
)
from diemcau.server.attendance.people import RosterPerson

T0 = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("counts", "stable"),
    [
        ([], None),
        ([7], 7),  # fewer samples than a run: the smallest of them
        ([7, 9], 7),
        ([5, 5, 5], 5),
        ([20, 22, 22, 22, 21], 22),  # three in a row at 22
        ([20, 22, 21, 22, 21], 21),  # 22 never three times running
        ([3, 40, 3, 3], 3),  # one frame that saw a poster full of faces
        ([30, 30, 30, 2, 30, 30], 30),  # one frame of bowed heads
        ([0, 0, 0, 12, 12, 12, 12, 0], 12),  # the hall filled up, then emptied
    ],
)
def test_stable_count(counts: list[int], stable: int | None) -> None:
    assert stable_count(counts) == stable


def test_stable_count_with_other_runs() -> None:
    assert stable_count([20, 22, 21, 22, 21], CameraRules(stable_samples=1)) == 22
    assert stable_count([20, 22, 22, 22, 21], CameraRules(stable_samples=4)) == 21


@given(st.lists(st.integers(0, 500), max_size=40), st.integers(1, 6))
def test_stable_count_is_one_held_for_a_run(counts: list[int], run: int) -> None:
    stable = stable_count(counts, CameraRules(stable_samples=run))
    if not counts:
        assert stable is None
        return
    assert stable is not None
    assert min(counts) <= stable <= max(counts)
    if len(counts) <= run:
        assert stable == min(counts)
    else:
        # Some run of `run` samples stays at or above it, and none stays above it.
        runs = [counts[i : i + run] for i in range(len(counts) - run + 1)]
        assert any(min(r) >= stable for r in runs)
        assert not any(min(r) > stable for r in runs)


@given(st.lists(st.integers(0, 500), min_size=3, max_size=30), st.integers(1, 3))
def test_a_few_wild_samples_are_never_the_count(counts: list[int], run: int) -> None:
    # Held for `run` samples, so at most the run-th largest: fewer frames than a run that saw
    # more, however many more, never make the count.
    assert stable_count(counts, CameraRules(stable_samples=run)) <= sorted(counts)[-run]


@pytest.mark.parametrize(
    ("camera", "checked_in", "headcount", "expected"),
    [
        (None, 20, 20, None),  # no camera count: nothing to say
        (20, None, None, None),  # nothing to compare with
        (20, 20, None, False),
        (22, 20, None, False),  # 2 people: within the tolerance
        (23, 20, None, True),
        (18, None, 20, False),
        (17, None, 20, True),
        (90, None, 100, False),  # 10% of 100
        (89, None, 100, True),
        (20, 20, 40, True),  # agrees with the check-ins, not with the declared count
        (0, 0, 0, False),
    ],
)
def test_disagrees(
    camera: int | None, checked_in: int | None, headcount: int | None, expected: bool | None
) -> None:
    assert disagrees(camera, checked_in, headcount) is expected


@given(st.integers(0, 1000), st.integers(0, 1000))
def test_disagreement_is_beyond_the_tolerance(camera: int, other: int) -> None:
    rules = CameraRules()
    tolerance = max(rules.tolerance_people, rules.tolerance_fraction * other)
    assert disagrees(camera, other, None) is (abs(camera - other) > tolerance)
    assert disagrees(camera, None, other) is disagrees(camera, other, None)


def event(seconds: float, type: str, site: str | None = "xa", **fields: object) -> LogEvent:
    return LogEvent(at(seconds), type, int(seconds * 10), "s1", site, None, fields)


def test_only_counts_inside_the_window_and_well_formed_are_taken() -> None:
    events = [
        event(-60, "people_count", count=50),  # the page open before the start
        event(30, "people_count", count=12),
        event(60, "people_count", count=True),
        event(90, "people_count", count=-1),
        event(120, "people_count", count="13"),
        event(150, "people_count"),
        event(180, "people_count", count=13),
        event(200, "headcount", present=99),
        event(3700, "people_count", count=70),  # after the end
    ]
    assert counts_in_window(events, at(0), at(3600)) == [12, 13]


def test_the_report_gives_each_site_its_stable_count_and_the_disagreement() -> None:
    log = [
        event(0, "session_start", site=None),
        event(10, "join", site="xa"),
        event(20, "join", site="tt"),
        event(30, "headcount", site="xa", present=30),
        *(
            event(40 + 30 * i, "people_count", site="xa", count=n)
            for i, n in enumerate([10, 28, 29, 28, 31, 12])
        ),
        event(300, "headcount", site="tt", present=40),
        *(event(310 + 30 * i, "people_count", site="tt", count=20) for i in range(4)),
        event(3600, "session_end", site=None),
    ]
    roster = [
        RosterSite("xa", "Xã Nga Thạnh", "commune", 30),
        RosterSite("tt", "Thị trấn", "town", 40),
        RosterSite("ub", "UBND", "agency", 10),
    ]
    sites = {s["site"]: s for s in report_json(attendance(log, roster))["sites"]}
    assert (sites["xa"]["people_count"], sites["xa"]["people_count_disagrees"]) == (28, False)
    assert (sites["tt"]["people_count"], sites["tt"]["people_count_disagrees"]) == (20, True)
    assert (sites["ub"]["people_count"], sites["ub"]["people_count_disagrees"]) == (None, None)


@pytest.mark.parametrize(("camera", "disagreement"), [(4, False), (5, True), (0, False)])
def test_with_a_roster_the_camera_is_held_against_the_people_checked_in(
    camera: int, disagreement: bool
) -> None:
    people = tuple(RosterPerson(f"p{i}", f"Người {i}") for i in range(6))
    log = [
        event(0, "session_start", site=None),
        event(10, "join", site="xa"),
        *(
            event(20 + i, "checkin", site="xa", person=f"p{i}", method="qr", by="site")
            for i in range(2)
        ),
        *(event(60 + 30 * i, "people_count", site="xa", count=camera) for i in range(3)),
        event(3600, "session_end", site=None),
    ]
    roster = [RosterSite("xa", "Xã Nga Thạnh", "commune", 6, people)]
    [site] = report_json(attendance(log, roster))["sites"]
    # Two of six checked in, no headcount: the camera's count is compared with the two.
    assert [p["status"] for p in site["people"]].count("present") == 2
    assert (site["people_count"], site["people_count_disagrees"]) == (camera, disagreement)
