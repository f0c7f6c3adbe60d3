"""The report of one session: from the store, and as the JSON the API and `report` give."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ...signaling.session import SessionState
from ..chain import Seal
from ..times import log_time
from .people import PersonAttendance, RosterPerson
from .rules import LogEvent, Report, RosterSite, Rules, SiteAttendance, Totals, attendance, totals

if TYPE_CHECKING:
    from ..store import Session, Store


def session_report(store: Store, session: Session, rules: Rules, now: datetime) -> Report:
    """The report of one session from the store; a live one ends at `now`."""
    people: dict[str, list[RosterPerson]] = {}
    for person in store.session_people(session.id):
        people.setdefault(person.site_id, []).append(RosterPerson(person.id, person.name))
    roster = [
        RosterSite(
            i.site_id, i.site_name, i.site_kind, i.expected, tuple(people.get(i.site_id, ()))
        )
        for i in store.invites(session.id)
    ]
    events = [
        LogEvent(e.ts, e.type, e.seq, e.session_id, e.site_id, e.conn, dict(e.body))
        for e in store.events(session.id)
    ]
    live = session.state == SessionState.LIVE
    report = attendance(events, roster, rules, session=session.id, now=now if live else None)
    return dataclasses.replace(report, seal=store.seal(session.id))


# -- the JSON shape (public contract) ----------------------------------------------------------


def _seconds(value: float) -> float:
    return round(float(value), 3)


def report_json(
    report: Report, title: str | None = None, intervals: bool = False, attempts: bool = False
) -> dict:
    """The report's JSON; `intervals` and `attempts` add each site's connected intervals and
    its failed attempts, both asked for, so that the default shape stays as it is."""
    sites = [site_json(s, intervals=intervals, attempts=attempts) for s in report.sites]
    body: dict[str, Any] = {
        "session": report.session,
        "window": window_json(report),
        "rules": report.rules.as_dict(),
        "skipped_lines": report.skipped_lines,
        "sites": sites,
        "unknown_sites": list(report.unknown_sites),
        "totals": totals_json(report.totals),
        "chain": chain_json(report.seal),
    }
    if title is not None:
        body["title"] = title
    return body


def site_json(s: SiteAttendance, intervals: bool = False, attempts: bool = False) -> dict[str, Any]:
    """One site's entry of the report: the JSON's, and the CSV's and XLSX's columns."""
    entry: dict[str, Any] = {
        "site": s.site,
        "name": s.name,
        "kind": s.kind,
        "expected": s.expected,
        "status": s.status,
        "late": s.late,
        "left_early": s.left_early,
        "first_join": log_time(s.first_join),
        "last_leave": log_time(s.last_leave),
        "connected_seconds": _seconds(s.connected_seconds),
        "coverage": round(s.coverage, 6),
        "interruptions": s.interruptions,
        "longest_outage_seconds": _seconds(s.longest_outage_seconds),
        "headcount": s.headcount,
        "headcount_rate": _rate(s.headcount_rate),
        "cause": s.cause,
        "cause_reason": s.cause_reason,
        # The camera's estimate (camera.py): its stable count, and whether it disagrees.
        "people_count": s.people_count,
        "people_count_disagrees": s.people_count_disagrees,
        "people": [person_json(p) for p in s.people],
        **_people_rates(totals([s])),
    }
    if attempts:
        entry["failed_attempts"] = s.failed_attempts
    if intervals:
        entry["intervals"] = [[log_time(a), log_time(b)] for a, b in s.intervals]
    return entry


def chain_json(seal: Seal | None) -> dict[str, Any] | None:
    """The sealed head of the session's join log, what `diemcau verify` checks it against."""
    return None if seal is None else dataclasses.asdict(seal)


def person_json(p: PersonAttendance) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "status": p.status,
        "checked_in_at": log_time(p.checked_in_at),
        "method": p.method,
        "reason": p.reason,
    }


def _people_rates(t: Totals) -> dict[str, float | None]:
    return {
        "people_present_rate": _rate(t.people_present_rate),
        "people_excused_rate": _rate(t.people_excused_rate),
        "people_unexcused_rate": _rate(t.people_unexcused_rate),
    }


def window_json(report: Report) -> dict[str, Any]:
    return {
        "start": log_time(report.window_start),
        "end": log_time(report.window_end),
        "seconds": _seconds(report.window_seconds),
    }


def _rate(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def totals_json(t: Totals) -> dict[str, Any]:
    return {
        "invited": t.invited,
        "present": t.present,
        "partial": t.partial,
        "absent": t.absent,
        "expected": t.expected,
        "headcount": t.headcount,
        "participation_rate": _rate(t.participation_rate),
        "connected_rate": _rate(t.connected_rate),
        "people_expected": t.people_expected,
        "people_present": t.people_present,
        "people_excused": t.people_excused,
        "people_unexcused": t.people_unexcused,
        **_people_rates(t),
    }
