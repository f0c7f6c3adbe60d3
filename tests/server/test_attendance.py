"""The attendance rules, written from the specification: tables of cases, then properties.

Times are seconds after T0 (01:00 UTC); most cases run a one-hour session, 0 to 3600.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from diemcau.server.attendance import (
    AttendanceError,
    HeldSession,
    LogEvent,
    Report,
    RosterSite,
    Rules,
    RulesError,
    SiteAttendance,
    SiteTally,
    attendance,
    period_summary,
    report_json,
    totals,
)
from diemcau.server.attendance.people import RosterPerson
from diemcau.server.joinlog import read_jsonl

from ..camera_fields import NO_CAMERA_SITE
from ..people_fields import NO_PEOPLE_SITE, NO_PEOPLE_TOTALS, PEOPLE_RATES

T0 = datetime(2026, 3, 5, 1, 0, tzinfo=UTC)
HOUR = 3600.0

NGA_THANH = RosterSite("nga-thanh", "Xã Nga Thạnh", "commune", 40)
TAN_LOC = RosterSite("tan-loc", "Thị trấn Tân Lộc", "town", 25)
ROSTER = (NGA_THANH, TAN_LOC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ev(
    t: float,
    type: str,
    site: str | None = None,
    conn: str | None = None,
    session: str | None = "s1",
    **fields: Any,
) -> LogEvent:
    return LogEvent(at(t), type, 0, session, site, conn, dict(fields))


def start(t: float = 0, session: str | None = "s1") -> LogEvent:
    return ev(t, "session_start", session=session)


def end(t: float = HOUR, session: str | None = "s1") -> LogEvent:
    return ev(t, "session_end", session=session)


def join(t: float, conn: str = "c1", site: str = "nga-thanh", session: str = "s1") -> LogEvent:
    return ev(t, "join", site, conn, session)


def leave(t: float, conn: str = "c1", site: str = "nga-thanh", reason: str = "closed") -> LogEvent:
    return ev(t, "leave", site, conn, reason=reason)


def heads(t: float, present: Any, site: str = "nga-thanh") -> LogEvent:
    return ev(t, "headcount", site, present=present)


def log(*events: LogEvent) -> list[LogEvent]:
    """The events as lines of a file, in the order given."""
    return [
        LogEvent(e.ts, e.type, i, e.session, e.site, e.conn, e.fields)
        for i, e in enumerate(events, start=1)
    ]


def site_of(report: Report, site: str = "nga-thanh") -> SiteAttendance:
    return next(s for s in report.sites if s.site == site)


def check(site: SiteAttendance, expected: dict[str, Any]) -> None:
    def rounded(value: Any) -> Any:
        return round(value, 9) if isinstance(value, float) else value

    actual = {name: rounded(getattr(site, name)) for name in expected}
    assert actual == {name: rounded(value) for name, value in expected.items()}


# -- one site through one session ---------------------------------------------------------------

ALWAYS = {
    "status": "present",
    "late": False,
    "left_early": False,
    "connected_seconds": HOUR,
    "coverage": 1.0,
    "interruptions": 0,
    "longest_outage_seconds": 0.0,
}

SITE_CASES: list[tuple[str, list[LogEvent], dict[str, Any]]] = [
    (
        "connected throughout",
        [start(), join(0), leave(HOUR), end()],
        {**ALWAYS, "first_join": at(0), "last_leave": at(HOUR)},
    ),
    (
        "never joined",
        [start(), end()],
        {
            "status": "absent",
            "late": False,
            "left_early": False,
            "first_join": None,
            "last_leave": None,
            "connected_seconds": 0.0,
            "coverage": 0.0,
            "interruptions": 0,
            "longest_outage_seconds": 0.0,
            "headcount": None,
            "headcount_rate": None,
        },
    ),
    (
        "rejoin on a new conn after a failure",
        [
            start(),
            join(0),
            leave(1200, reason="failed"),
            join(1500, "c2"),
            leave(HOUR, "c2"),
            end(),
        ],
        {
            "status": "present",
            "connected_seconds": 3300.0,
            "coverage": 3300 / HOUR,
            "interruptions": 1,
            "longest_outage_seconds": 300.0,
            "first_join": at(0),
            "last_leave": at(HOUR),
        },
    ),
    (
        "rejoin with the same conn id",
        [start(), join(0), leave(1000, reason="timeout"), join(1100), leave(HOUR), end()],
        {"connected_seconds": 3500.0, "interruptions": 1, "longest_outage_seconds": 100.0},
    ),
    (
        "several outages: counted, the longest kept",
        [
            start(),
            join(0),
            leave(600),
            join(700),  # 100 s out
            leave(1200),
            join(1230),  # 30 s out, bridged
            leave(2000),
            join(2400),  # 400 s out
            leave(HOUR),
            end(),
        ],
        {
            "connected_seconds": HOUR - 100 - 400,
            "interruptions": 3,
            "longest_outage_seconds": 400.0,
        },
    ),
    (
        "two browsers in one hall, overlapping, count once",
        [start(), join(0, "c1"), join(1000, "c2"), leave(2000, "c1"), leave(HOUR, "c2"), end()],
        {**ALWAYS, "first_join": at(0), "last_leave": at(HOUR)},
    ),
    (
        "a second conn inside the first counts once",
        [start(), join(0, "c1"), join(600, "c2"), leave(1200, "c2"), leave(HOUR, "c1"), end()],
        {**ALWAYS, "last_leave": at(HOUR)},
    ),
    (
        "one conn's failure covered by the other: no outage",
        [
            start(),
            join(0, "c1"),
            join(10, "c2"),
            leave(1000, "c1", reason="failed"),
            join(1500, "c1"),
            leave(HOUR, "c1"),
            leave(HOUR, "c2"),
            end(),
        ],
        ALWAYS,
    ),
    (
        "lines out of order",
        [
            leave(HOUR),
            end(),
            join(1800, "c2"),
            leave(1200, "c1"),
            join(0),
            start(),
            leave(HOUR, "c2"),
        ],
        {
            "connected_seconds": 3000.0,
            "interruptions": 1,
            "longest_outage_seconds": 600.0,
            "first_join": at(0),
            "last_leave": at(HOUR),
        },
    ),
    (
        "a leave without a join is ignored",
        [start(), leave(100, "c9"), join(1000), leave(HOUR), end()],
        {
            "connected_seconds": 2600.0,
            "late": True,
            "first_join": at(1000),
            "last_leave": at(HOUR),
            "interruptions": 0,
        },
    ),
    (
        "only a leave: absent, no last_leave",
        [start(), leave(100), end()],
        {"status": "absent", "first_join": None, "last_leave": None, "connected_seconds": 0.0},
    ),
    (
        "a leave of a closed conn is ignored",
        [start(), join(0), leave(1800), leave(3000), end()],
        {"connected_seconds": 1800.0, "last_leave": at(1800), "left_early": True},
    ),
    (
        "a repeated join of an open conn changes nothing",
        [start(), join(0), join(1000), leave(1800), end()],
        {"connected_seconds": 1800.0, "first_join": at(0), "last_leave": at(1800)},
    ),
    (
        "joined before the start: clipped, not late",
        [start(), join(-600), leave(HOUR), end()],
        {**ALWAYS, "first_join": at(-600)},
    ),
    (
        "an outage before the start is no interruption",
        [start(), join(-600), leave(-300), join(100, "c2"), leave(HOUR, "c2"), end()],
        {"connected_seconds": 3500.0, "interruptions": 0, "first_join": at(-600), "late": False},
    ),
    (
        "left after the end: clipped, not early",
        [start(), join(0), leave(HOUR + 600), end()],
        {**ALWAYS, "last_leave": at(HOUR + 600)},
    ),
    (
        "joined after session_end: absent",
        [start(), end(), join(HOUR + 60), leave(HOUR + 600)],
        {
            "status": "absent",
            "late": False,
            "left_early": False,
            "connected_seconds": 0.0,
            "coverage": 0.0,
            "interruptions": 0,
        },
    ),
    (
        "still open when the log ends: closes at session_end, no last_leave",
        [start(), join(0), leave(600), join(900, "c2"), end()],
        {"connected_seconds": 3300.0, "last_leave": None, "left_early": False},
    ),
    (
        "a gap exactly at the grace is bridged, and still an interruption",
        [start(), join(0), leave(1000), join(1060), leave(HOUR), end()],
        {
            "status": "present",
            "connected_seconds": HOUR,
            "coverage": 1.0,
            "interruptions": 1,
            "longest_outage_seconds": 60.0,
        },
    ),
    (
        "a gap just over the grace is not bridged",
        [start(), join(0), leave(1000), join(1060.001), leave(HOUR), end()],
        {
            "connected_seconds": HOUR - 60.001,
            "interruptions": 1,
            "longest_outage_seconds": 60.001,
        },
    ),
    (
        "first connected exactly 300 s after the start: not late",
        [start(), join(300), leave(HOUR), end()],
        {"late": False, "status": "present"},
    ),
    (
        "first connected just over 300 s after the start: late",
        [start(), join(300.001), leave(HOUR), end()],
        {"late": True, "status": "present"},
    ),
    (
        "last connected exactly 300 s before the end: not early",
        [start(), join(0), leave(HOUR - 300), end()],
        {"left_early": False},
    ),
    (
        "last connected just over 300 s before the end: early",
        [start(), join(0), leave(HOUR - 300.001), end()],
        {"left_early": True},
    ),
    (
        "coverage exactly 0.8: present",
        [start(), join(0), leave(0.8 * HOUR), end()],
        {"status": "present", "coverage": 0.8, "connected_seconds": 2880.0},
    ),
    (
        "coverage just under 0.8: partial",
        [start(), join(0), leave(0.8 * HOUR - 0.001), end()],
        {"status": "partial"},
    ),
    (
        "connected for half the session: partial",
        [start(), join(900), leave(2700), end()],
        {"status": "partial", "coverage": 0.5, "late": True, "left_early": True},
    ),
    (
        "no session_end: the window ends at the latest event, open conns close there",
        [start(), join(0), heads(2400, 30, site="tan-loc")],
        {**ALWAYS, "connected_seconds": 2400.0, "last_leave": None},
    ),
    (
        "headcount: the last one counts",
        [start(), join(0), leave(HOUR), heads(100, 30), heads(200, 43), end()],
        {"headcount": 43, "headcount_rate": 43 / 40},
    ),
    (
        "headcount: a correction in ts order, whatever the line order",
        [start(), join(0), leave(HOUR), heads(200, 43), heads(100, 30), end()],
        {"headcount": 43},
    ),
    (
        "headcount: a count before the start stands",
        [start(), join(0), leave(HOUR), heads(-60, 20), end()],
        {"headcount": 20, "headcount_rate": 0.5},
    ),
    (
        "headcount: exactly at the end counts, after it is ignored",
        [
            start(),
            join(0),
            leave(HOUR),
            heads(100, 30),
            heads(HOUR, 35),
            heads(HOUR + 1, 50),
            end(),
        ],
        {"headcount": 35},
    ),
    (
        "headcount: invalid values are ignored",
        [
            start(),
            join(0),
            leave(HOUR),
            heads(100, 30),
            heads(200, -1),
            heads(300, "43"),
            heads(400, True),
            heads(500, None),
            ev(600, "headcount", "nga-thanh"),  # no "present" at all
            end(),
        ],
        {"headcount": 30, "headcount_rate": 0.75},
    ),
    (
        "headcount: only invalid values is none",
        [
            start(),
            join(0),
            leave(HOUR),
            heads(100, -5),
            heads(200, "many"),
            heads(300, False),
            end(),
        ],
        {"headcount": None, "headcount_rate": None},
    ),
    (
        "headcount: zero is a count",
        [start(), join(0), leave(HOUR), heads(100, 0), end()],
        {"headcount": 0, "headcount_rate": 0.0},
    ),
    (
        "another site's events change nothing",
        [start(), join(0), leave(HOUR), join(0, site="tan-loc"), leave(60, site="tan-loc"), end()],
        ALWAYS,
    ),
    (
        "types the report does not use are ignored",
        [start(), join(0), ev(100, "mute", "nga-thanh", "c1"), ev(200, "chat"), leave(HOUR), end()],
        ALWAYS,
    ),
]


@pytest.mark.parametrize(
    ("events", "expected"), [c[1:] for c in SITE_CASES], ids=[c[0] for c in SITE_CASES]
)
def test_site(events: list[LogEvent], expected: dict[str, Any]) -> None:
    check(site_of(attendance(log(*events), ROSTER)), expected)


# -- ties: taken in file order -----------------------------------------------------------------

TIE_CASES = [
    ("leave then join at one instant: open at the end", [leave(1800), join(1800)], None),
    (
        "join then leave at one instant: the join changed nothing",
        [join(1800), leave(1800)],
        at(1800),
    ),
]


@pytest.mark.parametrize(
    ("tied", "last_leave"), [c[1:] for c in TIE_CASES], ids=[c[0] for c in TIE_CASES]
)
def test_tied_timestamps_keep_the_order_of_the_lines(
    tied: list[LogEvent], last_leave: datetime | None
) -> None:
    report = attendance(log(start(), join(0), *tied, end()), ROSTER)
    assert site_of(report).last_leave == last_leave


def test_tied_timestamps_keep_the_order_of_the_lines_read_from_jsonl() -> None:
    ts = "2026-03-05T01:30:00.000Z"

    def lines(*tied: str) -> list[str]:
        return [
            '{"ts": "2026-03-05T01:00:00.000Z", "session": "s1", "type": "session_start"}',
            '{"ts": "2026-03-05T01:00:00.000Z", "type": "join", "site": "nga-thanh", "conn": "c1"}',
            *tied,
            '{"ts": "2026-03-05T02:00:00.000Z", "session": "s1", "type": "session_end"}',
        ]

    joined = f'{{"ts": "{ts}", "type": "join", "site": "nga-thanh", "conn": "c1"}}'
    left = f'{{"ts": "{ts}", "type": "leave", "site": "nga-thanh", "conn": "c1"}}'
    for tied, last_leave in [((left, joined), None), ((joined, left), at(1800))]:
        events, _ = read_jsonl(lines(*tied))
        assert site_of(attendance(events, ROSTER)).last_leave == last_leave


# -- the window ---------------------------------------------------------------------------------

NOW_LATER = at(5000)
NOW_EARLIER = at(1000)

WINDOW_CASES: list[tuple[str, list[LogEvent], datetime | None, datetime, datetime]] = [
    ("start to end", [start(), join(10), end()], None, at(0), at(HOUR)),
    (
        "the first start and the last end",
        [start(600), end(1800), start(0), join(700), end(HOUR), end(2400)],
        None,
        at(0),
        at(HOUR),
    ),
    (
        "no end: the latest event",
        [start(), join(10), leave(2000), heads(2500, 3)],
        None,
        at(0),
        at(2500),
    ),
    ("no end, live: now when later", [start(), join(10), leave(2000)], NOW_LATER, at(0), NOW_LATER),
    (
        "no end, live: the latest event when later",
        [start(), leave(2000)],
        NOW_EARLIER,
        at(0),
        at(2000),
    ),
    ("an end wins over now", [start(), end(), join(10)], NOW_LATER, at(0), at(HOUR)),
    ("events before the start do not move it", [join(-900), start(), end()], None, at(0), at(HOUR)),
]


@pytest.mark.parametrize(
    ("events", "now", "window_start", "window_end"),
    [c[1:] for c in WINDOW_CASES],
    ids=[c[0] for c in WINDOW_CASES],
)
def test_window(
    events: list[LogEvent], now: datetime | None, window_start: datetime, window_end: datetime
) -> None:
    report = attendance(log(*events), ROSTER, now=now)
    assert (report.window_start, report.window_end) == (window_start, window_end)
    window = report_json(report)["window"]
    assert window["seconds"] == (window_end - window_start).total_seconds()


def test_live_session_closes_open_conns_at_now() -> None:
    report = attendance(log(start(), join(0)), ROSTER, now=at(1800))
    check(site_of(report), {**ALWAYS, "connected_seconds": 1800.0, "last_leave": None})


def test_zero_second_window_has_zero_coverage() -> None:
    report = attendance(log(join(-10), start(), end(0)), ROSTER)
    assert report.window_seconds == 0
    check(site_of(report), {"status": "absent", "coverage": 0.0, "connected_seconds": 0.0})


@pytest.mark.parametrize(
    "events",
    [
        [],
        [join(0), leave(100), end()],
        [ev(0, "chat")],
        [start(session="s2"), join(0), end()],
    ],
    ids=["empty log", "join, leave and end", "a type the report ignores", "another session's"],
)
def test_no_session_start_is_an_error(events: list[LogEvent]) -> None:
    with pytest.raises(AttendanceError):
        attendance(log(*events), ROSTER, session="s1")
    if not any(e.session == "s2" for e in events):
        with pytest.raises(AttendanceError):
            attendance(log(*events), ROSTER)


# -- sessions -----------------------------------------------------------------------------------


def two_sessions() -> list[LogEvent]:
    return log(
        start(0, "s1"),
        start(0, "s2"),
        join(0, site="nga-thanh", session="s1"),
        join(0, site="tan-loc", session="s2"),
        join(10, site="xa-la", session="s2"),
        ev(20, "leave", "nga-thanh", "c1", session=None),  # belongs to the session chosen
        end(HOUR, "s1"),
        end(1800, "s2"),
    )


def test_several_sessions_need_a_choice() -> None:
    with pytest.raises(AttendanceError):
        attendance(two_sessions(), ROSTER)


def test_a_chosen_session_takes_its_own_events_and_those_with_none() -> None:
    s1 = attendance(two_sessions(), ROSTER, session="s1")
    assert s1.session == "s1"
    assert (s1.window_start, s1.window_end) == (at(0), at(HOUR))
    assert site_of(s1, "nga-thanh").connected_seconds == 20.0
    assert site_of(s1, "nga-thanh").last_leave == at(20)
    assert site_of(s1, "tan-loc").status == "absent"
    assert s1.unknown_sites == ()

    s2 = attendance(two_sessions(), ROSTER, session="s2")
    assert s2.session == "s2"
    assert (s2.window_start, s2.window_end) == (at(0), at(1800))
    assert site_of(s2, "nga-thanh").status == "absent"
    assert site_of(s2, "tan-loc").connected_seconds == 1800.0
    assert s2.unknown_sites == ("xa-la",)


def test_one_session_needs_no_choice() -> None:
    report = attendance(log(start(session=None), join(0), leave(HOUR), end(session=None)), ROSTER)
    assert report.session == "s1"
    assert site_of(report).status == "present"


def test_a_log_without_session_ids() -> None:
    events = [
        LogEvent(e.ts, e.type, e.index, None, e.site, e.conn, e.fields)
        for e in log(start(), join(0), end())
    ]
    report = attendance(events, ROSTER)
    assert report.session is None
    assert site_of(report).status == "present"


# -- unknown sites, rates and totals ------------------------------------------------------------


def test_sites_not_in_the_roster_are_listed_not_reported() -> None:
    report = attendance(
        log(start(), join(0, site="xa-la"), heads(10, 12, site="ben-go"), join(0), end()),
        ROSTER,
    )
    assert sorted(report.unknown_sites) == ["ben-go", "xa-la"]
    assert [s.site for s in report.sites] == ["nga-thanh", "tan-loc"]
    assert report.totals.invited == 2
    assert report.totals.present == 1


def test_sites_come_in_roster_order() -> None:
    roster = (TAN_LOC, NGA_THANH)
    report = attendance(log(start(), join(0), join(0, site="tan-loc"), end()), roster)
    assert [s.site for s in report.sites] == ["tan-loc", "nga-thanh"]
    assert [s["site"] for s in report_json(report)["sites"]] == ["tan-loc", "nga-thanh"]


@pytest.mark.parametrize(
    ("expected", "present", "rate"),
    [(40, 30, 0.75), (0, 30, None), (None, 30, None), (40, None, None), (0, 0, None)],
    ids=["both", "expected 0", "expected missing", "no headcount", "0 of 0"],
)
def test_headcount_rate(expected: int | None, present: int | None, rate: float | None) -> None:
    site = RosterSite("nga-thanh", "Xã Nga Thạnh", "commune", expected)
    counts = [] if present is None else [heads(10, present)]
    report = attendance(log(start(), join(0), *counts, end()), [site])
    assert site_of(report).headcount_rate == rate


def test_totals() -> None:
    roster = [
        RosterSite("a", "A", "commune", 40),  # present, 43 people
        RosterSite("b", "B", "commune", 30),  # partial, 20 people
        RosterSite("c", "C", "commune", 25),  # absent though it sent a count: not summed
        RosterSite("d", "D", "agency", None),  # present, 5 people, no expected
        RosterSite("e", "E", "town", 0),  # absent, no count
    ]
    report = attendance(
        log(
            start(),
            join(0, site="a"),
            heads(60, 43, site="a"),
            join(0, site="b"),
            leave(600, site="b"),
            heads(60, 20, site="b"),
            heads(60, 10, site="c"),
            join(0, site="d"),
            heads(60, 5, site="d"),
            end(),
        ),
        roster,
    )
    assert [s.status for s in report.sites] == ["present", "partial", "absent", "present", "absent"]
    totals = report_json(report)["totals"]
    assert totals == {
        "invited": 5,
        "present": 2,
        "partial": 1,
        "absent": 2,
        "expected": 95,
        "headcount": 68,
        "participation_rate": round(68 / 95, 6),
        "connected_rate": 0.6,
        **NO_PEOPLE_TOTALS,
    }


@pytest.mark.parametrize(
    ("roster", "participation_rate", "connected_rate"),
    [
        ((), None, None),
        ((RosterSite("a", "A", "commune", 0),), None, 1.0),
        ((RosterSite("a", "A", "commune", None),), None, 1.0),
    ],
    ids=["no sites invited", "expected 0", "expected missing"],
)
def test_totals_rates_null_when_divisor_is_zero(
    roster: tuple[RosterSite, ...], participation_rate: float | None, connected_rate: float | None
) -> None:
    report = attendance(log(start(), join(0, site="a"), heads(5, 7, site="a"), end()), roster)
    totals = report.totals
    assert (totals.participation_rate, totals.connected_rate) == (
        participation_rate,
        connected_rate,
    )


# -- the rules are settings ---------------------------------------------------------------------

RULE_CASES: list[tuple[str, Rules, list[LogEvent], dict[str, Any]]] = [
    (
        "present_coverage",
        Rules(present_coverage=0.5),
        [start(), join(0), leave(1800), end()],
        {"status": "present"},
    ),
    (
        "late_after_seconds",
        Rules(late_after_seconds=60),
        [start(), join(61), leave(HOUR), end()],
        {"late": True},
    ),
    (
        "early_before_seconds",
        Rules(early_before_seconds=600),
        [start(), join(0), leave(HOUR - 599), end()],
        {"left_early": False},
    ),
    (
        "gap_grace_seconds 0 bridges nothing",
        Rules(gap_grace_seconds=0),
        [start(), join(0), leave(1000), join(1001), leave(HOUR), end()],
        {"connected_seconds": HOUR - 1, "interruptions": 1},
    ),
    (
        "gap_grace_seconds 600",
        Rules(gap_grace_seconds=600),
        [start(), join(0), leave(1000), join(1600), leave(HOUR), end()],
        {"connected_seconds": HOUR, "interruptions": 1, "longest_outage_seconds": 600.0},
    ),
]


@pytest.mark.parametrize(
    ("rules", "events", "expected"),
    [c[1:] for c in RULE_CASES],
    ids=[c[0] for c in RULE_CASES],
)
def test_rules(rules: Rules, events: list[LogEvent], expected: dict[str, Any]) -> None:
    report = attendance(log(*events), ROSTER, rules)
    check(site_of(report), expected)
    assert report_json(report)["rules"] == dataclasses.asdict(rules)


def test_default_rules() -> None:
    assert dataclasses.asdict(Rules()) == {
        "present_coverage": 0.8,
        "late_after_seconds": 300,
        "early_before_seconds": 300,
        "gap_grace_seconds": 60,
    }


# -- the JSON shape (a public contract) ---------------------------------------------------------


def test_report_json_shape() -> None:
    report = attendance(
        log(
            start(),
            join(-5, "c7"),
            leave(1202.5, "c7", reason="failed"),
            heads(5, 43),
            join(1260, "c8"),
            end(),
            join(0, site="xa-la"),
        ),
        ROSTER,
        skipped_lines=2,
    )
    body = report_json(report)
    assert body == {
        "session": "s1",
        "window": {
            "start": "2026-03-05T01:00:00.000Z",
            "end": "2026-03-05T02:00:00.000Z",
            "seconds": 3600.0,
        },
        "rules": {
            "present_coverage": 0.8,
            "late_after_seconds": 300.0,
            "early_before_seconds": 300.0,
            "gap_grace_seconds": 60.0,
        },
        "skipped_lines": 2,
        "sites": [
            {
                "site": "nga-thanh",
                "name": "Xã Nga Thạnh",
                "kind": "commune",
                "expected": 40,
                "status": "present",
                "late": False,
                "left_early": False,
                "first_join": "2026-03-05T00:59:55.000Z",
                "last_leave": None,
                "connected_seconds": 3600.0,
                "coverage": 1.0,
                "interruptions": 1,
                "longest_outage_seconds": 57.5,
                "headcount": 43,
                "headcount_rate": 1.075,
                "cause": None,
                "cause_reason": None,
                **NO_CAMERA_SITE,
                **NO_PEOPLE_SITE,
            },
            {
                "site": "tan-loc",
                "name": "Thị trấn Tân Lộc",
                "kind": "town",
                "expected": 25,
                "status": "absent",
                "late": False,
                "left_early": False,
                "first_join": None,
                "last_leave": None,
                "connected_seconds": 0.0,
                "coverage": 0.0,
                "interruptions": 0,
                "longest_outage_seconds": 0.0,
                "headcount": None,
                "headcount_rate": None,
                "cause": "never_opened",
                "cause_reason": None,
                **NO_CAMERA_SITE,
                **NO_PEOPLE_SITE,
            },
        ],
        "unknown_sites": ["xa-la"],
        "totals": {
            "invited": 2,
            "present": 1,
            "partial": 0,
            "absent": 1,
            "expected": 65,
            "headcount": 43,
            "participation_rate": round(43 / 65, 6),
            "connected_rate": 0.5,
            **NO_PEOPLE_TOTALS,
        },
        "chain": None,
    }
    assert json.loads(json.dumps(body)) == body  # plain JSON, nothing else


def test_report_json_timestamps_are_utc() -> None:
    hanoi = timezone(timedelta(hours=7))
    events = log(
        LogEvent(datetime(2026, 3, 5, 8, 0, tzinfo=hanoi), "session_start", 0, "s1"),
        LogEvent(
            datetime(2026, 3, 5, 8, 0, 1, 250000, tzinfo=hanoi), "join", 0, "s1", "nga-thanh", "c1"
        ),
        LogEvent(datetime(2026, 3, 5, 8, 30, tzinfo=hanoi), "leave", 0, "s1", "nga-thanh", "c1"),
        LogEvent(datetime(2026, 3, 5, 9, 0, tzinfo=hanoi), "session_end", 0, "s1"),
    )
    body = report_json(attendance(events, ROSTER))
    assert body["window"] == {
        "start": "2026-03-05T01:00:00.000Z",
        "end": "2026-03-05T02:00:00.000Z",
        "seconds": 3600.0,
    }
    assert body["sites"][0]["first_join"] == "2026-03-05T01:00:01.250Z"
    assert body["sites"][0]["last_leave"] == "2026-03-05T01:30:00.000Z"


def test_connected_seconds_never_exceed_the_window() -> None:
    # 0.081 + 0.056 + 0.004 (a bridged gap) is 0.14100000000000001 in floats.
    events = log(start(), join(0), leave(0.081), join(0.085), end(0.141))
    site = site_of(attendance(events, ROSTER))
    assert site.connected_seconds == 0.141
    assert site.coverage == 1.0


def test_report_json_rounds_seconds_to_3_and_ratios_to_6_decimals() -> None:
    events = log(start(), join(0), leave(1.0004), end(3))
    site = report_json(attendance(events, [RosterSite("nga-thanh", "N", "commune", 3)]))["sites"][0]
    assert site["connected_seconds"] == 1.0
    assert site["coverage"] == 0.333467
    events = log(start(), join(0), leave(1.0006), heads(2, 1), end(3))
    site = report_json(attendance(events, [RosterSite("nga-thanh", "N", "commune", 3)]))["sites"][0]
    assert site["connected_seconds"] == 1.001
    assert site["headcount_rate"] == 0.333333


# -- failed attempts ----------------------------------------------------------------------------


def failed(t: float, conn: str = "a1", site: str = "nga-thanh") -> LogEvent:
    return ev(t, "attempt_failed", site, conn, reason="ice_timeout", offered=["host"])


def joined_via_relay(t: float, conn: str = "c1") -> LogEvent:
    fields = {"candidate": "relay", "protocol": "tcp", "address": "198.51.100.20"}
    return ev(t, "join", "nga-thanh", conn, **fields)


ATTEMPT_CASES: list[tuple[str, list[LogEvent], dict[str, Any]]] = [
    (
        "attempts alone are no presence",
        [start(), failed(60), failed(120, "a2"), end()],
        {"status": "absent", "first_join": None, "connected_seconds": 0.0, "failed_attempts": 2},
    ),
    (
        "an attempt that failed, then one that came up",
        [start(), failed(60), joined_via_relay(90), leave(HOUR), end()],
        {"status": "present", "first_join": at(90), "interruptions": 0, "failed_attempts": 1},
    ),
    (
        "an attempt with an open conn's id neither closes nor reopens it",
        [start(), join(0), failed(600, "c1"), leave(1200), join(1800), end()],
        {"connected_seconds": 1200.0 + 1800.0, "last_leave": None, "failed_attempts": 1},
    ),
    (
        "attempts before the start count; after the end they do not",
        [failed(-300), start(), failed(HOUR + 60), end()],
        {"status": "absent", "failed_attempts": 1},
    ),
    (
        "a site that never tried has none",
        [start(), end()],
        {"status": "absent", "failed_attempts": 0},
    ),
]


@pytest.mark.parametrize(
    ("events", "expected"), [c[1:] for c in ATTEMPT_CASES], ids=[c[0] for c in ATTEMPT_CASES]
)
def test_failed_attempts(events: list[LogEvent], expected: dict[str, Any]) -> None:
    check(site_of(attendance(log(*events), ROSTER)), expected)


def test_failed_attempts_in_json_only_when_asked() -> None:
    report = attendance(log(start(), failed(60), end()), ROSTER)
    plain = report_json(report)
    assert all("failed_attempts" not in site for site in plain["sites"])
    asked = report_json(report, attempts=True)
    assert [site["failed_attempts"] for site in asked["sites"]] == [1, 0]
    for site in asked["sites"]:
        site.pop("failed_attempts")
    assert asked == plain


def test_the_route_of_a_join_changes_no_figure() -> None:
    plain = log(start(), join(30), leave(1800), join(1900, "c2"), end())
    routed = log(start(), joined_via_relay(30), leave(1800), joined_via_relay(1900, "c2"), end())
    assert report_json(attendance(routed, ROSTER)) == report_json(attendance(plain, ROSTER))


# -- properties ---------------------------------------------------------------------------------

SITES = ("nga-thanh", "tan-loc", "xa-la")  # xa-la is not in the roster
CONNS = ("c1", "c2", "c3")
SPAN_MS = 2 * 3_600_000


def stamp(ms: int) -> str:
    return (
        (T0 + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


@st.composite
def site_lines(draw: st.DrawFn, times: list[int]) -> list[dict[str, Any]]:
    """One JSON object per time: joins, leaves and headcounts of a few sites and conns."""
    objs: list[dict[str, Any]] = []
    for ms in times:
        kind = draw(st.sampled_from(["join", "join", "leave", "leave", "headcount", "chat"]))
        obj: dict[str, Any] = {"ts": stamp(ms), "session": "s1", "type": kind}
        obj["site"] = draw(st.sampled_from(SITES))
        if kind in ("join", "leave"):
            obj["conn"] = draw(st.sampled_from(CONNS))
        if kind == "leave":
            obj["reason"] = draw(st.sampled_from(["closed", "failed", "timeout", "kicked"]))
        if kind == "headcount":
            obj["present"] = draw(st.one_of(st.integers(-3, 80), st.just("12"), st.booleans()))
        objs.append(obj)
    return objs


@st.composite
def join_logs(draw: st.DrawFn, max_events: int = 25) -> list[str]:
    """A session's log as JSON Lines with distinct timestamps (and a few lines to skip)."""
    count = draw(st.integers(0, max_events))
    times = draw(
        st.lists(
            st.integers(-600_000, SPAN_MS), min_size=count + 2, max_size=count + 2, unique=True
        )
    )
    first, last = sorted(times[:2])
    objs = [{"ts": stamp(first), "session": "s1", "type": "session_start"}]
    if draw(st.booleans()):
        objs.append({"ts": stamp(last), "session": "s1", "type": "session_end"})
    objs += draw(site_lines(times[2:]))
    lines = [json.dumps(obj, ensure_ascii=False) for obj in objs]
    lines += draw(st.lists(st.sampled_from(["not json", "[1, 2]", '{"type": "join"}']), max_size=2))
    return lines


DEFAULT_RULES = Rules()


def report_of(
    lines: list[str], rules: Rules = DEFAULT_RULES, now: datetime | None = None
) -> Report:
    events, skipped = read_jsonl(lines)
    return attendance(events, ROSTER, rules, skipped_lines=len(skipped), now=now)


rules_strategy = st.builds(
    Rules,
    present_coverage=st.floats(0, 1),
    late_after_seconds=st.floats(0, 3600),
    early_before_seconds=st.floats(0, 3600),
    gap_grace_seconds=st.floats(0, 7200),
)
nows = st.none() | st.integers(-600_000, SPAN_MS + 600_000).map(lambda ms: at(ms / 1000))


@given(join_logs(), rules_strategy, nows)
def test_coverage_is_a_fraction_of_the_window(
    lines: list[str], rules: Rules, now: datetime | None
) -> None:
    report = report_of(lines, rules, now)
    for site in report.sites:
        assert 0.0 <= site.coverage <= 1.0
        assert 0.0 <= site.connected_seconds <= report.window_seconds
        assert 0.0 <= site.longest_outage_seconds <= report.window_seconds
        assert (site.status == "absent") == (site.connected_seconds == 0)
    body = report_json(report)
    for entry in body["sites"]:
        assert 0.0 <= entry["coverage"] <= 1.0
        assert entry["connected_seconds"] <= body["window"]["seconds"]


@given(st.data())
def test_the_order_of_the_lines_does_not_matter(data: st.DataObject) -> None:
    lines = data.draw(join_logs())
    shuffled = data.draw(st.permutations(lines))
    assert report_json(report_of(shuffled)) == report_json(report_of(lines))


@given(st.data())
def test_a_duplicate_join_of_an_open_conn_changes_nothing(data: st.DataObject) -> None:
    lines = data.draw(join_logs())
    site = data.draw(st.sampled_from(SITES))
    opened, closed = sorted(
        data.draw(st.lists(st.integers(0, SPAN_MS), min_size=2, max_size=2, unique=True))
    )
    again = data.draw(st.integers(opened, closed - 1))
    # A conn of its own, so that no other line opens or closes it.
    conn = {"session": "s1", "site": site, "conn": "c-own"}
    lines += [
        json.dumps({"ts": stamp(opened), "type": "join", **conn}),
        json.dumps({"ts": stamp(closed), "type": "leave", **conn, "reason": "closed"}),
    ]
    duplicate = json.dumps({"ts": stamp(again), "type": "join", **conn})
    position = data.draw(st.integers(0, len(lines)))
    with_duplicate = [*lines[:position], duplicate, *lines[position:]]
    before, after = report_of(lines), report_of(with_duplicate)
    assert report_json(after) == report_json(before)


@given(join_logs(), st.floats(0, 7200), st.floats(0, 7200))
def test_more_grace_never_lowers_coverage(lines: list[str], grace_a: float, grace_b: float) -> None:
    less, more = sorted([grace_a, grace_b])
    low = report_of(lines, Rules(gap_grace_seconds=less))
    high = report_of(lines, Rules(gap_grace_seconds=more))
    for a, b in zip(low.sites, high.sites, strict=True):
        assert b.coverage >= a.coverage
        assert b.connected_seconds >= a.connected_seconds
        assert (b.interruptions, b.longest_outage_seconds) == (
            a.interruptions,
            a.longest_outage_seconds,
        )


@given(st.data())
def test_failed_attempts_change_no_presence_figure(data: st.DataObject) -> None:
    lines = data.draw(join_logs())
    report = report_of(lines)
    # Inside the window, so that none is the log's latest event (which ends a window with no
    # session_end, as any event does).
    start_ms = (report.window_start - T0) // timedelta(milliseconds=1)  # exact: ms stamps
    end_ms = (report.window_end - T0) // timedelta(milliseconds=1)
    attempts = [
        json.dumps(
            {
                "ts": stamp(data.draw(st.integers(start_ms, end_ms))),
                "session": "s1",
                "type": "attempt_failed",
                "site": data.draw(st.sampled_from(SITES)),
                "conn": data.draw(st.sampled_from(CONNS)),  # even the id of a conn in use
                "reason": data.draw(st.sampled_from(["ice_timeout", "ice_failed", "dtls_failed"])),
                "offered": data.draw(st.lists(st.sampled_from(["host", "srflx", "relay"]))),
            }
        )
        for _ in range(data.draw(st.integers(1, 4)))
    ]
    position = data.draw(st.integers(0, len(lines)))
    with_attempts = report_of([*lines[:position], *attempts, *lines[position:]])
    after, before = report_json(with_attempts), report_json(report)
    # The log names a site not invited that tried, as it names one that joined.
    tried_sites = {json.loads(a)["site"] for a in attempts}
    uninvited = tried_sites - {site.id for site in ROSTER}
    assert set(after.pop("unknown_sites")) == set(before.pop("unknown_sites")) | uninvited
    # Why a site missed time is no presence figure: attempts change it (test_outage's tables).
    for site in (*after["sites"], *before["sites"]):
        site.pop("cause"), site.pop("cause_reason")
    assert after == before
    tried = sum(s.failed_attempts for s in with_attempts.sites)
    assert tried == sum(1 for a in attempts if json.loads(a)["site"] in ("nga-thanh", "tan-loc"))


# Rules.validate: the one range check of the flags and of the API's query


@pytest.mark.parametrize(
    ("changes", "wrong"),
    [
        ({}, ()),
        ({"present_coverage": 0.0, "gap_grace_seconds": 0.0}, ()),
        ({"present_coverage": 1.0, "late_after_seconds": 1e9}, ()),
        ({"present_coverage": 1.5}, ("present_coverage",)),
        ({"present_coverage": float("nan")}, ("present_coverage",)),
        ({"late_after_seconds": -1.0}, ("late_after_seconds",)),
        ({"early_before_seconds": float("inf")}, ("early_before_seconds",)),
        (
            {"gap_grace_seconds": float("nan"), "present_coverage": -0.1},
            ("present_coverage", "gap_grace_seconds"),
        ),
    ],
)
def test_rules_validate(changes: dict[str, float], wrong: tuple[str, ...]) -> None:
    rules = dataclasses.replace(Rules(), **changes)
    if not wrong:
        assert rules.validate() is rules
        return
    with pytest.raises(RulesError) as raised:
        rules.validate()
    assert raised.value.fields == wrong


# totals: of one session's sites, of many sessions', of live halls


def test_totals_count_people_only_where_the_site_was_there() -> None:
    t = totals(
        [
            SiteTally("present", 40, 38),
            SiteTally("partial", 25, 10),
            SiteTally("absent", 30, 12),  # a headcount typed at a hall that never connected
            SiteTally("present", None, None),
        ]
    )
    assert (t.invited, t.present, t.partial, t.absent) == (4, 2, 1, 1)
    assert (t.expected, t.headcount) == (95, 48)
    assert t.participation_rate == 48 / 95
    assert t.connected_rate == 3 / 4


def test_totals_of_nothing_have_no_rates() -> None:
    t = totals([])
    assert (t.invited, t.expected, t.headcount) == (0, 0, 0)
    assert (t.participation_rate, t.connected_rate) == (None, None)


# period_summary: the figures of the sessions held in a period, pure


def held(session_id: str, *events: LogEvent, live: bool = False) -> HeldSession:
    report = attendance(log(*events), ROSTER)
    return HeldSession(session_id, f"Phiên {session_id}", live, report)


def test_period_summary_of_two_sessions() -> None:
    first = held(
        "a",
        start(),
        join(0),
        heads(60, 30),
        leave(HOUR),
        join(0, "t", site="tan-loc"),
        heads(60, 10, site="tan-loc"),
        leave(1200, "t", site="tan-loc"),
        end(),
    )
    second = held("b", start(), join(0), heads(60, 35), heads(61, 9, site="tan-loc"), end())
    summary = period_summary([first, second])

    assert summary["totals"] == {
        "sessions_held": 2,
        "average_coverage": (1.0 + 1 / 3 + 1.0 + 0.0) / 4,
        # tan-loc's 9 of the second session are not counted: it never connected.
        "participation_rate": (30 + 10 + 35) / (2 * 65),
        "connected_rate": 3 / 4,
        "invited": 4,
        "expected": 130,
        "headcount": 75,
        **NO_PEOPLE_TOTALS,
    }
    a, b = summary["sessions"]
    assert (a["id"], a["title"], a["live"]) == ("a", "Phiên a", False)
    assert a["window"] == {
        "start": "2026-03-05T01:00:00.000Z",
        "end": "2026-03-05T02:00:00.000Z",
        "seconds": HOUR,
    }
    assert {k: a[k] for k in ("invited", "present", "partial", "absent", "headcount")} == {
        "invited": 2,
        "present": 1,
        "partial": 1,
        "absent": 0,
        "headcount": 40,
    }
    assert a["average_coverage"] == (1.0 + 1 / 3) / 2
    assert (b["present"], b["absent"], b["headcount"], b["connected_rate"]) == (1, 1, 35, 0.5)
    # The sites most often away come first; twice is a pattern to follow up.
    assert [(s["site"], s["partial"], s["absent"]) for s in summary["sites"]] == [
        ("tan-loc", 1, 1),
        ("nga-thanh", 0, 0),
    ]
    tan_loc, nga_thanh = summary["sites"]
    assert tan_loc["repeatedly_absent_or_partial"] and not nga_thanh["repeatedly_absent_or_partial"]
    assert (nga_thanh["sessions"], nga_thanh["present"], nga_thanh["average_coverage"]) == (
        2,
        2,
        1.0,
    )


def test_period_summary_gives_the_latest_name_of_a_site() -> None:
    renamed = (dataclasses.replace(NGA_THANH, name="Xã Nga Thạnh mới"),)
    old = held("a", start(), end())
    new = HeldSession("b", "Phiên b", True, attendance(log(start(), end()), renamed))
    (site,) = [s for s in period_summary([old, new])["sites"] if s["site"] == "nga-thanh"]
    assert (site["name"], site["sessions"], site["absent"]) == ("Xã Nga Thạnh mới", 2, 2)
    assert period_summary([old, new])["sessions"][1]["live"] is True


def test_an_empty_period_summary() -> None:
    summary = period_summary([])
    assert (summary["sessions"], summary["sites"]) == ([], [])
    rates = ("average_coverage", "participation_rate", "connected_rate", *PEOPLE_RATES)
    assert all(summary["totals"][k] is None for k in rates)
    assert all(v == 0 for k, v in summary["totals"].items() if k not in rates)


def test_period_summary_counts_each_kind_of_conference_apart() -> None:
    # A key cadres' conference: both halls there, 30 + 24 of 65 people.
    key = dataclasses.replace(held("k", *key_events()), kind="key")
    # Two grassroots ones: one hall each time, 35 and 20 people.
    grassroots = [
        held("g1", start(), join(0), heads(60, 35), end()),
        held("g2", start(), join(0, site="tan-loc"), heads(60, 20, site="tan-loc"), end()),
    ]
    summary = period_summary([key, *grassroots])
    assert [kinds_of["session_ids"] for kinds_of in summary["kinds"].values()] == [
        ["k"],
        ["g1", "g2"],
    ]
    kinds = summary["kinds"]
    assert list(kinds) == ["key", "grassroots"]
    assert {k: kinds["key"][k] for k in KIND_FIGURES} == {
        "sessions": 1,
        "invited": 2,
        "attended": 2,
        "expected": 65,
        "headcount": 54,
        "participation_rate": round(54 / 65, 6),
        "connected_rate": 1.0,
    }
    assert {k: kinds["grassroots"][k] for k in KIND_FIGURES} == {
        "sessions": 2,
        "invited": 4,
        "attended": 2,
        "expected": 130,
        "headcount": 55,
        "participation_rate": round(55 / 130, 6),
        "connected_rate": 0.5,
    }
    # No rosters: nothing known by name, no rate of it.
    assert kinds["key"]["sessions_with_rosters"] == 0 and kinds["key"]["people_rate"] is None
    # A kind not held has its counts at 0 and no rates.
    empty = period_summary(grassroots)["kinds"]["key"]
    assert (empty["sessions"], empty["participation_rate"], empty["connected_rate"]) == (
        0,
        None,
        None,
    )


KIND_FIGURES = (
    "sessions",
    "invited",
    "attended",
    "expected",
    "headcount",
    "participation_rate",
    "connected_rate",
)


def key_events() -> list[LogEvent]:
    return [
        start(),
        join(0),
        heads(60, 30),
        join(0, "t", site="tan-loc"),
        heads(60, 24, site="tan-loc"),
        end(),
    ]


def test_period_kinds_count_people_by_name_where_halls_have_rosters() -> None:
    people = tuple(RosterPerson(f"p{n}", f"Người {n}") for n in range(4))
    roster = (dataclasses.replace(NGA_THANH, people=people), TAN_LOC)
    checked_in = [
        LogEvent(at(10), "checkin", 10 + n, "s1", "nga-thanh", fields={"person": f"p{n}"})
        for n in range(3)
    ]
    excused = LogEvent(at(20), "absence", 20, "s1", "nga-thanh", fields={"person": "p3"})
    report = attendance(log(start(), join(0), *checked_in, excused, end()), roster)
    key = HeldSession("k", "Phiên k", False, report, "key")
    kinds = period_summary([key, held("g", start(), end())])["kinds"]
    assert {k: v for k, v in kinds["key"].items() if k.startswith("people_")} == {
        "people_expected": 4,
        "people_present": 3,
        "people_excused": 1,
        "people_unexcused": 0,
        "people_rate": 0.75,
        "people_excused_rate": 0.25,
        "people_unexcused_rate": 0.0,
    }
    assert (
        kinds["key"]["sessions_with_rosters"],
        kinds["grassroots"]["sessions_with_rosters"],
    ) == (1, 0)
    assert kinds["grassroots"]["people_rate"] is None
