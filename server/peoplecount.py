"""The hall camera's count over HTTP: the join page's estimate of the people in the room, every
30 s (web/js/headcam.js), written to the join log as a `people_count` event. Only the number
reaches the server: the picture never leaves the hall.

POST /api/sessions/{id}/sites/{site}/people_count   {"count": INT}   the site itself, its host,
                                                                    admin; 201 with the count

The same door as the headcount's (server/records.py) and the same refusals: an unknown or
removed site, a bad body, an ended session change nothing. The count is no command of the
meeting (nobody is told, the room keeps nothing of it), so it goes to the store's writer
directly; the report reads it back (server/attendance/camera.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from ..signaling.session import SessionState
from .api import route
from .auth import ANY_ROLE, authorize
from .bodies import read_count_body
from .errors import ApiError
from .state import app_state
from .store import Store
from .times import api_time


def routes() -> list[BaseRoute]:
    return [route("/api/sessions/{session_id}/sites/{site_id}/people_count", POST=people_count)]


async def people_count(request: Request) -> Response:
    session_id = request.path_params["session_id"]
    site_id = request.path_params["site_id"]
    authorize(request, session_id, allow=ANY_ROLE, site_id=site_id)
    state = app_state(request)
    session = state.store.get_session(session_id)
    assert session is not None  # authorize answered 404 otherwise
    invite = next((i for i in state.store.invites(session_id) if i.site_id == site_id), None)
    if invite is None:
        raise ApiError(404, "not_found", "This site is not invited to the session.")
    count = await read_count_body(request, "count")
    if session.state == SessionState.ENDED:
        raise ApiError(409, "session_ended", "This session has ended; its record is closed.")
    if invite.revoked_at is not None:  # the admin's or host's token still reaches here
        raise ApiError(409, "removed", "This site was removed from the session.")
    now = datetime.now(UTC)
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # as the store keeps it
    await state.writer.run(
        Store.append_event, session_id, "people_count", now, site_id=site_id, count=count
    )
    return JSONResponse({"site": site_id, "count": count, "ts": api_time(now)}, status_code=201)
