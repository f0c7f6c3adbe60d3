"""How long a district's year of attendance takes: 800 sessions x 30 sites x 40 events, and 30
people on each hall's roster checking in (issue 15).

    python benchmarks/attendance_year.py [--sessions 800] [--sites 30] [--events 40] [--people 30]

Prints the time to parse the year's join log from JSON Lines, to compute every report, to sum
them up as the period report does, and to write the reports' JSON, with the CPU time of each
(read that on a crowded machine). `--people 0` is the year of before the rosters.
A figure, not a test: the suite checks correctness only.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from diemcau.server.attendance import (
    HeldSession,
    RosterSite,
    attendance,
    period_summary,
    report_json,
)
from diemcau.server.attendance.people import RosterPerson
from diemcau.server.joinlog import read_jsonl
from diemcau.server.times import log_time


def person_id(site: int, person: int) -> str:
    return f"p-{site}-{person}"


def year_log(sessions: int, sites: int, events: int, people: int = 0, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    lines: list[str] = []
    day = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
    for s in range(sessions):
        start = day + timedelta(hours=8 * s)
        end = start + timedelta(hours=2)
        sid = f"s{s}"

        def line(ts: datetime, sid: str = sid, **fields: object) -> str:
            return json.dumps({"ts": log_time(ts), "session": sid, **fields})

        lines.append(line(start, type="session_start"))
        for site in range(sites):
            # Pairs of join and leave, with the odd headcount: `events` lines per site.
            t = start - timedelta(seconds=rng.randint(0, 120))
            for n in range(events // 2):
                t += timedelta(seconds=rng.randint(1, 300))
                lines.append(line(t, type="join", site=f"site{site}", conn=f"c{n}"))
                t += timedelta(seconds=rng.randint(60, 600))
                if n % 5 == 4:
                    lines.append(
                        line(t, type="headcount", site=f"site{site}", present=rng.randint(5, 60))
                    )
                else:
                    lines.append(
                        line(t, type="leave", site=f"site{site}", conn=f"c{n}", reason="failed")
                    )
            lines.extend(people_lines(rng, line, start, site, people))
        lines.append(line(end, type="session_end"))
    return lines


def people_lines(
    rng: random.Random, line: Any, start: datetime, site: int, people: int
) -> list[str]:
    """A hall's people: most check in around the start (some late, a few by the clerk), some are
    excused, the odd check-in is revoked; the log is sorted by time when read, as the server's."""
    lines: list[str] = []
    for p in range(people):
        person, roll = person_id(site, p), rng.random()
        if roll < 0.08:
            lines.append(
                line(
                    start + timedelta(minutes=rng.randint(-60, 180)),
                    type="absence",
                    site=f"site{site}",
                    person=person,
                    reason="ốm",
                    by="site",
                )
            )
            continue
        if roll < 0.12:
            continue  # absent without a word
        t = start + timedelta(seconds=rng.randint(-1800, 1200))
        method = "clerk" if roll > 0.95 else "qr"
        lines.append(
            line(t, type="checkin", site=f"site{site}", person=person, method=method, by="site")
        )
        if roll > 0.99:
            lines.append(
                line(
                    t + timedelta(minutes=5),
                    type="checkin_revoked",
                    site=f"site{site}",
                    person=person,
                    by="admin",
                    reason="nhầm người",
                )
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=800)
    parser.add_argument("--sites", type=int, default=30)
    parser.add_argument("--events", type=int, default=40)
    parser.add_argument("--people", type=int, default=30, help="on each hall's roster")
    args = parser.parse_args()

    lines = year_log(args.sessions, args.sites, args.events, args.people)
    roster = [
        RosterSite(
            f"site{i}",
            f"Xã {i}",
            "commune",
            args.people or 40,
            tuple(RosterPerson(person_id(i, p), f"Người {i}.{p}") for p in range(args.people)),
        )
        for i in range(args.sites)
    ]

    marks = [(time.perf_counter(), time.process_time())]

    def mark() -> None:
        marks.append((time.perf_counter(), time.process_time()))

    events, skipped = read_jsonl(lines)
    mark()
    by_session: dict[str | None, list] = {}
    for event in events:
        by_session.setdefault(event.session, []).append(event)
    mark()
    reports = [attendance(evs, roster, session=sid) for sid, evs in by_session.items()]
    mark()
    held = [HeldSession(str(r.session), str(r.session), False, r) for r in reports]
    summary = period_summary(held)
    mark()
    written = sum(len(json.dumps(report_json(r), ensure_ascii=False)) for r in reports)
    mark()

    def spent(step: int) -> str:
        (wall0, cpu0), (wall1, cpu1) = marks[step - 1], marks[step]
        return f"{wall1 - wall0:7.2f} s  (CPU {cpu1 - cpu0:6.2f} s)"

    t = summary["totals"]
    print(
        f"year: {args.sessions} sessions x {args.sites} sites x {args.events} events, "
        f"{args.people} people a hall = {len(lines):,} log lines ({len(skipped)} skipped)"
    )
    print(f"  parse JSON Lines   {spent(1)}")
    print(f"  group by session   {spent(2)}")
    each = (marks[3][1] - marks[2][1]) / len(reports) * 1000
    print(f"  compute reports    {spent(3)}  {each:.2f} ms CPU each")
    print(
        f"  period summary     {spent(4)}  ({t['sessions_held']} sessions, "
        f"{len(summary['sites'])} sites; people present {t['people_present_rate']})"
    )
    print(f"  reports as JSON    {spent(5)}  ({written / 1e6:.1f} MB)")
    wall, cpu = (marks[-1][i] - marks[0][i] for i in (0, 1))
    print(f"  total              {wall:7.2f} s  (CPU {cpu:6.2f} s)")


if __name__ == "__main__":
    main()
