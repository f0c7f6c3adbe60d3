"""Which check-in or correction the log allows: tables of cases, then properties over random
sequences of commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from diemcau.server.attendance import LogEvent, RosterSite, Rules, attendance
from diemcau.server.attendance.people import CheckedIn, RosterPerson, standings
from diemcau.server.checkinrules import (
    CheckinClosed,
    CheckinOpening,
    Command,
    PeopleEvent,
    Refusal,
    judge,
)
from diemcau.signaling.session import SessionState

T0 = datetime(2026, 3, 5, 1, 0, tzinfo=UTC)
# Lan is on two halls' rosters (the same member code); Binh has no code.
CODES = {"lan@a": "M-001", "lan@b": "M-001", "binh@a": None, "chi@b": "M-002"}
SITE = {"lan@a": "a", "lan@b": "b", "binh@a": "a", "chi@b": "b"}


def ev(minute: int, type: str, person: str, **body: str) -> PeopleEvent:
    return PeopleEvent(
        T0 + timedelta(minutes=minute), type, SITE[person], {"person": person, **body}
    )


def checkin(person: str) -> Command:
    return Command("checkin", person, SITE[person], "site", method="qr")


def revoke(person: str) -> Command:
    return Command("checkin_revoked", person, SITE[person], "admin", reason="nhầm người")


def absence(person: str) -> Command:
    return Command("absence", person, SITE[person], "site", reason="ốm")


def unabsence(person: str) -> Command:
    return Command("absence_revoked", person, SITE[person], "admin", reason="đã đến")


CASES = [
    # (log so far, command, refusal or None)
    ([], checkin("lan@a"), None),
    ([ev(1, "checkin", "lan@a", method="qr")], checkin("lan@a"), "already_checked_in"),
    # The same member code at another hall: refused, saying where.
    ([ev(1, "checkin", "lan@a", method="qr")], checkin("lan@b"), "already_checked_in"),
    # A check-in corrected: the person may check in again, here or at the other hall.
    ([ev(1, "checkin", "lan@a"), ev(2, "checkin_revoked", "lan@a")], checkin("lan@b"), None),
    ([ev(1, "checkin", "lan@a"), ev(2, "checkin_revoked", "lan@a")], checkin("lan@a"), None),
    # Without a code, only the roster entry counts.
    ([ev(1, "checkin", "lan@a")], checkin("binh@a"), None),
    ([], revoke("lan@a"), "not_checked_in"),
    ([ev(1, "checkin", "lan@a")], revoke("lan@a"), None),
    ([ev(1, "checkin", "lan@a")], revoke("lan@b"), "not_checked_in"),
    ([], absence("binh@a"), None),
    ([ev(1, "absence", "binh@a", reason="ốm")], absence("binh@a"), None),  # a new reason
    ([ev(1, "checkin", "binh@a")], absence("binh@a"), "checked_in"),
    ([ev(1, "checkin", "binh@a"), ev(2, "checkin_revoked", "binh@a")], absence("binh@a"), None),
    # An excused person who comes after all checks in.
    ([ev(1, "absence", "chi@b", reason="ốm")], checkin("chi@b"), None),
    ([], unabsence("chi@b"), "not_excused"),
    ([ev(1, "absence", "chi@b", reason="ốm")], unabsence("chi@b"), None),
    (
        [ev(1, "absence", "chi@b", reason="ốm"), ev(2, "absence_revoked", "chi@b")],
        unabsence("chi@b"),
        "not_excused",
    ),
]


@pytest.mark.parametrize(("log", "command", "refused"), CASES)
def test_the_log_allows_only_moves_that_mean_something(
    log: list[PeopleEvent], command: Command, refused: str | None
) -> None:
    if refused is None:
        judge(command, standings(log), CODES)
    else:
        with pytest.raises(Refusal) as caught:
            judge(command, standings(log), CODES)
        assert caught.value.code == refused


def test_a_refused_second_check_in_says_where_and_when() -> None:
    log = [ev(3, "checkin", "lan@a", method="clerk")]
    with pytest.raises(Refusal) as caught:
        judge(checkin("lan@b"), standings(log), CODES)
    assert caught.value.where == CheckedIn("a", T0 + timedelta(minutes=3), "clerk")


def test_standings_keep_two_tracks_and_skip_what_is_not_theirs() -> None:
    log = [
        PeopleEvent(T0, "join", "a", {"person": "lan@a"}),  # not a people event
        PeopleEvent(T0, "checkin", "a", {}),  # no person: skipped
        PeopleEvent(T0, "checkin", "a", {"person": 7}),
        ev(1, "absence", "lan@a", reason="công tác"),
        ev(2, "checkin", "lan@a", method="qr"),
    ]
    people = standings(log)
    assert list(people) == ["lan@a"]
    assert people["lan@a"].excuse == "công tác"  # still on record; the check-in wins
    assert people["lan@a"].checked_in == CheckedIn("a", T0 + timedelta(minutes=2), "qr")


def test_the_bodies_are_the_agreed_ones() -> None:
    assert checkin("lan@a").body() == {"person": "lan@a", "method": "qr", "by": "site"}
    assert revoke("lan@a").body() == {"person": "lan@a", "by": "admin", "reason": "nhầm người"}
    assert absence("binh@a").body() == {"person": "binh@a", "by": "site", "reason": "ốm"}


commands = st.lists(
    st.tuples(
        st.sampled_from([checkin, revoke, absence, unabsence]), st.sampled_from(sorted(CODES))
    ),
    max_size=30,
)


@given(commands)
def test_whatever_is_asked_the_log_keeps_each_person_checked_in_once(
    asked: list[tuple[object, str]],
) -> None:
    """Apply the allowed commands as a server would (judge, then append): at every step at most
    one check-in per member code stands, each at the person's own hall, and an absence is only
    written for someone not checked in."""
    log: list[PeopleEvent] = []
    for minute, (make, person) in enumerate(asked):
        command: Command = make(person)  # type: ignore[operator]
        before = standings(log).get(person)
        try:
            judge(command, standings(log), CODES)
        except Refusal:
            continue
        if command.type == "absence":
            assert before is None or before.checked_in is None
        log.append(
            PeopleEvent(T0 + timedelta(minutes=minute), command.type, command.site, command.body())
        )
        people = standings(log)
        standing_codes = [CODES[p] or p for p, s in people.items() if s.checked_in is not None]
        assert len(standing_codes) == len(set(standing_codes))
        for p, s in people.items():
            if s.checked_in is not None:
                assert s.checked_in.site == SITE[p]


# The judge's view and the report's: one fold (server/attendance/people.py), so on any log the
# server would have written they say the same of everyone.

ROSTER = [
    RosterSite(
        "a", "Xã A", "commune", 2, (RosterPerson("lan@a", "Lan"), RosterPerson("binh@a", "Bình"))
    ),
    RosterSite(
        "b", "Xã B", "commune", 2, (RosterPerson("lan@b", "Lan"), RosterPerson("chi@b", "Chi"))
    ),
]

timed_commands = st.lists(
    st.tuples(
        st.sampled_from([checkin, revoke, absence, unabsence]),
        st.sampled_from(sorted(CODES)),
        st.integers(min_value=0, max_value=30),  # minutes after the one before: ties too
    ),
    max_size=30,
)


@given(timed_commands, st.integers(min_value=0, max_value=90))
# The edges: a check-in before the start, revoked after the end; excused after the end.
@example([(checkin, "lan@a", 0), (revoke, "lan@a", 100), (checkin, "lan@b", 0)], 10)
@example([(checkin, "chi@b", 70), (revoke, "chi@b", 30), (absence, "chi@b", 0)], 10)
def test_the_judge_and_the_report_agree_on_what_the_server_allowed(
    asked: list[tuple[object, str, int]], end_minute: int
) -> None:
    """Commands from T0, an hour before the start, the session live from its start to its end,
    corrections after it too: each judged as the server does (a check-in only while
    CheckinOpening allows it), the allowed ones written. Then the judge's standing of each
    person (the log so far, as the next command would be judged) and the report's status (up
    to the window end) are the same."""
    start = T0 + timedelta(hours=1)
    end = start + timedelta(minutes=end_minute)
    judged: list[PeopleEvent] = []
    log = [LogEvent(start, "session_start", 0, "s1")]
    ts = T0
    for make, person, step in asked:
        ts += timedelta(minutes=step)
        command: Command = make(person)  # type: ignore[operator]
        state = SCHEDULED if ts < start else LIVE if ts <= end else ENDED
        if command.type == "checkin":
            try:  # check-in opens an hour before the start and closes at the end
                CheckinOpening().check(state, start, ts)
            except CheckinClosed:
                continue
        try:
            judge(command, standings(judged), CODES)
        except Refusal:
            continue
        judged.append(PeopleEvent(ts, command.type, command.site, command.body()))
        log.append(LogEvent(ts, command.type, len(log), "s1", command.site, None, command.body()))
    log.append(LogEvent(end, "session_end", len(log), "s1"))  # corrections may come after it
    report = attendance(log, ROSTER, Rules())
    assert report.window_end == end
    seen = standings(judged)
    for site in report.sites:
        for person in site.people:
            standing = seen.get(person.id)
            checked = None if standing is None else standing.checked_in
            excuse = None if standing is None else standing.excuse
            if checked is not None:
                assert person.status in ("present", "late")
                assert (person.checked_in_at, person.method) == (checked.at, checked.method)
                assert checked.site == site.site
            elif excuse is not None:
                assert (person.status, person.reason) == ("excused", excuse)
            else:
                assert person.status == "absent"


# When check-in is open (CheckinOpening): an hour before the scheduled start by default.

SCHEDULED, LIVE, ENDED = SessionState.SCHEDULED, SessionState.LIVE, SessionState.ENDED
OPENING_CASES = [
    # (opens before, state, now minus the scheduled start in minutes, closed or None)
    (3600, SCHEDULED, -61, "not_started"),
    (3600, SCHEDULED, -60, None),
    (3600, SCHEDULED, -5, None),
    (3600, SCHEDULED, 30, None),  # the operator is late: still open
    (3600, LIVE, -120, None),  # went live early
    (3600, LIVE, 240, None),
    (3600, ENDED, 0, "session_ended"),
    (3600, ENDED, -30, "session_ended"),  # cancelled before its start
    (0, SCHEDULED, -1, "not_started"),
    (0, SCHEDULED, 0, None),
    (86400, SCHEDULED, -1439, None),
]


@pytest.mark.parametrize(("before", "state", "minutes", "closed"), OPENING_CASES)
def test_check_in_opens_before_the_scheduled_start_and_closes_at_the_end(
    before: float, state: SessionState, minutes: int, closed: str | None
) -> None:
    opening = CheckinOpening(before)
    now = T0 + timedelta(minutes=minutes)
    if closed is None:
        opening.check(state, T0, now)
        return
    with pytest.raises(CheckinClosed) as caught:
        opening.check(state, T0, now)
    assert caught.value.code == closed
    # Not yet says when; no more says nothing of when.
    expected = T0 - timedelta(seconds=before) if closed == "not_started" else None
    assert caught.value.opens_at == expected


@pytest.mark.parametrize("before", [-1.0, float("nan"), float("inf"), 7 * 86400 + 1])
def test_an_opening_out_of_range_is_refused(before: float) -> None:
    with pytest.raises(ValueError, match="check-in opens 0 to 604800 s before the start"):
        CheckinOpening(before)
