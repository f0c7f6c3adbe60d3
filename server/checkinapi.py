"""Check-in at the hall and its corrections, over HTTP (docs/api.md, Check-in).

GET  /api/sessions/{id}/sites/{site}/checkin          the hall's code now: URL, QR, expiry
GET  /api/checkin/{code}                              no token: the code is the credential
POST /api/checkin/{code}            {"person"}        a phone checks its person in (method qr)
GET  /api/sessions/{id}/people                        every hall's (admin, host)
GET  /api/sessions/{id}/sites/{site}/people           the hall's people and their standing
POST /api/sessions/{id}/sites/{site}/checkins {"person"}   the hall's clerk ticks a name
POST /api/sessions/{id}/people/{person}/checkin/revoke  {"reason"}   a mistaken check-in
POST /api/sessions/{id}/people/{person}/absence         {"reason"}   excused
POST /api/sessions/{id}/people/{person}/absence/revoke  {"reason"}   the excuse withdrawn

Who: the hall's own token or the admin's (`by` says which in the event); the phone page has
only the code. When: check-ins from the server's `--checkin-opens-before` (an hour) before the
scheduled start, since people arrive before the operator goes live, and while the session is
live (409 not_started before, with `details.opens_at`; 409 session_ended after: a check-in after
the window would count for nothing), checkinrules.CheckinOpening; the corrections and absences
at any time, during or after the session (an absence known beforehand too), since the record is
corrected after the fact.

Each is one join-log event (server/checkinlog.py), judged and written in the store writer's
thread, so a refused command writes nothing; the meeting service writes it, then tells the
pages to read their lists again (a `people` message on the control channel, server/meeting.py).
The public POST has no token: the admin API's write limit counts it per client address
(server/writelimit.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from .api import route
from .attendance.people import CheckedIn, Standing
from .auth import ADMIN_OR_HOST, ANY_ROLE, Grant, authorize
from .bodies import raise_problems, read_json_object, reject_unknown_fields, text_field
from .checkin import CheckinKey, ReadCode, UnknownCode, session_of
from .checkinlog import session_standings
from .checkinrules import (
    REASON_MAX,
    By,
    CheckinClosed,
    CheckinOpening,
    Command,
    CommandType,
    Refusal,
    checked_in_as,
)
from .errors import ApiError
from .people import Person
from .peopleapi import person_json
from .qr import qr_data_uri
from .state import AppState, app_state, base_url
from .store import Invite, Session
from .times import api_time

log = logging.getLogger("diemcau.checkin")

ADMIN_OR_SITE: frozenset[str] = frozenset({"admin", "site"})
# A person id is the roster's ("p-" and 16 characters); room to spare, no more.
PERSON_MAX = 100


def routes() -> list[BaseRoute]:
    return [
        route("/api/sessions/{session_id}/sites/{site_id}/checkin", GET=hall_code),
        route("/api/checkin/{code}", GET=read_code, POST=check_in_by_code),
        route("/api/sessions/{session_id}/people", GET=session_people),
        route("/api/sessions/{session_id}/sites/{site_id}/people", GET=hall_people),
        route("/api/sessions/{session_id}/sites/{site_id}/checkins", POST=check_in_by_clerk),
        route("/api/sessions/{session_id}/people/{person_id}/checkin/revoke", POST=revoke),
        route("/api/sessions/{session_id}/people/{person_id}/absence", POST=absence),
        route("/api/sessions/{session_id}/people/{person_id}/absence/revoke", POST=absence_revoked),
    ]


def checkin_key(state: AppState) -> CheckinKey:
    return CheckinKey(state.link_key.derived("checkin"))


# The hall's code, and the phone's page


async def hall_code(request: Request) -> Response:
    session_id, site_id = request.path_params["session_id"], request.path_params["site_id"]
    authorize(request, session_id, allow=ADMIN_OR_SITE, site_id=site_id)
    state = app_state(request)
    session = _session(state, session_id)
    now = _now()
    _require_open(state, session, now)
    invite = _invite(state, session_id, site_id)
    if invite.revoked_at is not None:
        raise ApiError(409, "removed", "This hall was removed from the session.")
    if not state.store.session_people(session_id, site_id):
        raise ApiError(
            409, "no_roster", "This hall had no roster when the session was created: no check-in."
        )
    code = checkin_key(state).draw(session_id, site_id, now)
    url = f"{base_url(request)}/checkin/{code.text}"
    return JSONResponse(
        {
            "url": url,
            "expires_at": api_time(code.expires_at),
            "refresh_at": api_time(code.refresh_at),
            "qr": qr_data_uri(url),
        }
    )


async def read_code(request: Request) -> Response:
    state = app_state(request)
    session, invite, read = _by_code(state, request.path_params["code"], _now())
    everyone = state.store.session_people(session.id)
    codes = {p.id: p.code for p in everyone}
    standing = session_standings(state.store, session.id)
    return JSONResponse(
        {
            "session": session.id,
            "title": session.title,
            "site": invite.site_id,
            "site_name": invite.site_name,
            "people": [
                {
                    "id": p.id,
                    "name": p.name,
                    "position": p.position,
                    "checked_in": checked_in_as(p.id, standing, codes) is not None,
                }
                for p in everyone
                if p.site_id == invite.site_id
            ],
            "expires_at": api_time(read.expires_at),
        }
    )


async def check_in_by_code(request: Request) -> Response:
    state = app_state(request)
    now = _now()
    session, invite, _ = _by_code(state, request.path_params["code"], now)
    person = _person_of_hall(state, session.id, invite.site_id, await _person_field(request))
    command = Command("checkin", person.id, invite.site_id, "site", "qr")
    return await _write(state, session, command, state.config.checkin_opening)


# The hall's clerk, and the district's


async def session_people(request: Request) -> Response:
    session_id = request.path_params["session_id"]
    authorize(request, session_id, allow=ADMIN_OR_HOST)
    state = app_state(request)
    return JSONResponse({"session": session_id, "people": _standings(state, session_id, None)})


async def hall_people(request: Request) -> Response:
    session_id, site_id = request.path_params["session_id"], request.path_params["site_id"]
    authorize(request, session_id, allow=ANY_ROLE, site_id=site_id)
    state = app_state(request)
    _invite(state, session_id, site_id)
    people = _standings(state, session_id, site_id)
    return JSONResponse({"session": session_id, "site": site_id, "people": people})


def _standings(state: AppState, session_id: str, site_id: str | None) -> list[dict[str, Any]]:
    standing = session_standings(state.store, session_id)
    names = {i.site_id: i.site_name for i in state.store.invites(session_id)}
    everyone = state.store.session_people(session_id)
    codes = {p.id: p.code for p in everyone}
    return [
        standing_json(p, standing.get(p.id), checked_in_as(p.id, standing, codes), names)
        for p in everyone
        if site_id is None or p.site_id == site_id
    ]


async def check_in_by_clerk(request: Request) -> Response:
    session_id, site_id = request.path_params["session_id"], request.path_params["site_id"]
    grant = authorize(request, session_id, allow=ADMIN_OR_SITE, site_id=site_id)
    state = app_state(request)
    person = _person_of_hall(state, session_id, site_id, await _person_field(request))
    command = Command("checkin", person.id, site_id, _by(grant), "clerk")
    return await _write(state, _session(state, session_id), command, state.config.checkin_opening)


async def revoke(request: Request) -> Response:
    return await _correction(request, "checkin_revoked")


async def absence(request: Request) -> Response:
    return await _correction(request, "absence")


async def absence_revoked(request: Request) -> Response:
    return await _correction(request, "absence_revoked")


async def _correction(request: Request, kind: CommandType) -> Response:
    session_id, person_id = request.path_params["session_id"], request.path_params["person_id"]
    grant = authorize(request, session_id, allow=ADMIN_OR_SITE)
    state = app_state(request)
    person = state.store.session_person(session_id, person_id)
    if person is None:
        raise ApiError(404, "not_found", "This person is not on the session's rosters.")
    if grant.role == "site" and grant.site_id != person.site_id:
        raise ApiError(403, "wrong_site", "This person is on another hall's roster.")
    body = await read_json_object(request)
    problems: dict[str, str] = {}
    reject_unknown_fields(body, {"reason"}, problems)
    reason = text_field(body, "reason", REASON_MAX, problems)
    raise_problems(problems)
    assert reason is not None
    command = Command(kind, person.id, person.site_id, _by(grant), reason=reason)
    return await _write(state, _session(state, session_id), command, None)


# Writing, and what the answers say


async def _write(
    state: AppState,
    session: Session,
    command: Command,
    opening: CheckinOpening | None,
) -> Response:
    """Judge and write `command` in the writer's thread, if the session takes it now (`opening`,
    or at any time with None); 201 with the event, or why not."""
    now = _now()
    if opening is not None:
        _require_open(state, session, now)
    try:
        seq = await state.meeting.record_people(session.id, command, opening, now)
    except CheckinClosed as closed:  # the session ended while this waited for the writer
        raise _closed(closed) from None
    except Refusal as refusal:
        raise _refused(state, session.id, command, refusal) from None
    log.info("session %s: %s of %s by %s", session.id, command.type, command.person, command.by)
    answer = {
        "seq": seq,
        "type": command.type,
        "ts": api_time(now),
        "site": command.site,
        **command.body(),
    }
    return JSONResponse(answer, status_code=201)


def _refused(state: AppState, session_id: str, command: Command, refusal: Refusal) -> ApiError:
    where = refusal.where
    names = {i.site_id: i.site_name for i in state.store.invites(session_id)}
    details: dict[str, Any] | None = None
    if where is not None:
        details = {
            "site": where.site,
            "site_name": names.get(where.site, where.site),
            "checked_in_at": api_time(where.at),
            "method": where.method,
        }
    if refusal.code == "already_checked_in":
        assert where is not None
        here = "this hall" if where.site == command.site else f"another hall, {names[where.site]}"
        return ApiError(
            409, refusal.code, f"This person is already checked in, at {here}.", details
        )
    if refusal.code == "checked_in":
        return ApiError(
            409,
            refusal.code,
            "This person is checked in: correct the check-in first, with its reason.",
            details,
        )
    if refusal.code == "not_checked_in":
        return ApiError(409, refusal.code, "This person is not checked in.")
    return ApiError(409, refusal.code, "This person is not marked absent with a reason.")


def standing_json(
    person: Person,
    standing: Standing | None,
    checked: CheckedIn | None,
    names: Mapping[str, str],
) -> dict[str, Any]:
    """A person of a hall and their standing now, for the clerks' lists; `checked` is where
    they are checked in, maybe at another hall (the same member code)."""
    return {
        **person_json(person),
        "site": person.site_id,
        "checked_in": checked is not None,
        "checked_in_at": None if checked is None else api_time(checked.at),
        "checked_in_site": None if checked is None else checked.site,
        "checked_in_site_name": None if checked is None else names.get(checked.site),
        "method": None if checked is None else checked.method,
        "excused": standing is not None and standing.excuse is not None,
        "reason": None if standing is None else standing.excuse,
    }


# Plumbing


def _now() -> datetime:
    # To the millisecond, as the store keeps it: the answer's ts is the log's.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _by(grant: Grant) -> By:
    return "admin" if grant.role == "admin" else "site"


def _session(state: AppState, session_id: str) -> Session:
    session = state.store.get_session(session_id)
    if session is None:
        raise ApiError(404, "not_found", "There is no such session.")
    return session


def _invite(state: AppState, session_id: str, site_id: str) -> Invite:
    invite = next((i for i in state.store.invites(session_id) if i.site_id == site_id), None)
    if invite is None:
        raise ApiError(404, "not_found", "This site is not invited to the session.")
    return invite


def _require_open(state: AppState, session: Session, now: datetime) -> None:
    try:
        state.config.checkin_opening.check(session.state, session.scheduled_start, now)
    except CheckinClosed as closed:
        raise _closed(closed) from None


def _closed(closed: CheckinClosed) -> ApiError:
    if closed.code == "not_started":
        assert closed.opens_at is not None
        return ApiError(
            409,
            "not_started",
            "Check-in has not opened yet: it opens before the session's scheduled start.",
            {"opens_at": api_time(closed.opens_at)},
        )
    return ApiError(409, "session_ended", "This session has ended: check-in is closed.")


def _unknown_code() -> ApiError:
    return ApiError(404, "not_found", "This check-in code is not known here; scan the QR again.")


def _by_code(state: AppState, code: str, now: datetime) -> tuple[Session, Invite, ReadCode]:
    """The session and hall of a check-in code still good at `now`: 404 unknown, 410 expired,
    409 check-in not open."""
    try:
        session = state.store.get_session(session_of(code))
        if session is None:
            raise UnknownCode(code)
        invites = {i.site_id: i for i in state.store.invites(session.id)}
        read = checkin_key(state).read(code, invites, now)
    except UnknownCode:
        raise _unknown_code() from None
    if read.state == "expired":
        raise ApiError(
            410,
            "code_expired",
            "This check-in code has expired (it changes every 30 s): scan the QR code again.",
            {"expired_at": api_time(read.expires_at)},
        )
    _require_open(state, session, now)
    invite = invites[read.site_id]
    if invite.revoked_at is not None:
        raise _unknown_code()  # a removed hall's codes stop with its link
    return session, invite, read


async def _person_field(request: Request) -> str:
    body = await read_json_object(request)
    problems: dict[str, str] = {}
    reject_unknown_fields(body, {"person"}, problems)
    person = body.get("person")
    if not isinstance(person, str) or not 0 < len(person) <= PERSON_MAX:
        problems["person"] = "is required" if person is None else "must be a person's id"
    raise_problems(problems)
    assert isinstance(person, str)
    return person


def _person_of_hall(state: AppState, session_id: str, site_id: str, person_id: str) -> Person:
    person = state.store.session_person(session_id, person_id)
    if person is None or person.site_id != site_id:
        raise ApiError(404, "unknown_person", "This person is not on this hall's roster.")
    return person
