"""How long a district's year of attendance takes: 800 sessions x 30 sites x 40 events.

    python benchmarks/attendance_year.py [--sessions 800] [--sites 30] [--events 40]

Prints the time to parse the year's join log from JSON Lines, to compute every report, and to
sum them up as the period report does.
A figure, not a test: the suite checks correctness only.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from datetime import UTC, datetime, timedelta

from diemcau.server.attendance import HeldSession, RosterSite, attendance, period_summary
from diemcau.server.joinlog import read_jsonl
from diemcau.server.times import log_time


def year_log(sessions: int, sites: int, events: int, seed: int = 1) -> list[str]:
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
        lines.append(line(end, type="session_end"))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=800)
    parser.add_argument("--sites", type=int, default=30)
    parser.add_argument("--events", type=int, default=40)
    args = parser.parse_args()

    lines = year_log(args.sessions, args.sites, args.events)
    roster = [RosterSite(f"site{i}", f"Xã {i}", "commune", 40) for i in range(args.sites)]

    started = time.perf_counter()
    events, skipped = read_jsonl(lines)
    parsed = time.perf_counter()
    by_session: dict[str | None, list] = {}
    for event in events:
        by_session.setdefault(event.session, []).append(event)
    grouped = time.perf_counter()
    reports = [attendance(evs, roster, session=sid) for sid, evs in by_session.items()]
    computed = time.perf_counter()
    held = [HeldSession(str(r.session), str(r.session), False, r) for r in reports]
    summary = period_summary(held)
    summed = time.perf_counter()

    print(
        f"year: {args.sessions} sessions x {args.sites} sites x {args.events} events "
        f"= {len(lines):,} log lines ({len(skipped)} skipped)"
    )
    print(f"  parse JSON Lines   {parsed - started:7.2f} s")
    print(f"  group by session   {grouped - parsed:7.2f} s")
    print(
        f"  compute reports    {computed - grouped:7.2f} s  ({len(reports)} reports, "
        f"{(computed - grouped) / len(reports) * 1000:.2f} ms each)"
    )
    print(
        f"  period summary     {summed - computed:7.2f} s  "
        f"({summary['totals']['sessions_held']} sessions, {len(summary['sites'])} sites)"
    )
    print(f"  total              {summed - started:7.2f} s")


if __name__ == "__main__":
    main()
