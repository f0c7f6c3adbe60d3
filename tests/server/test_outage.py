"""Why an absent or late hall missed time (server/attendance/outage.py): tables of join logs.

A one-hour session from T0 (0 to 3600 s), the default rules: late after 300 s.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from diemcau.server.attendance import LogEvent, RosterSite, Rules, attendance, outage

T0 = datetime(2026, 3, 5, 1, 0, tzinfo=UTC)
SITE = RosterSite("nga-thanh", "Xã Nga Thạnh", "commune", 40)
DEFAULT_RULES = Rules()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ev(t: float, type: str, conn: str | None = None, **fields: Any) -> LogEvent:
    return LogEvent(at(t), type, 0, "s1", SITE.id, conn, fields)


def page(t: float) -> LogEvent:
    return ev(t, "page_open")


def tried(t: float, reason: str = "ice_timeout", conn: str = "a1") -> LogEvent:
    return ev(t, "attempt_failed", conn, reason=reason, offered=["host"])


def join(t: float, conn: str = "c1") -> LogEvent:
    return ev(t, "join", conn, candidate="host", protocol="udp")


def leave(t: float, reason: str = "closed", conn: str = "c1") -> LogEvent:
    return ev(t, "leave", conn, reason=reason)


def report_of(*site_events: LogEvent, rules: Rules = DEFAULT_RULES) -> tuple[str, bool, Any, Any]:
    events = [
        LogEvent(at(0), "session_start", 0, "s1"),
        *site_events,
        LogEvent(at(3600), "session_end", 0, "s1"),
    ]
    ordered = [
        LogEvent(e.ts, e.type, i, e.session, e.site, e.conn, e.fields)
        for i, e in enumerate(events, start=1)
    ]
    site = attendance(ordered, [SITE], rules).sites[0]
    return site.status, site.late, site.cause, site.cause_reason


CASES: list[tuple[str, list[LogEvent], tuple[str, bool, str | None, str | None]]] = [
    # Absent: the whole session is the time missed.
    ("nothing at all", [], ("absent", False, "never_opened", None)),
    ("its page opened, no media asked", [page(-60)], ("absent", False, "media_failed", None)),
    (
        "its page opened, every attempt timed out",
        [page(-60), tried(-40), tried(200)],
        ("absent", False, "media_failed", "ice_timeout"),
    ),
    (
        "the last attempt's reason",
        [page(10), tried(30, "ice_timeout"), tried(90, "dtls_failed", "a2")],
        ("absent", False, "media_failed", "dtls_failed"),
    ),
    (
        "a log of before page_open: attempts alone show the page open",
        [tried(30, "ice_failed")],
        ("absent", False, "media_failed", "ice_failed"),
    ),
    (
        "an attempt at the session's very end still counts",
        [tried(3600, "ice_failed")],
        ("absent", False, "media_failed", "ice_failed"),
    ),
    (
        "connected before the start, its network lost",
        [page(-900), join(-890), leave(-300, "failed")],
        ("absent", False, "network_lost", "failed"),
    ),
    (
        "lost, and the attempts after it fail too: still the network",
        [join(-890), leave(-300, "failed"), page(-200), tried(-150), tried(100)],
        ("absent", False, "network_lost", "failed"),
    ),
    (
        "the server stopped under it",
        [join(-890), leave(-300, "server_shutdown")],
        ("absent", False, "network_lost", "server_shutdown"),
    ),
    (
        "connected for the rehearsal, closed its page: no technical cause",
        [page(-900), join(-890), leave(-300, "closed")],
        ("absent", False, None, None),
    ),
    (
        "removed by the chair before the start",
        [join(-890), leave(-300, "kicked")],
        ("absent", False, None, None),
    ),
    (
        "closed, then opened again but never connected",
        [join(-890), leave(-300, "closed"), page(-100)],
        ("absent", False, "media_failed", None),
    ),
    (
        "closed, then tried again and failed",
        [join(-890), leave(-300, "closed"), tried(100, "dtls_failed")],
        ("absent", False, "media_failed", "dtls_failed"),
    ),
    (
        "one of two connections lost, the other closed last: closed",
        [join(-890), join(-880, "c2"), leave(-300, "failed"), leave(-200, "closed", "c2")],
        ("absent", False, None, None),
    ),
    (
        "one of two connections closed, the other lost last: lost",
        [join(-890), join(-880, "c2"), leave(-300, "closed"), leave(-200, "failed", "c2")],
        ("absent", False, "network_lost", "failed"),
    ),
    (
        "a leave of a conn never joined changes nothing",
        [page(-60), leave(-30, "failed", "zz")],
        ("absent", False, "media_failed", None),
    ),
    ("opened only after the end", [page(3700)], ("absent", False, "never_opened", None)),
    # Late: the time missed runs from the start to its first connection.
    ("opened its page late", [page(600), join(603)], ("present", True, "opened_late", None)),
    (
        "opened late, and its first attempt failed: still late to open",
        [page(600), tried(620), join(700)],
        ("present", True, "opened_late", None),
    ),
    (
        "opened in time, attempts failed until a relay worked",
        [page(-60), tried(30), tried(120, "ice_failed", "a2"), join(600)],
        ("present", True, "media_failed", "ice_failed"),
    ),
    (
        "opened in time, media came late and the log says no more",
        [page(100), join(400)],
        ("present", True, "media_failed", None),
    ),
    (
        "a failure after it came in is not why it was late",
        [page(-60), join(400), tried(500)],
        ("present", True, "media_failed", None),
    ),
    (
        "connected before the start, lost, back late",
        [join(-100), leave(-50, "failed"), join(600, "c2")],
        ("present", True, "network_lost", "failed"),
    ),
    (
        "opened at the due moment exactly: in time",
        [page(300), join(301)],
        ("present", True, "media_failed", None),
    ),
    # On time and through: nothing to explain.
    ("on time", [page(-60), join(-50)], ("present", False, None, None)),
    (
        "a drop bridged, present to the end",
        [join(-50), leave(1800, "failed"), join(1830, "c2")],
        ("present", False, None, None),
    ),
    # There, but partly: lost its network, or left.
    (
        "lost its network half way, never back",
        [join(-50), leave(1800, "failed")],
        ("partial", False, "network_lost", "failed"),
    ),
    (
        "lost its network near the end: present, but left early",
        [join(-50), leave(3000, "failed")],
        ("present", False, "network_lost", "failed"),
    ),
    (
        "lost, back, and lost again for good: the last drop",
        [join(-50), leave(900, "failed"), join(2000, "c2"), leave(2100, "server_shutdown", "c2")],
        ("partial", False, "network_lost", "server_shutdown"),
    ),
    (
        "lost once, back, then closed its page early: it left",
        [join(-50), leave(900, "failed"), join(1000, "c2"), leave(1500, "closed", "c2")],
        ("partial", False, None, None),
    ),
    (
        "closed early, tried again, failed: it left, and the attempt is no drop",
        [join(-50), leave(1500, "closed"), tried(1600)],
        ("partial", False, None, None),
    ),
    (
        "one of two connections lost, the other on: no drop",
        [join(-50), join(-40, "c2"), leave(1800, "failed"), leave(2000, "closed", "c2")],
        ("partial", False, None, None),
    ),
    (
        "a gap lost mid-way, then connected to the end: partial by its network",
        [join(-50), leave(600, "failed"), join(1800, "c2")],
        ("partial", False, "network_lost", "failed"),
    ),
    (
        "lost, back, and closed by the session's end: the end's leave is no drop",
        [join(-50), leave(600, "failed"), join(2500, "c2"), leave(3600, "closed", "c2")],
        ("partial", False, "network_lost", "failed"),
    ),
    (
        "late, and lost later: the lateness is what is told",
        [page(600), join(610), leave(1200, "failed")],
        ("partial", True, "opened_late", None),
    ),
]


@pytest.mark.parametrize(("events", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_why_a_hall_missed_time(
    events: list[LogEvent], expected: tuple[str, bool, str | None, str | None]
) -> None:
    assert report_of(*events) == expected


def test_late_is_measured_against_the_rules() -> None:
    events = [page(100), join(400)]
    # With late_after 60 the page opened after it was due: late to open, not a media fault.
    assert report_of(*events, rules=Rules(late_after_seconds=60)) == (
        "present",
        True,
        "opened_late",
        None,
    )
    assert report_of(*events, rules=Rules(late_after_seconds=600))[1:] == (False, None, None)


def test_a_reason_that_is_not_text_is_none() -> None:
    events = [ev(10, "attempt_failed", "a1", reason=42)]
    assert outage(events, at(3600), None).reason is None
    assert outage(events, at(3600), None).cause == "media_failed"
