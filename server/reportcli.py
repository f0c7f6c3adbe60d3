"""`diemcau report`: the attendance report offline, from a log and a roster or a server's data."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .attendance import (
    AttendanceError,
    Report,
    RosterSite,
    Rules,
    attendance,
    report_json,
    session_report,
)
from .attendance.people import RosterPerson
from .errors import ApiError
from .joinlog import read_jsonl
from .letterhead import Letterhead, for_document, letterhead_from_args
from .peoplecsv import parse_rosters_csv
from .periodreport import period_xlsx
from .reportpdf import period_pdf, session_pdf
from .reports import to_csv, to_xlsx
from .roster import RosterError, read_roster
from .ruleflags import rules_from_args
from .sessionkind import DEFAULT_KIND
from .times import PERIOD_DAY_RULE, period_day


class ReportFailure(Exception):
    """Says why no report could be made; the command exits 2."""


def _rules(args: argparse.Namespace) -> Rules:
    try:
        return rules_from_args(args)
    except ValueError as exc:
        raise ReportFailure(str(exc)) from exc


def _check_zone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ReportFailure(f"unknown time zone {name!r}") from exc


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ReportFailure(f"cannot read {path}: {exc.strerror}") from exc


def _from_files(args: argparse.Namespace, rules: Rules) -> tuple[Report, str, str]:
    if not args.events or not args.sites:
        raise ReportFailure("give --events FILE and --sites FILE.csv, or SESSION_ID --data DIR")
    # A torn last line may end inside a UTF-8 sequence: replaced, it is skipped as not JSON.
    text = _read(args.events).decode("utf-8-sig", errors="replace")
    # JSON Lines ends lines with \n only; splitlines() would also cut at U+2028 or U+0085,
    # which JSON strings may hold unescaped.
    events, skipped = read_jsonl(text.split("\n"))
    for line in skipped:
        print(f"{args.events}: line {line.number} skipped: {line.reason}", file=sys.stderr)
    try:
        roster, problems = read_roster(_read(args.sites))
    except RosterError as exc:
        raise ReportFailure(f"{args.sites}: {exc}") from exc
    for problem in problems:
        print(f"{args.sites}: {problem}", file=sys.stderr)
    if args.rosters:
        roster = _with_people(roster, args.rosters)
    try:
        report = attendance(events, roster, rules, session=args.session, skipped_lines=len(skipped))
    except AttendanceError as exc:
        hint = " (use --session ID)" if "choose one" in str(exc) else ""
        raise ReportFailure(f"{args.events}: {exc}{hint}") from exc
    title = args.title or f"Điểm danh phiên {report.session or ''}".strip()
    return report, title, args.kind or DEFAULT_KIND


def _with_people(roster: list[RosterSite], path: str) -> list[RosterSite]:
    """The sites with their people from a rosters CSV, read as the import reads it (a site with
    a rejected line has none); a site's expected is its roster's length, as on the server."""
    try:
        rows = parse_rosters_csv(_read(path), {site.id for site in roster})
    except ApiError as exc:
        raise ReportFailure(f"{path}: {exc.message}") from exc
    people: dict[str, list[RosterPerson]] = {}
    for row in rows:
        if row.person is None:
            print(f"{path}: line {row.line}: {row.error}", file=sys.stderr)
        else:
            people.setdefault(row.site, []).append(RosterPerson(row.person.id, row.person.name))
    return [
        replace(site, expected=len(people[site.id]), people=tuple(people[site.id]))
        if site.id in people
        else site
        for site in roster
    ]


def _from_data(args: argparse.Namespace, rules: Rules) -> tuple[Report, str, str]:
    from .store import Store

    database = Path(args.data) / "diemcau.sqlite3"
    if not database.exists():
        raise ReportFailure(f"{args.data} holds no diemcau database")
    store = Store.open(database)
    try:
        session = store.get_session(args.session_id)
        if session is None:
            raise ReportFailure(f"there is no session {args.session_id} in {args.data}")
        try:
            report = session_report(store, session, rules, datetime.now(UTC))
        except AttendanceError as exc:
            raise ReportFailure(f"session {args.session_id} has not started") from exc
        return report, args.title or session.title, args.kind or session.kind
    finally:
        store.close()


def _letterhead(args: argparse.Namespace) -> Letterhead:
    """The PDF's letterhead: the committee's flags, the document's --number and --date."""
    try:
        letterhead = letterhead_from_args(args)
    except ValueError as exc:
        raise ReportFailure(str(exc)) from exc
    letterhead, problems = for_document(letterhead, args.number, args.date, None)
    if problems:
        raise ReportFailure("; ".join(f"--{name} {problem}" for name, problem in problems.items()))
    return letterhead


def _day(text: str | None, default: date, flag: str) -> date:
    if text is None:
        return default
    try:
        return period_day(text)
    except ValueError as exc:
        raise ReportFailure(f"{flag} {PERIOD_DAY_RULE}") from exc


def _period(args: argparse.Namespace, rules: Rules) -> bytes:
    """The period's figures from a server's data, as the API's `GET /api/attendance` has them."""
    from .records import period_json
    from .store import Store

    if args.data is None or args.session_id is not None or args.events:
        raise ReportFailure("--period reports from a server's data: --data DIR, no SESSION_ID")
    if args.format not in ("json", "xlsx", "pdf"):
        raise ReportFailure("a period's --format is json, xlsx or pdf")
    today = datetime.now(ZoneInfo(args.timezone)).date()
    first = _day(args.from_day, date(today.year, 1, 1), "--from")
    last = _day(args.to_day, date(today.year, 12, 31), "--to")
    if last < first:
        raise ReportFailure("--to must not be before --from")
    database = Path(args.data) / "diemcau.sqlite3"
    if not database.exists():
        raise ReportFailure(f"{args.data} holds no diemcau database")
    store = Store.open(database)
    try:
        body = period_json(store, first, last, args.timezone, rules)
    finally:
        store.close()
    if args.format == "xlsx":
        return period_xlsx(body)
    if args.format == "pdf":
        return period_pdf(body, _letterhead(args), datetime.now(UTC))
    return (json.dumps(body, ensure_ascii=False, indent=2) + "\n").encode()


def run_report(args: argparse.Namespace) -> int:
    try:
        rules = _rules(args)
        _check_zone(args.timezone)
        if args.period:
            return _write(args, _period(args, rules))
        if args.from_day is not None or args.to_day is not None:
            raise ReportFailure("--from and --to go with --period")
        if args.session_id is not None:
            if args.data is None:
                raise ReportFailure("a SESSION_ID needs --data DIR, the server's data directory")
            report, title, kind = _from_data(args, rules)
        else:
            report, title, kind = _from_files(args, rules)
        letterhead = _letterhead(args) if args.format == "pdf" else None
    except ReportFailure as exc:
        print(f"diemcau report: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        output = (json.dumps(report_json(report), ensure_ascii=False, indent=2) + "\n").encode()
    elif args.format == "csv":
        output = to_csv(report, args.lang, args.timezone)
    elif letterhead is not None:
        body = report_json(report, title=title)
        output = session_pdf(body, kind, letterhead, args.timezone, datetime.now(UTC))
    else:
        output = to_xlsx(report, title, args.timezone)
    return _write(args, output)


def _write(args: argparse.Namespace, output: bytes) -> int:
    if args.out is not None:
        try:
            args.out.write_bytes(output)
        except OSError as exc:
            print(f"diemcau report: cannot write {args.out}: {exc.strerror}", file=sys.stderr)
            return 2
    else:
        sys.stdout.buffer.write(output)
        sys.stdout.buffer.flush()
    return 0
