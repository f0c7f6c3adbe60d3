"""The people rules (server/attendance/people.py): tables of cases, then properties.

Times are seconds after T0; the session runs from 0 to 3600, late after 300 s (Rules()).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from diemcau.server.attendance import LogEvent, RosterSite, Rules, attendance, report_json
from diemcau.server.attendance.people import (
    PersonAttendance,
    RosterPerson,
    people_attendance,
    people_events,
)

T0 = datetime(2026, 3, 5, 1, 0, tzinfo=UTC)
END = 3600.0
AN = RosterPerson("p-an", "Nguyễn Văn An")
BINH = RosterPerson("p-binh", "Lê Thị Bình")
CUONG = RosterPerson("p-cuong", "Trần Đức Cường")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ev(t: float, type: str, site: str | None = "nga-thanh", **fields: Any) -> LogEvent:
    return LogEvent(at(t), type, 0, "s1", site, None, fields)


def checkin(t: float, person: str = "p-an", method: str = "qr") -> LogEvent:
    return ev(t, "checkin", person=person, method=method, by="site")


def revoke(t: float, person: str = "p-an") -> LogEvent:
    return ev(t, "checkin_revoked", person=person, by="admin", reason="nhầm người")


def absence(t: float, person: str = "p-an", reason: str = "ốm") -> LogEvent:
    return ev(t, "absence", person=person, reason=reason, by="site")


def unexcuse(t: float, person: str = "p-an") -> LogEvent:
    return ev(t, "absence_revoked", person=person, by="admin", reason="không đúng")


def indexed(events: list[LogEvent]) -> list[LogEvent]:
    """In time order, ties in the order given, as attendance() orders the log."""
    for index, event in enumerate(events):
        event.index = index
    return sorted(events, key=lambda e: (e.ts, e.index))


def one(*events: LogEvent, person: RosterPerson = AN) -> PersonAttendance:
    (result,) = people_attendance(
        [person], people_events(indexed(list(events))), at(0), at(END), Rules().late_after_seconds
    )
    return result


CASES: dict[str, tuple[list[LogEvent], str, float | None, str | None, str | None]] = {
    # name: events, status, checked in at (s), method, reason
    "no word": ([], "absent", None, None, None),
    "on time": ([checkin(120)], "present", 120, "qr", None),
    "before the start": ([checkin(-900, method="clerk")], "present", -900, "clerk", None),
    "just in time": ([checkin(300)], "present", 300, "qr", None),
    "late": ([checkin(301)], "late", 301, "qr", None),
    "at the end": ([checkin(END)], "late", END, "qr", None),
    "after the end": ([checkin(END + 1)], "absent", None, None, None),
    "second check-in changes nothing": ([checkin(100), checkin(900)], "present", 100, "qr", None),
    "revoked": ([checkin(100), revoke(200)], "absent", None, None, None),
    "revoked after the end": ([checkin(100), revoke(END + 600)], "absent", None, None, None),
    "revoked then again": ([checkin(100), revoke(200), checkin(400)], "late", 400, "qr", None),
    "excused": ([absence(-3600)], "excused", None, None, "ốm"),
    "excused after the end": (
        [absence(END + 86400, reason="đi công tác")],
        "excused",
        None,
        None,
        "đi công tác",
    ),
    "excused, then came": ([absence(-60), checkin(60)], "present", 60, "qr", None),
    # The server refuses this absence (checkinrules); a log that has one reads it so.
    "came, then marked excused": ([checkin(60), absence(120)], "present", 60, "qr", None),
    "came, excused, came again": (
        [checkin(60), absence(120), checkin(180)],
        "present",
        60,
        "qr",
        None,
    ),
    "excused, came too late to count": (
        [absence(0), checkin(END + 5)],
        "excused",
        None,
        None,
        "ốm",
    ),
    "excuse revoked": ([absence(0), unexcuse(50)], "absent", None, None, None),
    "excuse revoked, excused again": (
        [absence(0), unexcuse(50), absence(60, reason="trực cơ quan")],
        "excused",
        None,
        None,
        "trực cơ quan",
    ),
    "the excuse stands when a check-in is revoked": (
        [absence(0), checkin(60), revoke(70)],
        "excused",
        None,
        None,
        "ốm",
    ),
    "another person's words": (
        [checkin(60, "p-binh"), absence(70, "p-binh")],
        "absent",
        None,
        None,
        None,
    ),
    "a word with no person": ([ev(60, "checkin", method="qr")], "absent", None, None, None),
}


@pytest.mark.parametrize(
    ("events", "status", "checked_in", "method", "reason"), CASES.values(), ids=CASES.keys()
)
def test_a_person(
    events: list[LogEvent],
    status: str,
    checked_in: float | None,
    method: str | None,
    reason: str | None,
) -> None:
    result = one(*events)
    assert (result.id, result.name) == (AN.id, AN.name)
    assert result.status == status
    assert result.checked_in_at == (None if checked_in is None else at(checked_in))
    assert (result.method, result.reason) == (method, reason)


def test_equal_times_keep_the_log_s_order() -> None:
    assert one(checkin(60), revoke(60)).status == "absent"
    assert one(revoke(60), checkin(60)).status == "present"
    assert one(absence(60), unexcuse(60)).status == "absent"
    assert one(unexcuse(60), absence(60)).status == "excused"


def test_the_report_gives_each_site_its_people_and_the_totals_their_rates() -> None:
    roster = [
        RosterSite("nga-thanh", "Xã Nga Thạnh", "commune", 3, (AN, BINH, CUONG)),
        RosterSite(
            "tan-loc", "Thị trấn Tân Lộc", "town", 1, (RosterPerson("p-dung", "Phạm Thị Dung"),)
        ),
        RosterSite("ubnd", "Văn phòng UBND", "agency", 12),  # no roster
    ]
    events = indexed(
        [
            ev(0, "session_start", None),
            checkin(-30, "p-an"),
            checkin(600, "p-binh", method="clerk"),
            absence(900, "p-cuong", reason="ốm"),
            # Dung checks in by phone though her hall's media never came up.
            checkin(30, "p-dung", method="qr"),
            ev(END, "session_end", None),
        ]
    )
    body = report_json(attendance(events, roster))
    nga_thanh, tan_loc, ubnd = body["sites"]
    assert nga_thanh["people"] == [
        {
            "id": "p-an",
            "name": "Nguyễn Văn An",
            "status": "present",
            "checked_in_at": "2026-03-05T00:59:30.000Z",
            "method": "qr",
            "reason": None,
        },
        {
            "id": "p-binh",
            "name": "Lê Thị Bình",
            "status": "late",
            "checked_in_at": "2026-03-05T01:10:00.000Z",
            "method": "clerk",
            "reason": None,
        },
        {
            "id": "p-cuong",
            "name": "Trần Đức Cường",
            "status": "excused",
            "checked_in_at": None,
            "method": None,
            "reason": "ốm",
        },
    ]
    assert (nga_thanh["status"], nga_thanh["expected"]) == ("absent", 3)
    assert (nga_thanh["people_present_rate"], nga_thanh["people_excused_rate"]) == (
        round(2 / 3, 6),
        round(1 / 3, 6),
    )
    assert nga_thanh["people_unexcused_rate"] == 0.0
    assert [p["status"] for p in tan_loc["people"]] == ["present"]
    assert ubnd["people"] == [] and ubnd["people_present_rate"] is None
    totals = body["totals"]
    assert {k: v for k, v in totals.items() if k.startswith("people_")} == {
        "people_expected": 4,
        "people_present": 3,
        "people_excused": 1,
        "people_unexcused": 0,
        "people_present_rate": 0.75,
        "people_excused_rate": 0.25,
        "people_unexcused_rate": 0.0,
    }
    # The halls' own figures are as before: the rosters count people, not connections.
    assert (totals["expected"], totals["present"], totals["absent"]) == (16, 0, 3)


def test_a_live_session_counts_check_ins_up_to_now() -> None:
    roster = [RosterSite("nga-thanh", "Xã Nga Thạnh", "commune", 2, (AN, BINH))]
    events = indexed([ev(0, "session_start", None), checkin(60, "p-an")])
    report = attendance(events, roster, now=at(1800))
    assert [p.status for p in report.sites[0].people] == ["present", "absent"]
    assert report.totals.people_unexcused == 1


# Properties

PEOPLE = [AN.id, BINH.id]
word = st.tuples(
    st.floats(min_value=-3600, max_value=END + 3600, allow_nan=False),
    st.sampled_from(["checkin", "checkin_revoked", "absence", "absence_revoked"]),
    st.sampled_from(PEOPLE),
)
words = st.lists(word, max_size=12)


def as_events(drawn: list[tuple[float, str, str]]) -> list[LogEvent]:
    makers = {
        "checkin": checkin,
        "checkin_revoked": revoke,
        "absence": absence,
        "absence_revoked": unexcuse,
    }
    return [makers[kind](t, person) for t, kind, person in drawn]


def everyone(events: list[LogEvent]) -> tuple[PersonAttendance, ...]:
    return people_attendance(
        [AN, BINH], people_events(indexed(events)), at(0), at(END), Rules().late_after_seconds
    )


@given(words)
def test_each_status_is_consistent(drawn: list[tuple[float, str, str]]) -> None:
    for p in everyone(as_events(drawn)):
        checked_in = p.status in ("present", "late")
        assert (p.checked_in_at is not None) == checked_in == (p.method is not None)
        assert (p.reason is not None) == (p.status == "excused")
        if p.checked_in_at is not None:
            assert p.checked_in_at <= at(END)
            late = (p.checked_in_at - at(0)).total_seconds() > 300
            assert p.status == ("late" if late else "present")


@given(words, word)
def test_the_last_word_wins(
    drawn: list[tuple[float, str, str]], last: tuple[float, str, str]
) -> None:
    events = as_events(drawn)
    latest = max([t for t, _, _ in drawn], default=0.0)
    t, kind, person = last
    t = max(t, latest)  # after every other word
    before = {p.id: p for p in everyone(events)}
    after = {p.id: p for p in everyone([*events, *as_events([(t, kind, person)])])}
    other = next(p for p in PEOPLE if p != person)
    assert after[other] == before[other]  # one person's words are theirs alone
    status = after[person].status
    if kind == "absence":
        # Excused, unless a check-in stands: then as before.
        assert status == "excused" or after[person] == before[person]
        assert status != "absent"
    elif kind == "checkin_revoked":
        assert status in ("absent", "excused")
    elif kind == "absence_revoked":
        assert status != "excused"
        assert after[person].status in ("absent", before[person].status)
    elif t > END:
        assert after[person] == before[person]  # a check-in after the end does not count
    else:
        assert status in ("present", "late")


@given(words)
def test_the_counts_add_up(drawn: list[tuple[float, str, str]]) -> None:
    roster = [RosterSite("nga-thanh", "Xã Nga Thạnh", "commune", 2, (AN, BINH))]
    events = indexed(
        [ev(0, "session_start", None), *as_events(drawn), ev(END, "session_end", None)]
    )
    t = attendance(events, roster).totals
    assert t.people_expected == 2
    assert t.people_present + t.people_excused + t.people_unexcused == 2
    rates = (t.people_present_rate, t.people_excused_rate, t.people_unexcused_rate)
    assert all(rate is not None for rate in rates)
    assert sum(rate for rate in rates if rate is not None) == pytest.approx(1.0)
