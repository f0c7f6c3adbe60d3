"""The people of a session as the console sees them live: per hall, who of its roster checked in
or is excused so far. The same fold as the report (server/attendance/people.py), over the people
events alone: a live session's log is mostly the cameras' counts, and the console asks every
few seconds (docs/api.md, `GET /api/sessions/{id}/sites`), while people check in far less
often: LivePeople keeps each session's result until its people events or its window move.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime

from .attendance.people import (
    PEOPLE_EVENTS,
    PersonAttendance,
    RosterPerson,
    people_attendance,
    people_events,
)
from .checkinrules import PeopleEvent
from .store import Session, Store

# How many sessions' people LivePeople keeps: the consoles open at once, with room to spare.
KEPT_SESSIONS = 16


def live_people(
    store: Store, session: Session, late_after_seconds: float, now: datetime
) -> dict[str, tuple[PersonAttendance, ...]]:
    """Each hall's roster people with their status so far, by site id; a hall without a roster
    is not in it. The window is the report's: from the start (or `now` before it, when every
    check-in is on time) to the end (or `now` while live)."""
    rosters: dict[str, list[RosterPerson]] = {}
    for person in store.session_people(session.id):
        rosters.setdefault(person.site_id, []).append(RosterPerson(person.id, person.name))
    if not rosters:
        return {}
    by_person = people_events(
        PeopleEvent(e.ts, e.type, e.site, e.body)
        for e in store.events_of_types(session.id, PEOPLE_EVENTS)
    )
    start = session.started_at or now
    end = max(session.ended_at or now, start)
    return {
        site: people_attendance(people, by_person, start, end, late_after_seconds)
        for site, people in rosters.items()
    }


class LivePeople:
    """live_people() kept per session: the fold is read again only when the session has a new
    people event (its last sequence number), starts or ends; asking costs one indexed query."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[Hashable, dict[str, tuple[PersonAttendance, ...]]]] = {}

    def of(
        self, store: Store, session: Session, late_after_seconds: float, now: datetime
    ) -> dict[str, tuple[PersonAttendance, ...]]:
        last = store.last_event_seq(session.id, PEOPLE_EVENTS)
        key = (last, session.started_at, session.ended_at, late_after_seconds)
        kept = self._kept.get(session.id)
        if kept is not None and kept[0] == key:
            return kept[1]
        people = live_people(store, session, late_after_seconds, now)
        self._kept.pop(session.id, None)
        self._kept[session.id] = (key, people)
        while len(self._kept) > KEPT_SESSIONS:
            del self._kept[next(iter(self._kept))]  # the one read longest ago
        return people
