"""A period's figures, the ones a year-end report quotes: pure, over the sessions' reports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..sessionkind import DEFAULT_KIND, KINDS
from .rules import Report, totals
from .session import totals_json, window_json


@dataclass(frozen=True)
class HeldSession:
    """A session held in the period, with its report."""

    id: str
    title: str
    live: bool
    report: Report
    kind: str = DEFAULT_KIND  # server/sessionkind.py


# The people's totals of a session report, when its sites have rosters (issue 15's contract).
PEOPLE_TOTALS = ("people_expected", "people_present", "people_excused", "people_unexcused")


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def period_summary(held: Sequence[HeldSession]) -> dict[str, Any]:
    """The period's totals, its sessions and its sites (most often absent or partial first),
    as the period report's JSON gives them."""
    sessions: list[dict[str, Any]] = []
    per_site: dict[str, dict[str, Any]] = {}
    for h in held:
        report = h.report
        t = totals_json(report.totals)
        sessions.append(
            {
                "id": h.id,
                "title": h.title,
                "window": window_json(report),
                "live": h.live,
                **{k: t[k] for k in ("invited", "present", "partial", "absent", "expected")},
                "headcount": t["headcount"],
                "average_coverage": _mean([s.coverage for s in report.sites]),
                "participation_rate": t["participation_rate"],
                "connected_rate": t["connected_rate"],
                **{k: v for k, v in t.items() if k.startswith("people_")},
            }
        )
        for s in report.sites:
            entry = per_site.setdefault(
                s.site,
                {
                    "site": s.site,
                    "name": s.name,
                    "kind": s.kind,
                    "sessions": 0,
                    "present": 0,
                    "partial": 0,
                    "absent": 0,
                    "_coverage": [],
                },
            )
            entry["name"], entry["kind"] = s.name, s.kind  # the latest snapshot
            entry["sessions"] += 1
            entry[s.status] += 1
            entry["_coverage"].append(s.coverage)
    sites = []
    for entry in sorted(
        per_site.values(), key=lambda e: (-(e["absent"] + e["partial"]), e["site"])
    ):
        coverage = entry.pop("_coverage")
        entry["average_coverage"] = _mean(coverage)
        # Twice or more: once can be a power cut; a pattern is what the district follows up.
        entry["repeatedly_absent_or_partial"] = entry["absent"] + entry["partial"] >= 2
        sites.append(entry)
    every_site = [s for h in held for s in h.report.sites]
    overall = totals(every_site)
    overall_json = totals_json(overall)
    return {
        "totals": {
            "sessions_held": len(sessions),
            "average_coverage": _mean([s.coverage for s in every_site]),
            "participation_rate": overall.participation_rate,
            "connected_rate": overall.connected_rate,
            "invited": overall.invited,
            "expected": overall.expected,
            "headcount": overall.headcount,
            **{k: v for k, v in overall_json.items() if k.startswith("people_")},
        },
        "sessions": sessions,
        "sites": sites,
        "kinds": {kind: kind_totals([h for h in held if h.kind == kind]) for kind in KINDS},
    }


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def kind_totals(held: Sequence[HeldSession]) -> dict[str, Any]:
    """The figures of one kind of conference, the ones a district quotes ("98% at the key
    cadres' conferences, nearly 90% at the communes"): its sessions, the halls invited and
    attended, and the people, as reported by headcount and, where the halls have rosters, by
    name. `people_rate` is present of expected by name; `participation_rate` by headcount."""
    every_site = [s for h in held for s in h.report.sites]
    overall = totals(every_site)
    people = dict.fromkeys(PEOPLE_TOTALS, 0)
    named = 0
    for h in held:
        t = totals_json(h.report.totals)
        if t.get("people_expected"):
            named += 1
            for key in PEOPLE_TOTALS:
                people[key] += int(t.get(key) or 0)
    return {
        "sessions": len(held),
        # Which they are: the session entries keep the shape they had before kinds.
        "session_ids": [h.id for h in held],
        "invited": overall.invited,
        "attended": overall.present + overall.partial,
        "expected": overall.expected,
        "headcount": overall.headcount,
        "participation_rate": _ratio(overall.headcount, overall.expected),
        "connected_rate": _ratio(overall.present + overall.partial, overall.invited),
        "sessions_with_rosters": named,
        **people,
        "people_rate": _ratio(people["people_present"], people["people_expected"]),
        "people_excused_rate": _ratio(people["people_excused"], people["people_expected"]),
        "people_unexcused_rate": _ratio(people["people_unexcused"], people["people_expected"]),
    }
