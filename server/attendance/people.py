"""The people of a session: who of each site's roster checked in, late or not, and who was
absent with a reason. Sans-I/O, from the join log like the halls' attendance (rules.py).

Four events speak of a person (bodies fixed by issue 15): `checkin` {person, method, by},
`checkin_revoked` {person, by, reason}, `absence` {person, reason, by} and `absence_revoked`
{person, by, reason}. Nothing is overwritten; in time order:
- a check-in counts when it is at or before the window end; a person's first one is their
  arrival (a second changes nothing); a revocation undoes it, and a later check-in counts anew;
- an absence excuses the person until it is revoked, whenever it is written (after the session
  too: that is when the clerk learns why);
- checked in and excused both: the check-in wins (an excused person who then comes is present),
  as the check-in's own rules have it (server/checkinrules.py), which refuse an absence of a
  person checked in.
Late is a check-in more than rules.late_after_seconds after the window start, as for a hall.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal, NamedTuple

if TYPE_CHECKING:
    from .rules import LogEvent

PersonStatus = Literal["present", "late", "absent", "excused"]
PEOPLE_EVENTS = frozenset({"checkin", "checkin_revoked", "absence", "absence_revoked"})


class RosterPerson(NamedTuple):
    """One person a site expects, as the session's copy of its roster has them."""

    id: str
    name: str


class PersonAttendance(NamedTuple):
    """A person's standing in the report. A tuple: a year's reports hold some 700,000."""

    id: str
    name: str
    status: PersonStatus
    checked_in_at: datetime | None
    method: str | None  # "qr" | "clerk", as the check-in said
    reason: str | None  # the absence's reason, when excused


@dataclass(frozen=True)
class PeopleCount:
    """A site's people, counted: what totals() adds up."""

    expected: int = 0
    present: int = 0  # present or late
    excused: int = 0
    unexcused: int = 0


def people_events(ordered: Iterable[LogEvent]) -> dict[str, list[LogEvent]]:
    """The events about people, by person id, in the order given (the log's time order)."""
    by_person: dict[str, list[LogEvent]] = {}
    for event in ordered:
        if event.type in PEOPLE_EVENTS:
            person = event.fields.get("person")
            if isinstance(person, str):
                by_person.setdefault(person, []).append(event)
    return by_person


def people_attendance(
    people: Sequence[RosterPerson],
    events: Mapping[str, Sequence[LogEvent]],
    window_start: datetime,
    window_end: datetime,
    late_after_seconds: float,
) -> tuple[PersonAttendance, ...]:
    """Each person of a roster, in its order, from their events (people_events)."""
    return tuple(
        _person(p, events.get(p.id, ()), window_start, window_end, late_after_seconds)
        for p in people
    )


def _person(
    person: RosterPerson,
    events: Sequence[LogEvent],
    window_start: datetime,
    window_end: datetime,
    late_after_seconds: float,
) -> PersonAttendance:
    checkin: LogEvent | None = None  # the arrival: the first check-in not revoked
    excuse: LogEvent | None = None
    for event in events:
        if event.type == "checkin":
            if checkin is None and event.ts <= window_end:
                checkin = event
        elif event.type == "checkin_revoked":
            checkin = None
        elif event.type == "absence":
            excuse = event
        else:  # absence_revoked
            excuse = None
    if checkin is None and excuse is not None:
        reason = excuse.fields.get("reason")
        return PersonAttendance(
            person.id, person.name, "excused", None, None, reason if isinstance(reason, str) else ""
        )
    if checkin is None:
        return PersonAttendance(person.id, person.name, "absent", None, None, None)
    late = (checkin.ts - window_start).total_seconds() > late_after_seconds
    method = checkin.fields.get("method")
    return PersonAttendance(
        person.id,
        person.name,
        "late" if late else "present",
        checkin.ts,
        method if isinstance(method, str) else None,
        None,
    )


def count_people(people: Sequence[PersonAttendance]) -> PeopleCount:
    present = sum(1 for p in people if p.status in ("present", "late"))
    excused = sum(1 for p in people if p.status == "excused")
    return PeopleCount(len(people), present, excused, len(people) - present - excused)
