"""Attendance from the join log: one pure function, the same offline and live. Sans-I/O.

The join log says when each site's media connections opened and closed; the roster says which
sites were invited and how many people each was expected to bring. `attendance()` turns both
into the record a district reports: per site, whether it was there and for how much of the
session, and the totals. Time enters only through the events, or `now` for a live session.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple, Protocol

from ..chain import Seal, carried_seal
from . import camera
from .outage import NONE, Cause, dropped, outage
from .people import (
    PEOPLE_EVENTS,
    PersonAttendance,
    RosterPerson,
    count_people,
    people_attendance,
    people_events,
)

Status = Literal["present", "partial", "absent"]


@dataclass(frozen=True)
class Rules:
    present_coverage: float = 0.8
    late_after_seconds: float = 300.0
    early_before_seconds: float = 300.0
    gap_grace_seconds: float = 60.0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def validate(self) -> Rules:
        """These rules, or RulesError naming each field out of range: present_coverage from 0
        to 1, the seconds finite and >= 0. The flags and the API's query both ask here."""
        # Written so that nan fails too; inf would put Infinity, which is not JSON, in reports.
        wrong = tuple(
            name
            for name, value in asdict(self).items()
            if not (0 <= value <= 1 if name == "present_coverage" else 0 <= value < math.inf)
        )
        if wrong:
            raise RulesError(wrong)
        return self


class RulesError(ValueError):
    """Rules out of range; `fields` names them, in the order of Rules' fields."""

    def __init__(self, fields: tuple[str, ...]) -> None:
        super().__init__("attendance rules out of range: " + ", ".join(fields))
        self.fields = fields


@dataclass(frozen=True)
class RosterSite:
    id: str
    name: str
    kind: str
    expected: int | None
    people: tuple[RosterPerson, ...] = ()  # its roster, when it has one (people.py)


@dataclass(slots=True)
class LogEvent:
    """One line of the join log. `index` keeps the order of lines with equal timestamps.

    Slotted and not frozen: a year's log is about a million of these, and a frozen dataclass
    costs several times more to build. Treat it as immutable all the same.
    """

    ts: datetime
    type: str
    index: int
    session: str | None = None
    site: str | None = None
    conn: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)


class AttendanceError(ValueError):
    """The log cannot give a report (no session_start, for instance)."""


@dataclass(frozen=True)
class SiteAttendance:
    site: str
    name: str
    kind: str
    expected: int | None
    status: Status
    late: bool
    left_early: bool
    first_join: datetime | None
    last_leave: datetime | None
    connected_seconds: float
    coverage: float
    interruptions: int
    longest_outage_seconds: float
    headcount: int | None
    headcount_rate: float | None
    # The clipped connected intervals, for the timeline chart; not bridged by the grace.
    intervals: tuple[tuple[datetime, datetime], ...] = ()
    # Media connections that never came up (attempt_failed), up to the window end: a site
    # absent with attempts tried and met a failing network; one without never opened the link.
    failed_attempts: int = 0
    # Why a site missed time (outage.py): absent, late, partial or left early; else None.
    cause: Cause | None = None
    cause_reason: str | None = None
    # The hall camera's largest stable count in the window, None without one (camera.py).
    people_count: int | None = None
    people: tuple[PersonAttendance, ...] = ()  # its roster's people, each with a status

    @property
    def people_count_disagrees(self) -> bool | None:
        """The camera's count beyond the tolerance from the people checked in (with a roster)
        or the declared headcount (camera.py)."""
        checked_in = count_people(self.people).present if self.people else None
        return camera.disagrees(self.people_count, checked_in, self.headcount)


@dataclass(frozen=True)
class Totals:
    invited: int
    present: int
    partial: int
    absent: int
    expected: int
    headcount: int
    participation_rate: float | None
    connected_rate: float | None
    # The people of the rosters (people.py): present counts the late too.
    people_expected: int = 0
    people_present: int = 0
    people_excused: int = 0
    people_unexcused: int = 0
    people_present_rate: float | None = None
    people_excused_rate: float | None = None
    people_unexcused_rate: float | None = None


@dataclass(frozen=True)
class Report:
    session: str | None
    window_start: datetime
    window_end: datetime
    rules: Rules
    skipped_lines: int
    sites: tuple[SiteAttendance, ...]
    unknown_sites: tuple[str, ...]
    totals: Totals
    # The session's sealed chain head (server/chain.py): the store's, or the one its export
    # carries; None while live or unsealed.
    seal: Seal | None = None

    @property
    def window_seconds(self) -> float:
        return max((self.window_end - self.window_start).total_seconds(), 0.0)


def _ratio(numerator: float, denominator: float | None) -> float | None:
    if denominator is None or denominator == 0:
        return None
    return numerator / denominator


def _union(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _site_attendance(
    site: RosterSite,
    events: list[LogEvent],
    window_start: datetime,
    window_end: datetime,
    rules: Rules,
) -> SiteAttendance:
    # Keyed by conn id; a line without one is one anonymous connection of the site.
    open_conns: dict[str | None, datetime] = {}
    raw: list[tuple[datetime, datetime]] = []
    first_join: datetime | None = None
    last_leave: datetime | None = None
    headcount: int | None = None
    failed_attempts = 0
    for event in events:
        if event.type == "join":
            if first_join is None or event.ts < first_join:
                first_join = event.ts
            open_conns.setdefault(event.conn, event.ts)  # a second join changes nothing
        elif event.type == "leave" and event.conn in open_conns:
            raw.append((open_conns.pop(event.conn), event.ts))
            if last_leave is None or event.ts > last_leave:
                last_leave = event.ts
        elif event.type == "headcount" and event.ts <= window_end:
            present = event.fields.get("present")
            # A correction overwrites; a value that is not a count is not one.
            if isinstance(present, int) and not isinstance(present, bool) and present >= 0:
                headcount = present
        elif event.type == "attempt_failed" and event.ts <= window_end:
            failed_attempts += 1  # not presence: it opens no conn
    for opened in open_conns.values():
        raw.append((opened, window_end))
    if open_conns:
        last_leave = None  # still connected when the log ends

    clipped = [
        (max(start, window_start), min(end, window_end))
        for start, end in raw
        if min(end, window_end) > max(start, window_start)
    ]
    intervals = _union(clipped)
    gaps = [later[0] - earlier[1] for earlier, later in itertools.pairwise(intervals)]
    # Summed as timedeltas (exact microseconds): a sum of floats can overshoot the window.
    bridged = sum((end - start for start, end in intervals), timedelta())
    bridged += sum(
        (gap for gap in gaps if gap.total_seconds() <= rules.gap_grace_seconds), timedelta()
    )
    connected = bridged.total_seconds()
    window_seconds = max((window_end - window_start).total_seconds(), 0.0)
    coverage = min(connected / window_seconds, 1.0) if window_seconds > 0 else 0.0

    status: Status
    if connected <= 0:
        status = "absent"
    elif coverage >= rules.present_coverage:
        status = "present"
    else:
        status = "partial"
    attended = status != "absent"
    late = attended and (intervals[0][0] - window_start).total_seconds() > rules.late_after_seconds
    left_early = (
        attended and (window_end - intervals[-1][1]).total_seconds() > rules.early_before_seconds
    )
    if status == "absent":
        why = outage(events, window_end, None)
    elif late:
        why = outage(
            events, window_start + timedelta(seconds=rules.late_after_seconds), intervals[0][0]
        )
    elif status == "partial" or left_early:
        why = dropped(events, window_start, window_end)
    else:
        why = NONE
    expected = site.expected
    return SiteAttendance(
        site=site.id,
        name=site.name,
        kind=site.kind,
        expected=expected,
        status=status,
        late=late,
        left_early=left_early,
        first_join=first_join,
        last_leave=last_leave,
        connected_seconds=connected,
        coverage=coverage,
        interruptions=len(gaps),
        longest_outage_seconds=max(gaps, default=timedelta()).total_seconds(),
        headcount=headcount,
        headcount_rate=_ratio(headcount, expected) if headcount is not None else None,
        intervals=tuple(intervals),
        failed_attempts=failed_attempts,
        cause=why.cause,
        cause_reason=why.reason,
        people_count=camera.stable_count(camera.counts_in_window(events, window_start, window_end)),
    )


class Tally(Protocol):
    """What the totals count of a site: a SiteAttendance, or a live hall as a SiteTally."""

    @property
    def status(self) -> Status: ...
    @property
    def expected(self) -> int | None: ...
    @property
    def headcount(self) -> int | None: ...
    @property
    def people(self) -> Sequence[PersonAttendance]: ...


class SiteTally(NamedTuple):
    status: Status
    expected: int | None
    headcount: int | None
    people: tuple[PersonAttendance, ...] = ()


def totals(sites: Iterable[Tally]) -> Totals:
    """The totals of sites, of one session or of many: people are counted only where the site
    was there (its headcount is not a count of anyone if it never connected). The people of
    the rosters count wherever they checked in: a phone works when the hall's media does not."""
    invited = present = partial = expected = headcount = 0
    people_expected = people_present = people_excused = people_unexcused = 0
    for site in sites:
        invited += 1
        expected += site.expected or 0
        people = count_people(site.people)
        people_expected += people.expected
        people_present += people.present
        people_excused += people.excused
        people_unexcused += people.unexcused
        if site.status == "absent":
            continue
        headcount += site.headcount or 0
        if site.status == "present":
            present += 1
        else:
            partial += 1
    return Totals(
        invited=invited,
        present=present,
        partial=partial,
        absent=invited - present - partial,
        expected=expected,
        headcount=headcount,
        participation_rate=_ratio(headcount, expected),
        connected_rate=_ratio(present + partial, invited),
        people_expected=people_expected,
        people_present=people_present,
        people_excused=people_excused,
        people_unexcused=people_unexcused,
        people_present_rate=_ratio(people_present, people_expected),
        people_excused_rate=_ratio(people_excused, people_expected),
        people_unexcused_rate=_ratio(people_unexcused, people_expected),
    )


def sessions_in(events: Iterable[LogEvent]) -> list[str]:
    """The distinct session ids named in a log, in order of first appearance."""
    seen: dict[str, None] = {}
    for event in events:
        if event.session is not None:
            seen.setdefault(event.session, None)
    return list(seen)


def attendance(
    events: Iterable[LogEvent],
    roster: Sequence[RosterSite],
    rules: Rules = Rules(),
    session: str | None = None,
    skipped_lines: int = 0,
    now: datetime | None = None,
) -> Report:
    """The attendance report of one session.

    `session` picks the session's events when the log holds several (events with no session
    belong to any). `now`, for a session still running, ends the window when the log has no
    `session_end` yet; offline the window then ends at the session's latest event.
    """
    chosen = [e for e in events if session is None or e.session in (None, session)]
    if session is None:
        named = sessions_in(chosen)
        if len(named) > 1:
            raise AttendanceError(
                f"the log holds {len(named)} sessions ({', '.join(named[:5])}): choose one"
            )
        session = named[0] if named else None
    ordered = sorted(chosen, key=lambda e: (e.ts, e.index))
    starts = [e.ts for e in ordered if e.type == "session_start"]
    if not starts:
        raise AttendanceError(
            "the log has no session_start for this session, so the report has no window"
        )
    window_start = starts[0]
    ends = [e.ts for e in ordered if e.type == "session_end"]
    if ends:
        window_end = ends[-1]
    elif now is not None:
        window_end = max(now, ordered[-1].ts)
    else:
        window_end = ordered[-1].ts
    window_end = max(window_end, window_start)

    by_site: dict[str, list[LogEvent]] = {}
    about_people: list[LogEvent] = []  # a person's words, not their hall's connections
    for event in ordered:
        if event.type in PEOPLE_EVENTS:
            about_people.append(event)
            if event.site is not None:
                by_site.setdefault(event.site, [])
        elif event.site is not None:
            by_site.setdefault(event.site, []).append(event)
    rostered = {site.id for site in roster}
    sites = tuple(
        _site_attendance(site, by_site.get(site.id, []), window_start, window_end, rules)
        for site in roster
    )
    if any(site.people for site in roster):
        by_person = people_events(about_people)
        sites = tuple(
            replace(
                s,
                people=people_attendance(
                    r.people, by_person, window_start, window_end, rules.late_after_seconds
                ),
            )
            for s, r in zip(sites, roster, strict=True)
        )
    unknown = tuple(sorted(s for s in by_site if s not in rostered))

    return Report(
        session=session,
        window_start=window_start,
        window_end=window_end,
        rules=rules,
        skipped_lines=skipped_lines,
        sites=sites,
        unknown_sites=unknown,
        totals=totals(sites),
        # The session's last line in the file's order: where an export puts the seal.
        seal=carried_seal(chosen[-1].fields) if chosen else None,
    )
