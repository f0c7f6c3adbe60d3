"""The admin HTTP API under /api/: sites, sessions and their invites, and who is connected.

The contract is documented in docs/api.md; extend it, never bend it. Every handler checks the
token first, then the body, and writes only once everything is known to be valid.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ..media.links import SiteLink
from ..signaling.session import SessionState, SessionStateError
from ..signaling.turn import IceServer, ice_servers
from .attendance import SiteTally, totals
from .attendance.people import count_people
from .auth import ADMIN_ONLY, ADMIN_OR_HOST, ANY_ROLE, Grant, authorize
from .bodies import (
    KIND_MAX,
    NAME_MAX,
    SITE_ID_RULE,
    TITLE_MAX,
    count_field,
    is_site_id,
    media_type,
    query_flag,
    raise_problems,
    read_body,
    read_json_object,
    reject_unknown_fields,
    site_list_field,
    text_field,
    time_field,
)
from .errors import ApiError
from .links import SessionLinks, create_session_with_links
from .livecause import live_causes
from .sessionkind import DEFAULT_KIND, KIND_RULE, is_kind
from .sitescsv import parse_sites_csv
from .state import app_state, base_url
from .store import Invite, Session, Site, SiteInUse, Store, UnknownSites
from .times import api_time

log = logging.getLogger("diemcau.api")

Handler = Callable[[Request], Awaitable[Response]]


def routes() -> list[BaseRoute]:
    return [
        _route("/api/sites", GET=list_sites),
        _route("/api/sites/import", POST=import_sites),
        _route("/api/sites/{site_id}", GET=get_site, PUT=put_site, DELETE=delete_site),
        _route("/api/sessions", GET=list_sessions, POST=create_session),
        _route("/api/sessions/{session_id}", GET=get_session, PATCH=change_session),
        _route("/api/sessions/{session_id}/start", POST=start_session),
        _route("/api/sessions/{session_id}/end", POST=end_session),
        _route("/api/sessions/{session_id}/cancel", POST=cancel_session),
        _route("/api/sessions/{session_id}/sites", GET=session_sites),
        _route("/api/sessions/{session_id}/me", GET=me),
    ]


def _route(path: str, **handlers: Handler) -> Route:
    # One Route per path, so that a 405 lists every method the path takes in Allow.
    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await handlers[method](request)

    return Route(path, dispatch, methods=list(handlers))


route = _route  # for the admin API's other modules (server/peopleapi.py)


# Sites


async def list_sites(request: Request) -> Response:
    authorize(request, None, allow=ADMIN_ONLY)
    return JSONResponse({"sites": [site_json(s) for s in app_state(request).store.list_sites()]})


async def get_site(request: Request) -> Response:
    authorize(request, None, allow=ADMIN_ONLY)
    return JSONResponse(site_json(_site(request, request.path_params["site_id"])))


async def put_site(request: Request) -> Response:
    authorize(request, None, allow=ADMIN_ONLY)
    site_id = request.path_params["site_id"]
    body = await read_json_object(request)
    problems: dict[str, str] = {}
    if not is_site_id(site_id):
        problems["id"] = SITE_ID_RULE
    # The site object as GET returns it may be sent back: its id must then be the path's.
    if "id" in body and body["id"] != site_id:
        problems["id"] = "differs from the id in the path"
    reject_unknown_fields(body, {"id", "name", "kind", "expected"}, problems)
    name = text_field(body, "name", NAME_MAX, problems)
    kind = text_field(body, "kind", KIND_MAX, problems)
    expected = count_field(body, "expected", problems)
    raise_problems(problems)
    assert name is not None and kind is not None and expected is not None
    site = Site(site_id, name, kind, expected)
    result = await app_state(request).writer.run(Store.put_site, site, _now())
    log.info("site %s %s", site_id, result)
    if result == "created":
        location = f"{base_url(request)}/api/sites/{site_id}"
        return JSONResponse(site_json(site), status_code=201, headers={"Location": location})
    return JSONResponse(site_json(site))


async def delete_site(request: Request) -> Response:
    authorize(request, None, allow=ADMIN_ONLY)
    site_id = request.path_params["site_id"]
    try:
        deleted = await app_state(request).writer.run(Store.delete_site, site_id)
    except SiteInUse as exc:
        raise ApiError(
            409,
            "site_in_use",
            "This site is invited to a session that has not ended; end that session first.",
            {"sessions": exc.session_ids},
        ) from None
    if not deleted:
        raise _no_such_site()
    log.info("site %s deleted", site_id)
    return Response(status_code=204)


async def import_sites(request: Request) -> Response:
    """Create or update sites from CSV. Valid lines are applied, invalid ones reported; a file
    that cannot be read as our CSV at all (header, encoding) changes nothing. With
    ?dry_run=1 the same answer says what would happen, and nothing is written."""
    authorize(request, None, allow=ADMIN_ONLY)
    dry_run = query_flag(request, "dry_run")
    if media_type(request) != "text/csv":
        raise ApiError(415, "unsupported_media_type", "Send the sites as 'Content-Type: text/csv'.")
    rows = parse_sites_csv(await read_body(request))
    valid = [row.site for row in rows if row.site is not None]
    state = app_state(request)
    if dry_run:
        results = state.store.preview_sites(valid)
    else:
        results = await state.writer.run(Store.put_sites, valid, _now())
    applied = iter(results)
    lines: list[dict[str, Any]] = []
    for row in rows:
        if row.site is None:
            lines.append({"line": row.line, "id": row.id, "result": "rejected", "error": row.error})
        else:
            lines.append({"line": row.line, "id": row.id, "result": next(applied)})
    counts = {
        result: sum(1 for line in lines if line["result"] == result)
        for result in ("created", "updated", "unchanged", "rejected")
    }
    if not dry_run:
        log.info("sites imported: %s", counts)
    return JSONResponse({**counts, "dry_run": dry_run, "lines": lines})


# Sessions


async def list_sessions(request: Request) -> Response:
    authorize(request, None, allow=ADMIN_ONLY)
    sessions = app_state(request).store.list_sessions()
    return JSONResponse({"sessions": [session_json(s) for s in sessions]})


async def create_session(request: Request) -> Response:
    authorize(request, None, allow=ADMIN_ONLY)
    state = app_state(request)
    store = state.store
    body = await read_json_object(request)
    problems: dict[str, str] = {}
    reject_unknown_fields(
        body, {"title", "scheduled_start", "scheduled_end", "sites", "kind"}, problems
    )
    title = text_field(body, "title", TITLE_MAX, problems)
    kind = body.get("kind", DEFAULT_KIND)
    if not is_kind(kind):
        problems["kind"] = KIND_RULE
    start = time_field(body, "scheduled_start", problems)
    end = time_field(body, "scheduled_end", problems)
    if start is not None and end is not None and end <= start:
        problems["scheduled_end"] = "must be after scheduled_start"
    site_ids = site_list_field(body, problems)
    if site_ids is None and "sites" not in problems:
        site_ids = [site.id for site in store.list_sites()]
        if not site_ids:
            problems["sites"] = "there are no sites yet; create sites before a session"
    raise_problems(problems)
    assert title is not None and start is not None and end is not None and site_ids is not None

    try:
        session, host_token, invite_tokens = await state.writer.run(
            create_session_with_links,
            state.link_key,
            title=title,
            scheduled_start=start,
            scheduled_end=end,
            site_ids=site_ids,
            now=_now(),
            kind=kind,
        )
    except UnknownSites as exc:
        raise ApiError(
            422,
            "unknown_sites",
            "Some of the sites do not exist: " + ", ".join(exc.site_ids) + ".",
            {"sites": exc.site_ids},
        ) from None
    log.info("session %s created with %d sites", session.id, len(site_ids))

    base = base_url(request)
    links = SessionLinks(base, session.id)
    invites = [
        {
            **invite_json(invite, links),
            "token": invite_tokens[invite.site_id],
            "join_url": links.join(invite.site_id, invite_tokens[invite.site_id]),
        }
        for invite in store.invites(session.id)
    ]
    created = {
        **session_json(session),
        "host": {
            "token": host_token,
            "console_url": links.console(host_token),
            "whip_url": links.whip,
        },
        "invites": invites,
    }
    return JSONResponse(
        created, status_code=201, headers={"Location": f"{base}/api/sessions/{session.id}"}
    )


async def get_session(request: Request) -> Response:
    session_id = request.path_params["session_id"]
    authorize(request, session_id, allow=ADMIN_OR_HOST)
    return JSONResponse(_session_with_invites(request, _session(request, session_id)))


async def change_session(request: Request) -> Response:
    """A session's kind put right: `{"kind": "key"}` (admin)."""
    session_id = request.path_params["session_id"]
    authorize(request, session_id, allow=ADMIN_ONLY)
    state = app_state(request)
    body = await read_json_object(request)
    problems: dict[str, str] = {}
    reject_unknown_fields(body, {"kind"}, problems)
    kind = body.get("kind")
    if not is_kind(kind):
        problems["kind"] = KIND_RULE
    raise_problems(problems)
    assert is_kind(kind)
    if not await state.writer.run(Store.set_session_kind, session_id, kind):
        raise ApiError(404, "not_found", "There is no such session.")
    log.info("session %s is a %s conference now", session_id, kind)
    return JSONResponse(session_json(_session(request, session_id)))


async def start_session(request: Request) -> Response:
    session_id = request.path_params["session_id"]
    authorize(request, session_id, allow=ADMIN_OR_HOST)
    try:
        session, changed = await app_state(request).meeting.start(session_id, _now())
    except SessionStateError:
        raise ApiError(
            409, "session_ended", "This session has ended; it cannot be started again."
        ) from None
    if changed:
        log.info("session %s started", session_id)
    return JSONResponse(_session_with_invites(request, session))


async def end_session(request: Request) -> Response:
    return await _end(request, cancel=False)


async def cancel_session(request: Request) -> Response:
    """End a session that has not started; refused once it is live, so that a cancel that
    crossed the session going live never ends a conference under way."""
    return await _end(request, cancel=True)


async def _end(request: Request, cancel: bool) -> Response:
    session_id = request.path_params["session_id"]
    authorize(request, session_id, allow=ADMIN_OR_HOST)
    try:
        # The meeting tells everyone and closes the session's media (docs/meeting.md).
        session, changed = await app_state(request).meeting.end(session_id, _now(), cancel)
    except SessionStateError:  # a cancel only: the session is live, or was held
        if _session(request, session_id).state is SessionState.LIVE:
            why = "session_live", "This session is live: end it, it cannot be cancelled."
        else:
            why = "session_ended", "This session was held and has ended; it cannot be cancelled."
        raise ApiError(409, *why) from None
    if changed:
        log.info("session %s %s", session_id, "cancelled" if cancel else "ended")
    return JSONResponse(_session_with_invites(request, session))


async def session_sites(request: Request) -> Response:
    session_id = request.path_params["session_id"]
    authorize(request, session_id, allow=ADMIN_OR_HOST)
    session = _session(request, session_id)
    state = app_state(request)
    links = state.bridge.site_links(session_id)
    headcounts = state.store.headcounts(session_id)
    absent = SiteLink(False, None, 0, 0, 0)
    now = _now()
    people = state.live_people.of(state.store, session, state.config.rules.late_after_seconds, now)
    sites = []
    for invite in state.store.invites(session_id):
        link = links.get(invite.site_id, absent)
        reported = headcounts.get(invite.site_id)
        own = people.get(invite.site_id)
        counted = None if own is None else count_people(own)
        sites.append(
            {
                "site": invite.site_id,
                "name": invite.site_name,
                "kind": invite.site_kind,
                "expected": invite.expected,
                "connected": link.connected,
                "connected_since": api_time(link.connected_since),
                "connections": link.connections,
                "packets_sent": link.packets_sent,
                "bytes_sent": link.bytes_sent,
                "headcount": reported[0] if reported else None,
                "headcount_at": api_time(reported[1]) if reported else None,
                # Its roster's people so far (null without one): present counts the late.
                "people_expected": None if counted is None else counted.expected,
                "people_present": None if counted is None else counted.present,
                "people_excused": None if counted is None else counted.excused,
                "people_unexcused": None if counted is None else counted.unexcused,
            }
        )
    # Why each hall not connected now is missing (null before the start, or none to name).
    causes = live_causes(
        state.store, session, [s["site"] for s in sites if not s["connected"]], now
    )
    for s in sites:
        why = causes.get(s["site"])
        s["cause"], s["cause_reason"] = (why.cause, why.reason) if why else (None, None)
    # Live totals for the console: a hall connected now is there, and its people count; the
    # people checked in count wherever they are, as in the report.
    live = totals(
        SiteTally(
            "present" if s["connected"] else "absent",
            s["expected"],
            s["headcount"],
            people.get(s["site"], ()),
        )
        for s in sites
    )
    totals_now = {
        "invited": live.invited,
        "connected": live.present,
        "expected": live.expected,
        "headcount": live.headcount,
        "participation_rate": live.participation_rate,
        "people_expected": live.people_expected,
        "people_present": live.people_present,
        "people_excused": live.people_excused,
        "people_unexcused": live.people_unexcused,
        "people_present_rate": live.people_present_rate,
    }
    return JSONResponse(
        {"session": session.id, "state": session.state.value, "sites": sites, "totals": totals_now}
    )


async def me(request: Request) -> Response:
    """What a token opens, for the pages to say "not started", "ended" or "invalid link"."""
    session_id = request.path_params["session_id"]
    grant: Grant = authorize(request, session_id, allow=ANY_ROLE)
    session = _session(request, session_id)
    links = SessionLinks(base_url(request), session_id)
    answer: dict[str, Any] = {"role": grant.role, "session": session_json(session), "site": None}
    if grant.role == "site":
        assert grant.site_id is not None
        store = app_state(request).store
        invite = next(i for i in store.invites(session_id) if i.site_id == grant.site_id)
        answer["site"] = {
            "id": invite.site_id,
            "name": invite.site_name,
            "kind": invite.site_kind,
            "expected": invite.expected,
        }
        answer["whep_url"] = links.whep(invite.site_id)
        reported = store.headcounts(session_id).get(invite.site_id)
        answer["headcount"] = (
            {"present": reported[0], "ts": api_time(reported[1])} if reported else None
        )
    else:
        answer["whip_url"] = links.whip
    # Before their first offer the pages need what WHIP/WHEP answers carry as Link headers.
    identity = grant.site_id if grant.role == "site" and grant.site_id else "host"
    answer["ice_servers"] = [server.to_json() for server in ice_servers_for(request, identity)]
    return JSONResponse(answer)


def ice_servers_for(request: Request, identity: str) -> list[IceServer]:
    """The TURN servers of the configuration, with fresh credentials for `identity` (a site id,
    or "host" for the district hall); none when no TURN server is configured."""
    config = app_state(request).config
    return ice_servers(config.turn_urls, config.turn_secret, config.turn_ttl, identity, time.time())


# Representations


def site_json(site: Site) -> dict[str, Any]:
    return {"id": site.id, "name": site.name, "kind": site.kind, "expected": site.expected}


def session_json(session: Session) -> dict[str, Any]:
    return {
        "id": session.id,
        "title": session.title,
        "kind": session.kind,
        "state": session.state.value,
        "scheduled_start": api_time(session.scheduled_start),
        "scheduled_end": api_time(session.scheduled_end),
        "started_at": api_time(session.started_at),
        "ended_at": api_time(session.ended_at),
        "created_at": api_time(session.created_at),
    }


def invite_json(invite: Invite, links: SessionLinks) -> dict[str, Any]:
    # The snapshot taken when the session was created, not the site as it is today.
    return {
        "site": invite.site_id,
        "name": invite.site_name,
        "kind": invite.site_kind,
        "expected": invite.expected,
        "whep_url": links.whep(invite.site_id),
    }


def _session_with_invites(request: Request, session: Session) -> dict[str, Any]:
    links = SessionLinks(base_url(request), session.id)
    invites = app_state(request).store.invites(session.id)
    return {**session_json(session), "invites": [invite_json(i, links) for i in invites]}


# Plumbing


def _now() -> datetime:
    return datetime.now(UTC)


def _site(request: Request, site_id: str) -> Site:
    site = app_state(request).store.get_site(site_id)
    if site is None:
        raise _no_such_site()
    return site


def _no_such_site() -> ApiError:
    return ApiError(404, "not_found", "There is no such site.")


def _session(request: Request, session_id: str) -> Session:
    session = app_state(request).store.get_session(session_id)
    if session is None:
        raise ApiError(404, "not_found", "There is no such session.")
    return session
