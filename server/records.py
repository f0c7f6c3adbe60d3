"""The attendance record over HTTP: reports, the join log, headcounts, and a period's figures.

GET  /api/sessions/{id}/attendance?format=json|csv|xlsx|pdf   admin or the session's host
GET  /api/sessions/{id}/events                           the log as JSON Lines, addresses masked
POST /api/sessions/{id}/sites/{site}/headcount           the site itself, its host, admin
GET  /api/attendance?from=YYYY-MM-DD&to=YYYY-MM-DD&format=json|xlsx|pdf   admin: a period
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from ..signaling.room import RoomError
from ..signaling.session import SessionState
from .attendance import (
    AttendanceError,
    HeldSession,
    Report,
    Rules,
    RulesError,
    period_summary,
    report_json,
    session_report,
)
from .auth import ADMIN_ONLY, ADMIN_OR_HOST, ANY_ROLE, authorize
from .bodies import read_count_body
from .errors import ApiError
from .joinlog import write_jsonl
from .letterhead import DOCUMENT_PARAMS, Letterhead, for_document
from .periodreport import period_xlsx
from .reportpdf import period_pdf, session_pdf
from .reports import LANGUAGES, Language, to_csv, to_xlsx
from .state import app_state
from .store import Session, Store
from .times import PERIOD_DAY_RULE, api_time, day_text, period_day

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Query parameters that override the server's rules for one report.
RULE_PARAMS = {
    "present_coverage": "present_coverage",
    "late_after": "late_after_seconds",
    "early_before": "early_before_seconds",
    "gap_grace": "gap_grace_seconds",
}


def routes() -> list[BaseRoute]:
    return [
        Route("/api/sessions/{session_id}/attendance", session_attendance, methods=["GET"]),
        Route("/api/sessions/{session_id}/events", session_events, methods=["GET"]),
        Route("/api/sessions/{session_id}/sites/{site_id}/headcount", headcount, methods=["POST"]),
        Route("/api/attendance", period, methods=["GET"]),
    ]


def _rules(request: Request) -> Rules:
    overrides: dict[str, float] = {}
    wrong: set[str] = set()
    for param, field in RULE_PARAMS.items():
        text = request.query_params.get(param)
        if text is None:
            continue
        try:
            overrides[field] = float(text)
        except ValueError:
            wrong.add(param)
    rules = replace(app_state(request).config.rules, **overrides)
    try:
        rules.validate()
    except RulesError as exc:
        wrong.update(param for param, field in RULE_PARAMS.items() if field in exc.fields)
    if wrong:
        problem = "must be a number >= 0 (present_coverage at most 1)"
        raise ApiError(
            422,
            "invalid_query",
            "Some query parameters are wrong.",
            {"fields": {param: problem for param in RULE_PARAMS if param in wrong}},
        )
    return rules


def _report_or_409(store: Store, session: Session, rules: Rules) -> Report:
    try:
        return session_report(store, session, rules, datetime.now(UTC))
    except AttendanceError as exc:
        raise ApiError(
            409, "not_started", "This session has not started, so it has no attendance yet."
        ) from exc


def _lang(request: Request) -> Language:
    """The CSV's language: `en` (the default, the contract scripts read) or `vi` (official)."""
    lang = request.query_params.get("lang", "en")
    if lang not in LANGUAGES:
        raise ApiError(
            422,
            "invalid_query",
            "lang must be en or vi.",
            {"fields": {"lang": "must be en or vi"}},
        )
    return "vi" if lang == "vi" else "en"


def _letterhead(request: Request) -> Letterhead:
    """The server's letterhead, with this document's number, date and place if asked for."""
    query = request.query_params
    letterhead, problems = for_document(
        app_state(request).config.letterhead,
        *(query.get(name) for name in DOCUMENT_PARAMS),
    )
    if problems:
        raise ApiError(
            422, "invalid_query", "Some query parameters are wrong.", {"fields": problems}
        )
    return letterhead


def _pdf(content: bytes, filename: str) -> Response:
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}.pdf"'},
    )


def _asked(request: Request, flag: str) -> bool:
    """A part of the report the default leaves out, asked for with `flag=1`."""
    return request.query_params.get(flag) in ("1", "true")


async def session_attendance(request: Request) -> Response:
    session_id = request.path_params["session_id"]
    authorize(request, session_id, allow=ADMIN_OR_HOST)
    store = app_state(request).store
    session = store.get_session(session_id)
    assert session is not None  # authorize answered 404 otherwise
    fmt = request.query_params.get("format", "json")
    if fmt not in ("json", "csv", "xlsx", "pdf"):
        raise ApiError(422, "invalid_query", "format must be json, csv, xlsx or pdf.")
    lang = _lang(request)
    letterhead = _letterhead(request)
    report = _report_or_409(store, session, _rules(request))
    filename = f"diemdanh-{session.id}"
    # The files are written in a worker thread: a large workbook took the event loop, and
    # with it the media and every other request, for 15 s. The report is a value by now.
    if fmt == "csv":
        # The default is the CSV scripts read, as it always was; ?lang=vi the official one.
        timezone = app_state(request).config.timezone
        args = (report,) if lang == "en" else (report, lang, timezone)
        return Response(
            await asyncio.to_thread(to_csv, *args),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
        )
    if fmt == "xlsx":
        timezone = app_state(request).config.timezone
        return Response(
            await asyncio.to_thread(to_xlsx, report, session.title, timezone),
            media_type=XLSX_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{filename}.xlsx"'},
        )
    if fmt == "pdf":
        body = report_json(report, title=session.title)
        timezone = app_state(request).config.timezone
        now = datetime.now(UTC)
        return _pdf(
            await asyncio.to_thread(session_pdf, body, session.kind, letterhead, timezone, now),
            filename,
        )
    body = report_json(
        report, intervals=_asked(request, "intervals"), attempts=_asked(request, "attempts")
    )
    body["title"] = session.title
    body["live"] = session.state == SessionState.LIVE
    body["timezone"] = app_state(request).config.timezone
    return JSONResponse(body)


async def session_events(request: Request) -> Response:
    session_id = request.path_params["session_id"]
    authorize(request, session_id, allow=ADMIN_OR_HOST)
    store = app_state(request).store
    events = store.events(session_id)
    # Each line with its link in the hash chain and the last with the seal, what `diemcau
    # verify --events` needs, unless ?chain=0 asks for the lines as they were before the chain.
    chained = request.query_params.get("chain") not in ("0", "false")
    seal = store.seal(session_id) if chained else None
    return StreamingResponse(
        iter(list(write_jsonl(events, chained, seal))),
        media_type="application/x-ndjson; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="joinlog-{session_id}.jsonl"'},
    )


async def headcount(request: Request) -> Response:
    session_id = request.path_params["session_id"]
    site_id = request.path_params["site_id"]
    authorize(request, session_id, allow=ANY_ROLE, site_id=site_id)
    store = app_state(request).store
    session = store.get_session(session_id)
    assert session is not None
    if site_id not in {i.site_id for i in store.invites(session_id)}:
        raise ApiError(404, "not_found", "This site is not invited to the session.")
    present = await read_count_body(request, "present")
    if session.state == SessionState.ENDED:
        raise ApiError(409, "session_ended", "This session has ended; its record is closed.")
    now = datetime.now(UTC)
    # To the millisecond, as the store keeps it: the answer's ts is the one /me and /sites show.
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)
    # The same call as a count sent over the control channel: the room, the record and every
    # participant learn it alike (docs/meeting.md).
    try:
        await app_state(request).meeting.report_headcount(session_id, site_id, present, now)
    except RoomError as exc:  # removed by the chair: its count is no longer taken
        raise ApiError(409, exc.code, exc.message) from None
    return JSONResponse({"site": site_id, "present": present, "ts": api_time(now)}, status_code=201)


def _day(text: str | None, default: date, field: str, problems: dict[str, str]) -> date:
    if text is None:
        return default
    try:
        return period_day(text)
    except ValueError:
        problems[field] = PERIOD_DAY_RULE
        return default


async def period(request: Request) -> Response:
    """The figures a year-end report quotes, for the sessions held between two dates."""
    authorize(request, None, allow=ADMIN_ONLY)
    config = app_state(request).config
    zone = ZoneInfo(config.timezone)
    today = datetime.now(zone).date()
    problems: dict[str, str] = {}
    first = _day(request.query_params.get("from"), date(today.year, 1, 1), "from", problems)
    last = _day(request.query_params.get("to"), date(today.year, 12, 31), "to", problems)
    if not problems and last < first:
        problems["to"] = "must not be before from"
    if problems:
        raise ApiError(
            422, "invalid_query", "Some query parameters are wrong.", {"fields": problems}
        )
    fmt = request.query_params.get("format", "json")
    if fmt not in ("json", "xlsx", "pdf"):
        raise ApiError(422, "invalid_query", "format must be json, xlsx or pdf.")
    letterhead = _letterhead(request)
    rules = _rules(request)
    body = period_json(app_state(request).store, first, last, config.timezone, rules)
    if fmt == "pdf":
        now = datetime.now(UTC)
        return _pdf(await asyncio.to_thread(period_pdf, body, letterhead, now), _period_file(body))
    if fmt == "xlsx":
        return Response(
            await asyncio.to_thread(period_xlsx, body),
            media_type=XLSX_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{_period_file(body)}.xlsx"'},
        )
    return JSONResponse(body)


def _period_file(body: dict[str, Any]) -> str:
    return f"diemdanh-{body['from']}-{body['to']}"


def period_json(store: Store, first: date, last: date, timezone: str, rules: Rules) -> dict:
    """The period's JSON: the sessions that went live from day `first` to day `last` (both
    included, on `timezone`'s calendar), with their reports' figures. For the API and
    `diemcau report --period` alike."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(first, time(), zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(), zone).astimezone(UTC)
    now = datetime.now(UTC)
    held = []
    for session in store.sessions_started_between(start, end):
        try:
            report = session_report(store, session, rules, now)
        except AttendanceError:
            continue
        live = session.state == SessionState.LIVE
        held.append(HeldSession(session.id, session.title, live, report, session.kind))
    return {
        "from": day_text(first),
        "to": day_text(last),
        "timezone": timezone,
        "rules": rules.as_dict(),
        **period_summary(held),
    }
