"""WHIP (RFC 9725) publishing and WHEP playback over HTTP, adapted onto the bridge.

/whip/{session}                       POST offer (host token) -> 201 answer + Location
/whip/{session}/r/{resource}          DELETE ends it; PATCH a trickle ICE fragment (RFC 8840):
                                      candidates -> 204, an ICE restart -> 200 and the
                                      server's fragment
/whep/{session}/{site}                POST offer (that site's token) -> 201 answer + Location
/whep/{session}/{site}/r/{resource}   DELETE, PATCH as above

Every 201 and every restart's 200 carries an ETag naming the resource's ICE session: trickled
candidates must match it (If-Match), a restart sends `If-Match: *` (RFC 9725 section 4.3).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..media.bridge import HOST, Answer, Bridge, OfferError
from ..signaling import sdpfrag
from ..signaling.session import SessionState
from .api import ice_servers_for
from .auth import ADMIN_OR_HOST, authorize
from .bodies import read_text
from .cors import preflight
from .errors import ApiError
from .repeated import OUT_OF_DESCRIPTORS, RepeatedError
from .state import app_state
from .store import Store

log = logging.getLogger("diemcau.whip")
_OUT_OF_DESCRIPTORS = RepeatedError(
    log, "a WHIP/WHEP offer found no file descriptor left (LimitNOFILE): answered 503"
)

SDP = "application/sdp"
MAX_OFFER_BYTES = 64 * 1024
ENDPOINT_METHODS = "GET, HEAD, POST, OPTIONS"
RESOURCE_METHODS = "GET, HEAD, DELETE, PATCH, OPTIONS"
# Where WHIP and WHEP answer: every answer there carries CORS (server/cors.py).
PREFIXES = ("/whip/", "/whep/")
SITE_ONLY = frozenset({"site"})
SITE_OR_ADMIN = frozenset({"site", "admin"})


def _not_allowed(allow: str) -> Response:
    raise ApiError(
        405,
        "method_not_allowed",
        f"This WHIP/WHEP address accepts {allow}.",
        headers={"Allow": allow},
    )


async def _read_offer(request: Request) -> str:
    offer = await read_text(request, SDP, "An SDP offer", "invalid_offer", MAX_OFFER_BYTES)
    if not offer.startswith("v=0"):
        raise ApiError(400, "invalid_offer", "The body is not an SDP offer (it must start v=0).")
    return offer


def _answer(
    request: Request, session_id: str, answer: Answer, location: str, identity: str
) -> Response:
    """The 201 of every WHIP/WHEP POST; `identity` (a site id, or HOST) names whom the TURN
    credentials of its Link headers are minted for."""
    bridge = app_state(request).bridge
    response = Response(
        answer.sdp,
        status_code=201,
        media_type=SDP,
        headers={"Location": location, **_etag(bridge, session_id, answer.resource_id)},
    )
    # One Link header a TURN server (RFC 9725 section 4.6): several header lines, not one.
    for server in ice_servers_for(request, identity):
        for link in server.links():
            response.headers.append("Link", link)
    return response


def _offer_error(exc: OfferError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message)


def _require_not_ended(store: Store, session_id: str) -> SessionState:
    session = store.get_session(session_id)
    if session is None:
        raise ApiError(404, "not_found", "There is no such session.")
    if session.state == SessionState.ENDED:
        raise ApiError(409, "session_ended", "This session has ended.")
    return session.state


def _endpoint_options(request: Request, whep: bool = False) -> Response | None:
    """What a WHIP/WHEP endpoint answers without a token: OPTIONS (200), GET and HEAD (2xx
    with no content; HEAD on a WHEP endpoint names the type a POST answers with), and 405 for
    the methods it does not take; None for a POST."""
    if request.method == "OPTIONS":
        return Response(
            status_code=200,
            headers={"Accept-Post": SDP, "Allow": ENDPOINT_METHODS, **preflight(ENDPOINT_METHODS)},
        )
    if request.method == "HEAD" and whep:
        return Response(status_code=200, headers={"Content-Type": SDP})
    if request.method in ("GET", "HEAD"):
        return Response(status_code=204)
    if request.method != "POST":
        return _not_allowed(ENDPOINT_METHODS)
    return None


async def _negotiate(
    request: Request,
    session_id: str,
    offer_to_answer: Callable[[str], Awaitable[Answer]],
    location: Callable[[str], str],
    identity: str,
    check: Callable[[], object],
) -> Response:
    """The common end of every WHIP and WHEP POST: the token (`check`) and the session are
    checked before the offer is read, again once it is read, and again once the bridge has
    answered it, since uploading an offer or gathering its answer takes time in which a hall
    may be removed or the session end; a token may not pile up connections that are not up."""
    check()
    store = app_state(request).store
    bridge = app_state(request).bridge
    _require_not_ended(store, session_id)
    _require_room(bridge, session_id, identity)
    offer = await _read_offer(request)
    check()
    _require_not_ended(store, session_id)
    try:
        answer = await offer_to_answer(offer)
    except OfferError as exc:
        raise _offer_error(exc) from exc
    except OSError as exc:
        if exc.errno not in OUT_OF_DESCRIPTORS:
            raise
        # No descriptor left (LimitNOFILE): a hall tries again later; logged once a minute.
        _OUT_OF_DESCRIPTORS.occurred(exc)
        raise _busy() from exc
    try:
        check()
        _require_not_ended(store, session_id)
    except ApiError:
        await bridge.delete(session_id, answer.resource_id)
        raise
    return _answer(request, session_id, answer, location(answer.resource_id), identity)


# Connections answered and not up yet (each holds memory and a timer until --connect-timeout):
# a hall's page makes two or three at a time, the console one per hall for its mosaic.
MAX_PENDING_PER_SITE = 8
MAX_PENDING_PER_HOST = 512
MAX_PENDING_PER_SESSION = 2048
RETRY_AFTER = "5"


def _require_room(bridge: Bridge, session_id: str, identity: str) -> None:
    mine = MAX_PENDING_PER_HOST if identity == HOST else MAX_PENDING_PER_SITE
    if bridge.pending(session_id, identity) >= mine:
        raise ApiError(
            429,
            "too_many_connections",
            "Too many media connections of this link are still coming up: try again shortly.",
            headers={"Retry-After": RETRY_AFTER},
        )
    if bridge.pending(session_id) >= MAX_PENDING_PER_SESSION:
        raise _busy()


def _busy() -> ApiError:
    return ApiError(
        503,
        "busy",
        "The server has too many media connections coming up: try again shortly.",
        headers={"Retry-After": RETRY_AFTER},
    )


def _resource_options(request: Request) -> Response | None:
    """What a WHIP/WHEP resource answers without a token: OPTIONS (200), GET and HEAD (204);
    None for the methods that need one."""
    if request.method == "OPTIONS":
        return Response(
            status_code=200, headers={"Allow": RESOURCE_METHODS, **preflight(RESOURCE_METHODS)}
        )
    if request.method in ("GET", "HEAD"):
        return Response(status_code=204)
    return None


# -- WHIP ---------------------------------------------------------------------------------------


async def whip_endpoint(request: Request) -> Response:
    session_id = request.path_params["session"]
    if (early := _endpoint_options(request)) is not None:
        return early

    def check() -> object:
        return authorize(request, session_id, allow=ADMIN_OR_HOST)

    bridge = app_state(request).bridge
    # The session goes live when this publisher is on air, not now (server/app.py, Publishing).
    return await _negotiate(
        request,
        session_id,
        lambda offer: bridge.publish(session_id, offer),
        lambda resource: f"/whip/{session_id}/r/{resource}",
        HOST,
        check,
    )


async def whip_resource(request: Request) -> Response:
    session_id = request.path_params["session"]
    resource_id = request.path_params["resource"]
    if (early := _resource_options(request)) is not None:
        return early
    authorize(request, session_id, allow=ADMIN_OR_HOST)
    return await _resource(request, session_id, resource_id, site_id="")


# -- WHEP ---------------------------------------------------------------------------------------


async def whep_endpoint(request: Request) -> Response:
    session_id = request.path_params["session"]
    site_id = request.path_params["site"]
    if (early := _endpoint_options(request, whep=True)) is not None:
        return early

    def check() -> object:
        return authorize(request, session_id, allow=SITE_ONLY, site_id=site_id)

    bridge = app_state(request).bridge
    return await _negotiate(
        request,
        session_id,
        lambda offer: bridge.subscribe(session_id, site_id, offer),
        lambda resource: f"/whep/{session_id}/{site_id}/r/{resource}",
        site_id,
        check,
    )


async def whep_resource(request: Request) -> Response:
    session_id = request.path_params["session"]
    site_id = request.path_params["site"]
    resource_id = request.path_params["resource"]
    if (early := _resource_options(request)) is not None:
        return early
    if site_id == HOST:
        authorize(request, session_id, allow=ADMIN_OR_HOST)
    else:
        # The admin may end a hall's playback too (an operator clearing a stuck player).
        authorize(request, session_id, allow=SITE_OR_ADMIN, site_id=site_id)
    return await _resource(request, session_id, resource_id, site_id=site_id)


# -- the hybrid meeting: return feeds from the halls, the floor, the mosaic ----------------------


async def uplink_endpoint(request: Request) -> Response:
    """WHIP from a commune page: its hall camera and microphone (the return feed)."""
    session_id = request.path_params["session"]
    site_id = request.path_params["site"]
    if (early := _endpoint_options(request)) is not None:
        return early

    def check() -> object:
        return authorize(request, session_id, allow=SITE_ONLY, site_id=site_id)

    bridge = app_state(request).bridge
    return await _negotiate(
        request,
        session_id,
        lambda offer: bridge.publish(session_id, offer, site=site_id),
        lambda resource: f"/whip/{session_id}/{site_id}/r/{resource}",
        site_id,
        check,
    )


async def uplink_resource(request: Request) -> Response:
    session_id = request.path_params["session"]
    site_id = request.path_params["site"]
    if (early := _resource_options(request)) is not None:
        return early
    authorize(request, session_id, allow=SITE_ONLY, site_id=site_id)
    return await _resource(request, session_id, request.path_params["resource"], site_id=site_id)


async def host_view_endpoint(request: Request) -> Response:
    """WHEP for the district hall: the floor (/host/floor) or one hall's return feed
    (/host/uplink/{site}, a mosaic tile)."""
    session_id = request.path_params["session"]
    watches = request.path_params.get("site")
    if (early := _endpoint_options(request, whep=True)) is not None:
        return early

    def check() -> object:
        return authorize(request, session_id, allow=ADMIN_OR_HOST, site_id=watches)

    bridge = app_state(request).bridge
    return await _negotiate(
        request,
        session_id,
        lambda offer: bridge.subscribe(session_id, HOST, offer, watches=watches),
        lambda resource: f"/whep/{session_id}/{HOST}/r/{resource}",
        HOST,
        check,
    )


async def _resource(request: Request, session_id: str, resource_id: str, site_id: str) -> Response:
    bridge = app_state(request).bridge
    if bridge.resource_site(session_id, resource_id) != site_id:
        raise ApiError(
            404,
            "not_found",
            "There is no such WHIP/WHEP resource (it may have ended).",
        )
    if request.method == "DELETE":
        await bridge.delete(session_id, resource_id)
        return Response(status_code=200)
    if request.method == "PATCH":
        return await _patch(request, bridge, session_id, resource_id)
    return _not_allowed(RESOURCE_METHODS)


# -- trickle ICE and ICE restarts (RFC 9725 section 4.3) -----------------------------------------

FRAGMENT = sdpfrag.MEDIA_TYPE
# RFC 9110 section 8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE
_ENTITY_TAG = re.compile(r'\s*(W/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*(?:,|$)')
_ETAGC = re.compile(r"[\x21\x23-\x7e]+")


def _etag(bridge: Bridge, session_id: str, resource_id: str) -> dict[str, str]:
    """The ETag header of the resource's ICE session, quoted; none for a resource the bridge
    does not know."""
    tag = bridge.ice_tag(session_id, resource_id)
    if tag is None:
        return {}
    if not _ETAGC.fullmatch(tag):
        tag = hashlib.sha256(tag.encode()).hexdigest()[:24]  # what an ETag may not carry
    return {"ETag": f'"{tag}"'}


def _if_match(header: str, etag: str) -> bool:
    """Whether an If-Match header holds for the current ETag: "*", or the tag among those
    listed, compared strongly (a weak W/ tag never matches). A malformed header does not."""
    if header.strip() == "*":
        return True
    position, tags = 0, []
    while position < len(header):
        match = _ENTITY_TAG.match(header, position)
        if match is None:
            return False
        if match.group(1) is None:
            tags.append(f'"{match.group(2)}"')
        position = match.end()
    return etag in tags


async def _patch(request: Request, bridge: Bridge, session_id: str, resource_id: str) -> Response:
    """Trickled candidates (204), or an ICE restart (200 with the server's fragment): new ICE
    credentials sent with `If-Match: *`, as RFC 9725 section 4.3.2 has a restart sent."""
    etag = _etag(bridge, session_id, resource_id).get("ETag")
    if etag is None:
        raise ApiError(404, "not_found", "There is no such WHIP/WHEP resource (it may have ended).")
    body = await read_text(
        request, FRAGMENT, "A trickle ICE fragment", "invalid_fragment", MAX_OFFER_BYTES
    )
    if_match = request.headers.get("if-match")
    if if_match is not None and not _if_match(if_match, etag):
        raise ApiError(
            412,
            "precondition_failed",
            "If-Match names another ICE session of this resource (it restarted): "
            "send a new offer, or restart ICE with If-Match: *.",
            headers={"ETag": etag},
        )
    try:
        fragment = sdpfrag.parse(body)
    except ValueError as exc:
        raise ApiError(400, "invalid_fragment", f"Not a trickle ICE fragment: {exc}.") from exc
    candidates = list(fragment.candidates)
    # A restart carries new credentials (RFC 8839 section 4.4.1.1.1), sent with If-Match: * by
    # RFC 9725 section 4.3.2; new credentials with the current ETag are a restart all the same.
    restarts = (
        fragment.ufrag is not None
        and fragment.pwd is not None
        and fragment.ufrag != bridge.remote_ufrag(session_id, resource_id)
    )
    try:
        if restarts and fragment.ufrag is not None and fragment.pwd is not None:
            restart = await bridge.restart_ice(
                session_id, resource_id, fragment.ufrag, fragment.pwd, candidates, fragment.end
            )
        else:
            await bridge.add_candidates(session_id, resource_id, candidates, fragment.end)
            return Response(status_code=204, headers={"ETag": etag})
    except OfferError as exc:
        raise _offer_error(exc) from exc
    log.info("session %s: resource %s restarted ICE", session_id, resource_id)
    return Response(
        sdpfrag.answer(restart.ufrag, restart.pwd, restart.mid, restart.candidates),
        status_code=200,
        media_type=FRAGMENT,
        headers=_etag(bridge, session_id, resource_id),
    )


ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def routes() -> list[BaseRoute]:
    return [
        Route("/whip/{session}", whip_endpoint, methods=ALL_METHODS),
        Route("/whip/{session}/r/{resource}", whip_resource, methods=ALL_METHODS),
        Route("/whip/{session}/{site}", uplink_endpoint, methods=ALL_METHODS),
        Route("/whip/{session}/{site}/r/{resource}", uplink_resource, methods=ALL_METHODS),
        Route(f"/whep/{{session}}/{HOST}/floor", host_view_endpoint, methods=ALL_METHODS),
        Route(f"/whep/{{session}}/{HOST}/uplink/{{site}}", host_view_endpoint, methods=ALL_METHODS),
        Route("/whep/{session}/{site}", whep_endpoint, methods=ALL_METHODS),
        Route("/whep/{session}/{site}/r/{resource}", whep_resource, methods=ALL_METHODS),
    ]
