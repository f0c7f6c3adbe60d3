"""The people of a session: who of each site's roster checked in, late or not, and who was
absent with a reason. Sans-I/O, from the join log like the halls' attendance (rules.py).

Four events speak of a person (bodies fixed by issue 15): `checkin` {person, method, by},
`checkin_revoked` {person, by, reason}, `absence` {person, reason, by} and `absence_revoked`
{person, by, reason}. Nothing is overwritten. `standing()` is the one fold of them, for the
report (up to the window end) and for the check-in's judge (server/checkinrules.py, the log so
far) alike; in order:
- a check-in counts when it is at or before `until`; a person's first one is their arrival (a
  second changes nothing); a revocation undoes it, and a later check-in counts anew;
- an absence excuses the person until it is revoked, whenever it is written (after the session
  too: that is when the clerk learns why);
- checked in and excused both: the check-in wins (an excused person who then comes is present);
  the judge refuses an absence of a person checked in, a log that has one reads it so.
Late is a check-in more than rules.late_after_seconds after the window start, as for a hall; one
before the start (check-in opens before it, server/checkinrules.py) is on time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple, Protocol, TypeVar

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


class PersonEvent(Protocol):
    """What the fold reads of an event: the report's LogEvent and the judge's PeopleEvent."""

    @property
    def ts(self) -> datetime: ...
    @property
    def type(self) -> str: ...
    @property
    def site(self) -> str | None: ...
    @property
    def fields(self) -> Mapping[str, Any]: ...


E = TypeVar("E", bound=PersonEvent)


class CheckedIn(NamedTuple):
    """A check-in that stands: at which hall, when, and how (None in a log without it)."""

    site: str
    at: datetime
    method: str | None


class Standing(NamedTuple):
    """One person's two tracks: checked in (or not), and the reason they are excused (or not)."""

    checked_in: CheckedIn | None = None
    excuse: str | None = None


def fold(events: Iterable[E], until: datetime | None = None) -> tuple[E | None, E | None]:
    """One person's check-in that stands (their arrival) and the absence that stands, after
    `events` in order; a check-in after `until` does not count. Other types are skipped."""
    checkin: E | None = None
    excuse: E | None = None
    for event in events:
        kind = event.type
        if kind == "checkin":
            if checkin is None and (until is None or event.ts <= until):
                checkin = event
        elif kind == "checkin_revoked":
            checkin = None
        elif kind == "absence":
            excuse = event
        elif kind == "absence_revoked":
            excuse = None
    return checkin, excuse


def standing(events: Iterable[PersonEvent], until: datetime | None = None) -> Standing:
    """One person's standing after `events` (fold), as values."""
    checkin, excuse = fold(events, until)
    return Standing(
        None if checkin is None else CheckedIn(checkin.site or "", checkin.ts, _method(checkin)),
        None if excuse is None else _reason(excuse),
    )


def standings(events: Iterable[E], until: datetime | None = None) -> dict[str, Standing]:
    """Each person's standing after `events`, in the order given, by person id."""
    return {person: standing(own, until) for person, own in people_events(events).items()}


def _method(checkin: PersonEvent) -> str | None:
    method = checkin.fields.get("method")
    return method if isinstance(method, str) else None


def _reason(excuse: PersonEvent) -> str:
    reason = excuse.fields.get("reason")
    return reason if isinstance(reason, str) else ""


def people_events(ordered: Iterable[E]) -> dict[str, list[E]]:
    """The events about people, by person id, in the order given (the log's time order); an
    event without a person (a log edited by hand) is skipped."""
    by_person: dict[str, list[E]] = {}
    for event in ordered:
        if event.type in PEOPLE_EVENTS:
            person = event.fields.get("person")
            if isinstance(person, str):
                by_person.setdefault(person, []).append(event)
    return by_person


def people_attendance(
    people: Sequence[RosterPerson],
    events: Mapping[str, Sequence[PersonEvent]],
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
    events: Sequence[PersonEvent],
    window_start: datetime,
    window_end: datetime,
    late_after_seconds: float,
) -> PersonAttendance:
    checkin, excuse = fold(events, window_end)
    if checkin is None and excuse is not None:
        return PersonAttendance(person.id, person.name, "excused", None, None, _reason(excuse))
    if checkin is None:
        return PersonAttendance(person.id, person.name, "absent", None, None, None)
    late = (checkin.ts - window_start).total_seconds() > late_after_seconds
    return PersonAttendance(
        person.id,
        person.name,
        "late" if late else "present",
        checkin.ts,
        _method(checkin),
        None,
    )


def count_people(people: Sequence[PersonAttendance]) -> PeopleCount:
    present = sum(1 for p in people if p.status in ("present", "late"))
    excused = sum(1 for p in people if p.status == "excused")
    return PeopleCount(len(people), present, excused, len(people) - present - excused)
