"""How long the official files take to make: one session's Vietnamese CSV, XLSX and PDF (30
halls, 30 people each on the roster), and a year's period (800 sessions) as XLSX and PDF.

    python benchmarks/official_files.py [--sessions 800] [--sites 30] [--people 30]

The server writes each in a worker thread (the event loop stays free), so these are the waits
a clerk sees for a download. Prints wall and CPU time (read the CPU on a crowded machine).
A figure, not a test: the suite checks correctness only.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime

from attendance_year import person_id, year_log

from diemcau.server.attendance import (
    HeldSession,
    RosterSite,
    attendance,
    period_summary,
    report_json,
)
from diemcau.server.attendance.people import RosterPerson
from diemcau.server.joinlog import read_jsonl
from diemcau.server.letterhead import Letterhead
from diemcau.server.periodreport import period_xlsx
from diemcau.server.reportpdf import period_pdf, session_pdf
from diemcau.server.reports import to_csv, to_xlsx

LETTERHEAD = Letterhead(committee="HUYỆN ỦY NGA SƠN", place="Nga Sơn", number="12-BC/HU")


def timed(label: str, make: Callable[[], bytes]) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    size = len(make())
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"  {label:<22} {wall:6.2f} s  (CPU {cpu:5.2f} s)  {size / 1e3:8.1f} kB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=800)
    parser.add_argument("--sites", type=int, default=30)
    parser.add_argument("--people", type=int, default=30)
    args = parser.parse_args()
    roster = [
        RosterSite(
            f"site{i}",
            f"Xã {i}",
            "commune",
            args.people,
            tuple(RosterPerson(person_id(i, p), f"Nguyễn Văn {i}.{p}") for p in range(args.people)),
        )
        for i in range(args.sites)
    ]
    events, _ = read_jsonl(year_log(args.sessions, args.sites, 40, args.people))
    by_session: dict[str | None, list] = {}
    for event in events:
        by_session.setdefault(event.session, []).append(event)
    reports = [attendance(evs, roster, session=sid) for sid, evs in by_session.items()]
    now = datetime.now(UTC)
    one = reports[0]
    body = report_json(one, title="Hội nghị cán bộ chủ chốt")
    print(f"one session: {args.sites} halls, {args.sites * args.people} people")
    timed("CSV (vi)", lambda: to_csv(one, "vi", "Asia/Ho_Chi_Minh"))
    timed("XLSX", lambda: to_xlsx(one, "Hội nghị", "Asia/Ho_Chi_Minh"))
    timed("PDF", lambda: session_pdf(body, "key", LETTERHEAD, "Asia/Ho_Chi_Minh", now))
    held = [
        HeldSession(
            str(r.session), f"Hội nghị {r.session}", False, r, "key" if n < 12 else "grassroots"
        )
        for n, r in enumerate(reports)
    ]
    period = {
        "from": "2026-01-01",
        "to": "2026-12-31",
        "timezone": "Asia/Ho_Chi_Minh",
        **period_summary(held),
    }
    print(f"a period: {len(held)} sessions (12 key)")
    timed("period XLSX", lambda: period_xlsx(period))
    timed("period PDF", lambda: period_pdf(period, LETTERHEAD, now))


if __name__ == "__main__":
    main()
