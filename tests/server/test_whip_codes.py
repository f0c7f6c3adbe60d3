"""The answer codes of every WHIP and WHEP address, as RFC 9725 and the WHEP draft give them:
one row per method, content type, token and session state.

The bridge here answers every offer (its own refusals are tests/media/test_offer.py's and
test_whip.py's); what is checked is the HTTP layer: status, error code, and the headers every
answer carries (CORS on all of them, errors included; WWW-Authenticate on a 401; Allow on a
405; no content on GET and HEAD).
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from starlette.applications import Starlette

from diemcau.media.bridge import Answer
from diemcau.server.state import app_state

from .conftest import ADMIN_TOKEN, World, admin_headers, stand_in_bridge

SDP = "application/sdp"
FRAGMENT = "application/trickle-ice-sdpfrag"
OFFER = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
ANSWER = "v=0\r\no=- 2 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
TRICKLE = (
    "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n"
    "a=candidate:1 1 udp 2122260223 10.77.0.2 61764 typ host\r\n"
)


class AnsweringBridge:
    """A bridge that answers every offer, with one program publisher ("pub") and one hall's
    player ("play", nga-thanh)."""

    def __init__(self) -> None:
        self.sites = {"pub": "", "play": "nga-thanh"}
        self.coming_up: dict[str, int] = {}  # connections not up yet, by site or "host"
        self.deleted: list[str] = []
        self.while_answering: list = []  # coroutine functions run before an answer

    def pending(self, session_id: str, who: str | None = None) -> int:
        return sum(self.coming_up.values()) if who is None else self.coming_up.get(who, 0)

    async def publish(self, session_id: str, offer_sdp: str, site: str | None = None) -> Answer:
        for step in self.while_answering:
            await step()
        return Answer("new", ANSWER)

    async def subscribe(
        self, session_id: str, site_id: str, offer_sdp: str, watches: str | None = None
    ) -> Answer:
        return Answer("new", ANSWER)

    def resource_site(self, session_id: str, resource_id: str) -> str | None:
        return self.sites.get(resource_id)

    def ice_tag(self, session_id: str, resource_id: str) -> str | None:
        return "tag" if resource_id in self.sites or resource_id == "new" else None

    def remote_ufrag(self, session_id: str, resource_id: str) -> str | None:
        return "peer"

    async def add_candidates(self, *args: object) -> None:
        pass

    async def delete(self, session_id: str, resource_id: str) -> bool:
        self.deleted.append(resource_id)
        return True

    async def close_session(self, session_id: str, reason: str = "closed") -> None:
        pass

    async def close(self) -> None:
        pass


@pytest.fixture
def bridge(app: Starlette) -> Iterator[AnsweringBridge]:
    yield from stand_in_bridge(app, AnsweringBridge())


ADDRESSES = {
    "whip": "/whip/{a}",
    "whep": "/whep/{a}/nga-thanh",
    "uplink": "/whip/{a}/nga-thanh",
    "floor": "/whep/{a}/host/floor",
    "tile": "/whep/{a}/host/uplink/nga-thanh",
    "whip resource": "/whip/{a}/r/pub",
    "whep resource": "/whep/{a}/nga-thanh/r/play",
    "gone resource": "/whip/{a}/r/gone",
}

# (method, address, content type, token, session state) -> (status, error code)
ROWS = [
    # OPTIONS, GET and HEAD need no token and say nothing of the session.
    ("OPTIONS", "whip", None, None, "scheduled", 200, None),
    ("OPTIONS", "whep", None, None, "ended", 200, None),
    ("OPTIONS", "whep resource", None, None, "live", 200, None),
    ("GET", "whip", None, None, "scheduled", 204, None),
    ("HEAD", "whip", None, None, "live", 204, None),
    ("GET", "whep", None, None, "scheduled", 204, None),
    ("HEAD", "whep", None, None, "scheduled", 200, None),
    ("HEAD", "floor", None, None, "live", 200, None),
    ("GET", "uplink", None, None, "live", 204, None),
    ("GET", "whip resource", None, None, "live", 204, None),
    ("HEAD", "whep resource", None, None, "live", 204, None),
    # Methods an address does not take.
    ("PUT", "whip", SDP, "host", "scheduled", 405, "method_not_allowed"),
    ("PATCH", "whip", FRAGMENT, "host", "live", 405, "method_not_allowed"),
    ("DELETE", "whep", None, "site", "live", 405, "method_not_allowed"),
    ("POST", "whip resource", SDP, "host", "live", 405, "method_not_allowed"),
    ("PUT", "whep resource", SDP, "site", "live", 405, "method_not_allowed"),
    # POST on a WHIP endpoint.
    ("POST", "whip", SDP, None, "scheduled", 401, "missing_token"),
    ("POST", "whip", SDP, None, "ended", 401, "missing_token"),
    ("POST", "whip", SDP, "bad", "scheduled", 401, "invalid_token"),
    ("POST", "whip", SDP, "site", "scheduled", 403, "forbidden_role"),
    ("POST", "whip", SDP, "host", "scheduled", 201, None),
    ("POST", "whip", SDP, "admin", "live", 201, None),
    ("POST", "whip", SDP, "host", "ended", 409, "session_ended"),
    ("POST", "whip", "text/plain", "host", "scheduled", 415, "unsupported_media_type"),
    ("POST", "whip", None, "host", "live", 415, "unsupported_media_type"),
    ("POST", "whip", "text/plain", "host", "ended", 409, "session_ended"),
    # POST on a WHEP endpoint: a not-yet-live session keeps its 201 (media follows).
    ("POST", "whep", SDP, "site", "scheduled", 201, None),
    ("POST", "whep", SDP, "site", "live", 201, None),
    ("POST", "whep", SDP, "site", "ended", 409, "session_ended"),
    ("POST", "whep", SDP, None, "live", 401, "missing_token"),
    ("POST", "whep", SDP, "other site", "live", 403, "wrong_site"),
    ("POST", "whep", SDP, "host", "live", 403, "forbidden_role"),
    ("POST", "whep", "text/plain", "site", "live", 415, "unsupported_media_type"),
    ("POST", "uplink", SDP, "site", "live", 201, None),
    ("POST", "uplink", SDP, "host", "live", 403, "forbidden_role"),
    ("POST", "floor", SDP, "host", "live", 201, None),
    ("POST", "tile", SDP, "host", "scheduled", 201, None),
    ("POST", "floor", SDP, "site", "live", 403, "forbidden_role"),
    # DELETE and PATCH on a resource.
    ("DELETE", "whip resource", None, "host", "live", 200, None),
    ("DELETE", "whip resource", None, None, "live", 401, "missing_token"),
    ("DELETE", "whep resource", None, "admin", "live", 200, None),
    ("DELETE", "gone resource", None, "host", "live", 404, "not_found"),
    ("PATCH", "whip resource", FRAGMENT, "host", "live", 204, None),
    ("PATCH", "whip resource", SDP, "host", "live", 415, "unsupported_media_type"),
    ("PATCH", "whip resource", None, "host", "live", 415, "unsupported_media_type"),
    ("PATCH", "whip resource", FRAGMENT, "bad", "live", 401, "invalid_token"),
    ("PATCH", "whep resource", FRAGMENT, "site", "scheduled", 204, None),
    ("PATCH", "whep resource", "text/plain", "site", "live", 415, "unsupported_media_type"),
    ("PATCH", "gone resource", FRAGMENT, "host", "live", 404, "not_found"),
]


def _token(world: World, who: str | None) -> str | None:
    return {
        None: None,
        "bad": "not-a-token",
        "admin": ADMIN_TOKEN,
        "host": world.host_a,
        "site": world.site(world.a, "nga-thanh"),
        "other site": world.site(world.a, "tan-loc"),
    }[who]


async def _put_in_state(client: httpx.AsyncClient, world: World, state: str) -> None:
    if state in ("live", "ended"):
        started = await client.post(f"/api/sessions/{world.a}/start", headers=admin_headers())
        assert started.status_code == 200
    if state == "ended":
        ended = await client.post(f"/api/sessions/{world.a}/end", headers=admin_headers())
        assert ended.status_code == 200


@pytest.mark.parametrize(
    ("method", "address", "content_type", "who", "state", "status", "code"),
    ROWS,
    ids=[f"{r[0]} {r[1]} {r[2]} {r[3]} {r[4]}" for r in ROWS],
)
async def test_answer_codes(
    client: httpx.AsyncClient,
    world: World,
    bridge: AnsweringBridge,
    method: str,
    address: str,
    content_type: str | None,
    who: str | None,
    state: str,
    status: int,
    code: str | None,
) -> None:
    await _put_in_state(client, world, state)
    headers = {}
    if (token := _token(world, who)) is not None:
        headers["Authorization"] = f"Bearer {token}"
    if content_type is not None:
        headers["Content-Type"] = content_type
    body = {SDP: OFFER, FRAGMENT: TRICKLE}.get(content_type or "", OFFER if content_type else "")
    response = await client.request(
        method, ADDRESSES[address].format(a=world.a), content=body, headers=headers
    )

    assert response.status_code == status, response.text
    # Every answer, errors included, can be read by a page on another origin.
    assert response.headers["access-control-allow-origin"] == "*"
    if code is not None:
        assert response.json()["error"] == code
        assert response.json()["message"]
    if status == 401:
        assert response.headers["www-authenticate"].startswith('Bearer realm="diemcau"')
    if status == 405:
        assert "POST" in response.headers["allow"] or "DELETE" in response.headers["allow"]
    if method in ("GET", "HEAD", "OPTIONS"):
        assert response.content == b""
        assert "GET" in response.headers.get("allow", "GET")
    if method == "HEAD" and address in ("whep", "floor"):
        assert response.headers["content-type"] == SDP
    if status == 201:
        assert response.text == ANSWER
        assert response.headers["location"].endswith("/r/new")
        assert response.headers["etag"] == '"tag"'
    if method == "OPTIONS":
        assert "Authorization" in response.headers["access-control-allow-headers"]


async def test_a_401_says_how_to_authenticate_everywhere(client: httpx.AsyncClient) -> None:
    """The admin API's 401s carry the challenge too; only WHIP/WHEP's carry CORS headers."""
    response = await client.get("/api/sessions")
    assert (response.status_code, response.json()["error"]) == (401, "missing_token")
    assert response.headers["www-authenticate"] == 'Bearer realm="diemcau"'
    assert "access-control-allow-origin" not in response.headers
    bad = await client.get("/api/sessions", headers={"Authorization": "Bearer nope"})
    assert bad.headers["www-authenticate"] == 'Bearer realm="diemcau", error="invalid_token"'


async def test_an_unknown_whip_address_is_a_json_404_with_cors(client: httpx.AsyncClient) -> None:
    response = await client.post("/whip/a/b/c/d/e", content=OFFER, headers={"Content-Type": SDP})
    assert (response.status_code, response.json()["error"]) == (404, "not_found")
    assert response.headers["access-control-allow-origin"] == "*"


async def test_a_redirect_carries_cors_too(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post(f"/whip/{world.a}/", content=OFFER, headers={"Content-Type": SDP})
    assert response.status_code == 307
    assert response.headers["location"].endswith(f"/whip/{world.a}")
    assert response.headers["access-control-allow-origin"] == "*"


async def test_a_link_may_not_pile_up_connections_coming_up(
    client: httpx.AsyncClient, world: World, bridge: AnsweringBridge
) -> None:
    token = world.site(world.a, "nga-thanh")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": SDP}
    bridge.coming_up = {"nga-thanh": 8}
    refused = await client.post(f"/whep/{world.a}/nga-thanh", content=OFFER, headers=headers)
    assert (refused.status_code, refused.json()["error"]) == (429, "too_many_connections")
    assert refused.headers["retry-after"] == "5"
    assert refused.headers["access-control-allow-origin"] == "*"
    # Another hall of the same session is not held back by it, nor is the console's mosaic.
    other = world.site(world.a, "tan-loc")
    taken = await client.post(
        f"/whep/{world.a}/tan-loc",
        content=OFFER,
        headers={"Authorization": f"Bearer {other}", "Content-Type": SDP},
    )
    assert taken.status_code == 201, taken.text
    bridge.coming_up = {"nga-thanh": 1, "host": 2047}
    busy = await client.post(f"/whep/{world.a}/nga-thanh", content=OFFER, headers=headers)
    assert (busy.status_code, busy.json()["error"], busy.headers["retry-after"]) == (
        503,
        "busy",
        "5",
    )


async def test_a_session_that_ends_while_an_offer_is_answered_gets_no_201(
    client: httpx.AsyncClient, world: World, bridge: AnsweringBridge
) -> None:
    async def end_it() -> None:
        response = await client.post(f"/api/sessions/{world.a}/end", headers=admin_headers())
        assert response.status_code == 200, response.text

    bridge.while_answering = [end_it]
    headers = {"Authorization": f"Bearer {world.host_a}", "Content-Type": SDP}
    refused = await client.post(f"/whip/{world.a}", content=OFFER, headers=headers)
    assert (refused.status_code, refused.json()["error"]) == (409, "session_ended")
    assert bridge.deleted == ["new"]  # the connection it had answered does not live on


async def test_a_token_revoked_while_an_offer_is_answered_gets_no_201(
    client: httpx.AsyncClient, world: World, bridge: AnsweringBridge, app: Starlette
) -> None:
    async def remove_the_hall() -> None:  # as the chair's removal does
        app_state(app).store.revoke_invite(world.a, "tan-loc", datetime.now(UTC))

    bridge.while_answering = [remove_the_hall]
    token = world.site(world.a, "tan-loc")
    refused = await client.post(
        f"/whip/{world.a}/tan-loc",
        content=OFFER,
        headers={"Authorization": f"Bearer {token}", "Content-Type": SDP},
    )
    assert refused.status_code == 403, refused.text
    assert bridge.deleted == ["new"]


async def test_no_file_descriptor_left_is_a_503_with_retry_after_logged_once(
    client: httpx.AsyncClient,
    world: World,
    bridge: AnsweringBridge,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def out_of_descriptors() -> None:
        raise OSError(errno.EMFILE, "Too many open files")

    bridge.while_answering = [out_of_descriptors]
    headers = {"Authorization": f"Bearer {world.host_a}", "Content-Type": SDP}
    with caplog.at_level(logging.ERROR, logger="diemcau.whip"):
        answers = [
            await client.post(f"/whip/{world.a}", content=OFFER, headers=headers) for _ in range(30)
        ]
    assert {(a.status_code, a.json()["error"], a.headers["retry-after"]) for a in answers} == {
        (503, "busy", "5")
    }
    assert all(a.headers["access-control-allow-origin"] == "*" for a in answers)
    lines = [r for r in caplog.records if "file descriptor" in r.getMessage()]
    assert len(lines) == 1  # then one a minute, with a count
    assert bridge.deleted == []  # nothing was answered, so nothing to close
