"""WHIP and WHEP as RFC 9725 and the WHEP draft describe them, through the ASGI app.

Media flowing between real peers is in tests/media/test_broadcast.py; here, what an HTTP client
sees: methods, status codes, headers, and that a refused offer changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from starlette.applications import Starlette

from diemcau.media.bridge import IceRestart, OfferError
from diemcau.server import whip
from diemcau.server.state import app_state
from diemcau.server.store import Store
from diemcau.signaling import sdpfrag
from diemcau.signaling.turn import mint_credentials

from .conftest import ADMIN_TOKEN, World, admin_headers, bearer, stand_in_bridge

FINGERPRINT = ":".join(["AB"] * 32)


def offer(
    video_codecs: str = "96 VP8/90000",
    audio_codecs: str | None = "111 opus/48000/2",
    direction: str = "sendonly",
) -> str:
    """A minimal but complete offer: ICE credentials, DTLS fingerprint, one m-line per kind."""
    lines = ["v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", "t=0 0"]
    sections = [("video", video_codecs), ("audio", audio_codecs)]
    mids = [str(i) for i, (_, codecs) in enumerate(sections) if codecs]
    lines.append("a=group:BUNDLE " + " ".join(mids))
    for mid, (kind, codecs) in enumerate(sections):
        if not codecs:
            continue
        entries = [c.split(" ", 1) for c in codecs.split(",")]
        lines += [
            f"m={kind} 9 UDP/TLS/RTP/SAVPF {' '.join(pt for pt, _ in entries)}",
            "c=IN IP4 0.0.0.0",
            f"a=mid:{mid}",
            f"a={direction}",
            "a=rtcp-mux",
            *[f"a=rtpmap:{pt} {name}" for pt, name in entries],
            "a=ice-ufrag:abcd",
            "a=ice-pwd:abcdefghijklmnopqrstuvwx",
            f"a=fingerprint:sha-256 {FINGERPRINT}",
            "a=setup:actpass",
        ]
    return "\r\n".join(lines) + "\r\n"


def sdp_headers(token: str) -> dict[str, str]:
    return {**bearer(token), "Content-Type": "application/sdp"}


@pytest.mark.parametrize("path", ["/whip/{a}", "/whep/{a}/nga-thanh"])
async def test_options_advertises_sdp(client: httpx.AsyncClient, world: World, path: str) -> None:
    response = await client.options(path.format(a=world.a))
    assert response.status_code == 200  # issue 11: was 204
    assert response.headers["accept-post"] == "application/sdp"
    assert "POST" in response.headers["allow"]


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", ["/whip/{a}", "/whep/{a}/nga-thanh"])
async def test_reserved_methods_on_endpoints_are_405(
    client: httpx.AsyncClient, world: World, path: str, method: str
) -> None:
    response = await client.request(method, path.format(a=world.a), headers=bearer(world.host_a))
    assert response.status_code == 405
    assert "POST" in response.headers["allow"]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (offer(), "text/plain", 415, "unsupported_media_type"),
        ("hello", "application/sdp", 400, "invalid_offer"),
        (b"v=0\xff\xfe", "application/sdp", 400, "invalid_offer"),
        ("v=0\r\n" + "a=x\r\n" * 20000, "application/sdp", 413, "body_too_large"),
        # Codec refusals are 422 (RFC 9725 section 4.2; issue 11: were 406).
        (
            offer(video_codecs="98 VP9/90000", audio_codecs=None),
            "application/sdp",
            422,
            "unsupported_codec",
        ),
        (offer(video_codecs="45 AV1/90000"), "application/sdp", 422, "unsupported_codec"),
        (offer(audio_codecs="0 PCMU/8000"), "application/sdp", 422, "unsupported_codec"),
        # What the bridge would only half serve (media/offer.py).
        (offer(direction="recvonly"), "application/sdp", 422, "not_sending"),
        (offer(direction="inactive"), "application/sdp", 422, "not_sending"),
        (
            offer(video_codecs="96 VP8/90000", audio_codecs="96 VP8/90000").replace(
                "m=audio", "m=video"
            ),
            "application/sdp",
            422,
            "too_many_tracks",
        ),
        (
            offer().replace("a=rtcp-mux", "a=rtcp-mux\r\na=rid:h send", 1),
            "application/sdp",
            422,
            "simulcast_unsupported",
        ),
    ],
)
async def test_bad_offers_are_refused_and_change_nothing(
    client: httpx.AsyncClient,
    world: World,
    store: Store,
    body: str | bytes,
    content_type: str,
    status: int,
    code: str,
) -> None:
    response = await client.post(
        f"/whip/{world.a}",
        content=body,
        headers={**bearer(world.host_a), "Content-Type": content_type},
    )
    assert (response.status_code, response.json()["error"]) == (status, code), response.text
    assert response.json()["message"]
    session = store.get_session(world.a)
    assert session is not None and session.state == "scheduled"
    assert store.events(world.a) == []


async def test_refusals_name_what_the_offer_asked_for(
    client: httpx.AsyncClient, world: World, store: Store
) -> None:
    vp9 = await client.post(
        f"/whip/{world.a}",
        content=offer(video_codecs="98 VP9/90000,99 AV1/90000"),
        headers=sdp_headers(world.host_a),
    )
    assert (vp9.status_code, vp9.json()["error"]) == (422, "unsupported_codec")
    assert vp9.json()["message"] == (
        "the offer's video codecs are VP9, AV1; the bridge takes VP8 or H.264"
    )
    assert vp9.headers["access-control-allow-origin"] == "*"
    site = world.site(world.a, "nga-thanh")
    for path, token in [
        (f"/whep/{world.a}/nga-thanh", site),
        (f"/whep/{world.a}/host/floor", world.host_a),
    ]:
        sending = await client.post(path, content=offer(), headers=sdp_headers(token))
        assert (sending.status_code, sending.json()["error"]) == (422, "not_receiving"), path
        assert "sendonly" in sending.json()["message"]
    assert store.events(world.a) == []


@pytest.mark.netns
async def test_a_session_whose_only_publisher_never_connects_stays_scheduled(
    client: httpx.AsyncClient, world: World, app: Starlette, store: Store
) -> None:
    """Publishing goes live when the publisher's first media packet arrives, not at POST."""
    app_state(app).bridge.connect_timeout = 0.3
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # no STUN server asked
    pc.addTransceiver("video", direction="sendonly")
    pc.addTransceiver("audio", direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    await pc.close()
    # Its candidates stripped and its own connection closed: its ICE goes nowhere.
    sdp = "".join(
        line
        for line in pc.localDescription.sdp.splitlines(keepends=True)
        if not line.startswith("a=candidate:")
    )
    posted = await client.post(f"/whip/{world.a}", content=sdp, headers=sdp_headers(world.host_a))
    assert posted.status_code == 201, posted.text
    location = posted.headers["location"]
    resource = location.rsplit("/", 1)[1]
    # Past its deadline the bridge closes it: the resource is gone, nothing started.
    for _ in range(100):
        if app_state(app).bridge.resource_site(world.a, resource) is None:
            break
        await asyncio.sleep(0.05)
    gone = await client.delete(location, headers=bearer(world.host_a))
    assert gone.status_code == 404
    session = store.get_session(world.a)
    assert session is not None and session.state == "scheduled" and session.started_at is None
    assert store.events(world.a) == []


async def test_whip_needs_the_host_token(client: httpx.AsyncClient, world: World) -> None:
    cases = [
        ({}, 401, "missing_token"),
        (bearer("nope"), 401, "invalid_token"),
        (bearer(world.site(world.a, "nga-thanh")), 403, "forbidden_role"),
        (bearer(world.host_b), 403, "wrong_session"),
    ]
    for headers, status, code in cases:
        response = await client.post(
            f"/whip/{world.a}",
            content=offer(),
            headers={**headers, "Content-Type": "application/sdp"},
        )
        assert (response.status_code, response.json()["error"]) == (status, code)


async def test_ended_session_refuses_publishing_and_playback(
    client: httpx.AsyncClient, world: World
) -> None:
    ended = await client.post(f"/api/sessions/{world.a}/end", headers=admin_headers())
    assert ended.status_code == 200
    whip = await client.post(f"/whip/{world.a}", content=offer(), headers=sdp_headers(world.host_a))
    assert (whip.status_code, whip.json()["error"]) == (409, "session_ended")
    whep = await client.post(
        f"/whep/{world.a}/nga-thanh",
        content=offer(direction="recvonly"),
        headers=sdp_headers(world.site(world.a, "nga-thanh")),
    )
    assert (whep.status_code, whep.json()["error"]) == (409, "session_ended")


async def test_revoked_site_cannot_play(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post(
        f"/whep/{world.a}/ubnd",
        content=offer(direction="recvonly"),
        headers=sdp_headers(world.site(world.a, "ubnd")),
    )
    assert (response.status_code, response.json()["error"]) == (403, "revoked")


@pytest.mark.parametrize("method", ["DELETE", "PATCH"])
async def test_unknown_resources_are_404(
    client: httpx.AsyncClient, world: World, method: str
) -> None:
    response = await client.request(
        method, f"/whip/{world.a}/r/nothing-here", headers=bearer(world.host_a)
    )
    assert (response.status_code, response.json()["error"]) == (404, "not_found")


async def test_whip_and_whep_answer_cors_preflight(client: httpx.AsyncClient, world: World) -> None:
    response = await client.options(
        f"/whep/{world.a}/nga-thanh",
        headers={"Origin": "https://player.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.headers["access-control-allow-origin"] == "*"
    assert "Location" in response.headers["access-control-expose-headers"]
    assert "Authorization" in response.headers["access-control-allow-headers"]


async def test_the_admin_may_end_a_halls_playback_a_host_may_not(
    client: httpx.AsyncClient, world: World
) -> None:
    path = f"/whep/{world.a}/nga-thanh/r/nothing-here"
    as_admin = await client.delete(path, headers=admin_headers())
    assert (as_admin.status_code, as_admin.json()["error"]) == (404, "not_found")
    as_host = await client.delete(path, headers=bearer(world.host_a))
    assert (as_host.status_code, as_host.json()["error"]) == (403, "forbidden_role")


@pytest.mark.netns
async def test_every_201_carries_one_link_header_a_turn_server(
    client: httpx.AsyncClient, world: World, app: Starlette
) -> None:
    urls = ("turn:198.51.100.7:3478?transport=udp", "turns:198.51.100.7:443?transport=tcp")
    state = app_state(app)
    state.config = replace(state.config, turn_urls=urls, turn_secret="north", turn_ttl=600)
    site = world.site(world.a, "nga-thanh")
    # (address, token, direction, whom the credentials are for)
    posts = [
        (f"/whip/{world.a}", world.host_a, "sendonly", "host"),
        (f"/whep/{world.a}/nga-thanh", site, "recvonly", "nga-thanh"),
        (f"/whip/{world.a}/nga-thanh", site, "sendonly", "nga-thanh"),
        (f"/whep/{world.a}/host/floor", world.host_a, "recvonly", "host"),
    ]
    for path, token, direction, identity in posts:
        pc = RTCPeerConnection()
        pc.addTransceiver("video", direction=direction)
        pc.addTransceiver("audio", direction=direction)
        await pc.setLocalDescription(await pc.createOffer())
        try:
            response = await client.post(
                path, content=pc.localDescription.sdp, headers=sdp_headers(token)
            )
        finally:
            await pc.close()
        assert response.status_code == 201, response.text
        assert response.headers["etag"].startswith('"')  # the ICE session's, for PATCH
        links = response.headers.get_list("link")
        assert len(links) == len(urls)
        for link, url in zip(links, urls, strict=True):
            assert link.startswith(f'<{url}>; rel="ice-server"; username="')
            assert link.endswith('"; credential-type="password"')
            # Minted for this client: `<expiry>:<identity>`, with coturn's HMAC of it.
            expiry, whom = link.split('username="')[1].split('"')[0].split(":")
            assert whom == identity
            credential = mint_credentials("north", identity, 0, int(expiry))[1]
            assert f'credential="{credential}"' in link
        await client.delete(response.headers["location"], headers=bearer(token))


# -- trickle ICE and ICE restarts: PATCH on a resource ------------------------------------------

FRAGMENT = "application/trickle-ice-sdpfrag"
# Inside the test namespace (tests/netns-run): the real bridge checks it.
CANDIDATE = "candidate:1 1 udp 2122260223 10.77.0.2 61764 typ host"
SERVER_CANDIDATE = "candidate:2 1 udp 2130706431 10.77.0.1 8189 typ host"
TRICKLE = f"m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na={CANDIDATE}\r\na=end-of-candidates\r\n"
RESTART = (
    "a=ice-ufrag:n3wU\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
    f"m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na={CANDIDATE}\r\n"
)


class IceBridge:
    """The bridge as PATCH sees it: one program publisher ("pub") and one hall's player
    ("play", nga-thanh), each in its own ICE session; what it was told, in order."""

    def __init__(self) -> None:
        self.sites = {"pub": "", "play": "nga-thanh"}
        self.tags = {"pub": "tag1", "play": "tag7"}
        self.calls: list[tuple] = []

    def resource_site(self, session_id: str, resource_id: str) -> str | None:
        return self.sites.get(resource_id)

    def ice_tag(self, session_id: str, resource_id: str) -> str | None:
        return self.tags.get(resource_id)

    def remote_ufrag(self, session_id: str, resource_id: str) -> str | None:
        return "0ldU" if resource_id in self.sites else None

    async def add_candidates(
        self, session_id: str, resource_id: str, mid_candidates: list, end: bool
    ) -> None:
        if any(mid != "0" for mid, _ in mid_candidates):
            raise OfferError(400, "invalid_candidate", "the session has no media section 1")
        self.calls.append(("add", resource_id, mid_candidates, end))

    async def restart_ice(
        self,
        session_id: str,
        resource_id: str,
        ufrag: str,
        pwd: str,
        mid_candidates: list,
        end: bool,
    ) -> IceRestart:
        self.calls.append(("restart", resource_id, ufrag, pwd, mid_candidates, end))
        self.tags[resource_id] += "x"
        return IceRestart("s3rv", "serverpasswordserverpwd", [SERVER_CANDIDATE], "0")

    async def close(self) -> None:
        pass


@pytest.fixture
def ice_bridge(app: Starlette) -> Iterator[IceBridge]:
    yield from stand_in_bridge(app, IceBridge())


def fragment_headers(token: str, if_match: str | None = None) -> dict[str, str]:
    headers = {**bearer(token), "Content-Type": FRAGMENT}
    if if_match is not None:
        headers["If-Match"] = if_match
    return headers


async def test_trickled_candidates_reach_the_connection(
    client: httpx.AsyncClient, world: World, ice_bridge: IceBridge
) -> None:
    response = await client.patch(
        f"/whip/{world.a}/r/pub", content=TRICKLE, headers=fragment_headers(world.host_a, '"tag1"')
    )
    assert response.status_code == 204, response.text
    assert response.headers["etag"] == '"tag1"'
    assert response.headers["access-control-allow-origin"] == "*"
    assert ice_bridge.calls == [("add", "pub", [("0", CANDIDATE)], True)]
    # Without If-Match too, and on a hall's player with its own token.
    player = await client.patch(
        f"/whep/{world.a}/nga-thanh/r/play",
        content=TRICKLE,
        headers=fragment_headers(world.site(world.a, "nga-thanh")),
    )
    assert player.status_code == 204, player.text
    assert ice_bridge.calls[-1] == ("add", "play", [("0", CANDIDATE)], True)


async def test_an_ice_restart_answers_the_servers_fragment_and_a_new_etag(
    client: httpx.AsyncClient, world: World, ice_bridge: IceBridge
) -> None:
    path = f"/whip/{world.a}/r/pub"
    response = await client.patch(
        path, content=RESTART, headers=fragment_headers(world.host_a, "*")
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == FRAGMENT
    assert response.headers["etag"] == '"tag1x"'
    assert response.headers["access-control-allow-origin"] == "*"
    assert sdpfrag.parse(response.text) == sdpfrag.Fragment(
        "s3rv", "serverpasswordserverpwd", (("0", SERVER_CANDIDATE),), end=True
    )
    assert ice_bridge.calls == [
        ("restart", "pub", "n3wU", "abcdefghijklmnopqrstuvwx", [("0", CANDIDATE)], False)
    ]
    # The old ICE session's tag no longer matches; the new one does.
    stale = await client.patch(
        path, content=TRICKLE, headers=fragment_headers(world.host_a, '"tag1"')
    )
    assert (stale.status_code, stale.json()["error"]) == (412, "precondition_failed")
    assert stale.headers["etag"] == '"tag1x"'
    fresh = await client.patch(
        path, content=TRICKLE, headers=fragment_headers(world.host_a, '"tag1x"')
    )
    assert fresh.status_code == 204


@pytest.mark.parametrize(
    ("resource", "body", "content_type", "if_match", "status", "code"),
    [
        ("pub", TRICKLE, "application/sdp", None, 415, "unsupported_media_type"),
        ("pub", TRICKLE, None, None, 415, "unsupported_media_type"),
        ("pub", offer(), FRAGMENT, None, 400, "invalid_fragment"),
        ("pub", "hello", FRAGMENT, None, 400, "invalid_fragment"),
        ("pub", b"a=end-of-candidates\xff", FRAGMENT, None, 400, "invalid_fragment"),
        ("pub", "a=x\r\n" * 20000, FRAGMENT, None, 413, "body_too_large"),
        ("pub", TRICKLE, FRAGMENT, '"tag7"', 412, "precondition_failed"),
        ("pub", TRICKLE, FRAGMENT, 'W/"tag1"', 412, "precondition_failed"),
        ("pub", TRICKLE, FRAGMENT, "tag1", 412, "precondition_failed"),
        ("pub", TRICKLE.replace("mid:0", "mid:1"), FRAGMENT, None, 400, "invalid_candidate"),
        ("gone", TRICKLE, FRAGMENT, "*", 404, "not_found"),
    ],
)
async def test_bad_patches_are_refused_and_change_nothing(
    client: httpx.AsyncClient,
    world: World,
    ice_bridge: IceBridge,
    resource: str,
    body: str | bytes,
    content_type: str | None,
    if_match: str | None,
    status: int,
    code: str,
) -> None:
    headers = {**bearer(world.host_a)}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if if_match is not None:
        headers["If-Match"] = if_match
    response = await client.patch(f"/whip/{world.a}/r/{resource}", content=body, headers=headers)
    assert (response.status_code, response.json()["error"]) == (status, code), response.text
    assert response.json()["message"]
    assert response.headers["access-control-allow-origin"] == "*"
    assert ice_bridge.calls == []
    assert ice_bridge.tags == {"pub": "tag1", "play": "tag7"}


class Tagged:
    def __init__(self, tag: str | None) -> None:
        self.tag = tag

    def ice_tag(self, session_id: str, resource_id: str) -> str | None:
        return self.tag


def test_the_etag_is_the_ice_tag_quoted() -> None:
    assert whip._etag(Tagged("aB3d"), "s", "r") == {"ETag": '"aB3d"'}
    assert whip._etag(Tagged(None), "s", "r") == {}
    # What an entity-tag may not carry is digested.
    odd = whip._etag(Tagged('a "b"'), "s", "r")["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{24}"', odd)


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        ("*", True),
        (' "tag1" ', True),
        ('"other", "tag1"', True),
        ('"other","tag1",', True),
        ('W/"tag1"', False),
        ('"tag1', False),
        ("", False),
        ('"tag1" junk', False),
    ],
)
def test_if_match_compares_entity_tags_strongly(header: str, matches: bool) -> None:
    assert whip._if_match(header, '"tag1"') is matches


async def test_patch_is_authorised_as_delete_is(
    client: httpx.AsyncClient, world: World, ice_bridge: IceBridge
) -> None:
    nga_thanh = world.site(world.a, "nga-thanh")
    cases = [
        (f"/whip/{world.a}/r/pub", {}, 401, "missing_token"),
        (f"/whip/{world.a}/r/pub", bearer(nga_thanh), 403, "forbidden_role"),
        (f"/whip/{world.a}/r/pub", bearer(world.host_b), 403, "wrong_session"),
        (f"/whep/{world.a}/tan-loc/r/play", bearer(nga_thanh), 403, "wrong_site"),
        (f"/whep/{world.a}/nga-thanh/r/play", bearer(world.host_a), 403, "forbidden_role"),
        # Another's resource under one's own address is not found, as for DELETE.
        (
            f"/whep/{world.a}/tan-loc/r/play",
            bearer(world.site(world.a, "tan-loc")),
            404,
            "not_found",
        ),
    ]
    for path, headers, status, code in cases:
        for method in ("PATCH", "DELETE"):
            response = await client.request(
                method, path, content=TRICKLE, headers={**headers, "Content-Type": FRAGMENT}
            )
            assert (response.status_code, response.json()["error"]) == (status, code), (
                method,
                path,
            )
    assert ice_bridge.calls == []
    as_admin = await client.patch(
        f"/whep/{world.a}/nga-thanh/r/play", content=TRICKLE, headers=fragment_headers(ADMIN_TOKEN)
    )
    assert as_admin.status_code == 204


async def _real_offer(direction: str) -> str:
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction=direction)
    pc.addTransceiver("audio", direction=direction)
    await pc.setLocalDescription(await pc.createOffer())
    await pc.close()
    return pc.localDescription.sdp


@pytest.mark.netns
async def test_new_credentials_with_the_current_etag_are_a_restart_too(
    client: httpx.AsyncClient, world: World, ice_bridge: IceBridge
) -> None:
    # RFC 9725 has a restart sent with If-Match: *; a client that names the current ICE
    # session instead still restarts, since its fragment carries new credentials.
    response = await client.patch(
        f"/whip/{world.a}/r/pub", content=RESTART, headers=fragment_headers(world.host_a, '"tag1"')
    )
    assert response.status_code == 200, response.text
    assert [call[0] for call in ice_bridge.calls] == ["restart"]
    # The current credentials with If-Match: * are a trickle, not a restart.
    same = RESTART.replace("n3wU", "0ldU")
    trickled = await client.patch(
        f"/whep/{world.a}/nga-thanh/r/play",
        content=same,
        headers=fragment_headers(world.site(world.a, "nga-thanh"), "*"),
    )
    assert trickled.status_code == 204, trickled.text
    assert [call[0] for call in ice_bridge.calls] == ["restart", "add"]


async def test_the_bridge_takes_trickled_candidates_and_restarts_ice(
    client: httpx.AsyncClient, world: World
) -> None:
    token = world.site(world.a, "nga-thanh")
    posted = await client.post(
        f"/whep/{world.a}/nga-thanh",
        content=await _real_offer("recvonly"),
        headers=sdp_headers(token),
    )
    assert posted.status_code == 201, posted.text
    etag, location = posted.headers["etag"], posted.headers["location"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 2
    answer_ufrag = next(
        line.split(":", 1)[1]
        for line in posted.text.splitlines()
        if line.startswith("a=ice-ufrag:")
    )
    trickle = f"m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na={CANDIDATE}\r\n"
    added = await client.patch(location, content=trickle, headers=fragment_headers(token, etag))
    assert added.status_code == 204, added.text
    unknown_mid = await client.patch(
        location, content=trickle.replace("mid:0", "mid:7"), headers=fragment_headers(token, etag)
    )
    assert (unknown_mid.status_code, unknown_mid.json()["error"]) == (400, "invalid_candidate")

    restarted = await client.patch(location, content=RESTART, headers=fragment_headers(token, "*"))
    assert restarted.status_code == 200, restarted.text
    fragment = sdpfrag.parse(restarted.text)
    assert fragment.ufrag is not None and fragment.ufrag != answer_ufrag
    assert fragment.candidates and fragment.end
    assert restarted.headers["etag"] != etag
    stale = await client.patch(location, content=trickle, headers=fragment_headers(token, etag))
    assert stale.status_code == 412
    fresh = await client.patch(
        location, content=trickle, headers=fragment_headers(token, restarted.headers["etag"])
    )
    assert fresh.status_code == 204, fresh.text
    assert (await client.delete(location, headers=bearer(token))).status_code == 200


@pytest.mark.netns
async def test_a_resource_deleted_before_it_connects_leaves_nothing_behind(
    client: httpx.AsyncClient,
    world: World,
    app: Starlette,
    store: Store,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A client that cannot trickle POSTs once for the Link headers, DELETEs, and offers again
    with the TURN servers it learnt."""
    app_state(app).bridge.connect_timeout = 0.3
    token = world.site(world.a, "nga-thanh")
    for _ in range(2):
        posted = await client.post(
            f"/whep/{world.a}/nga-thanh",
            content=await _real_offer("recvonly"),
            headers=sdp_headers(token),
        )
        assert posted.status_code == 201, posted.text
        deleted = await client.delete(posted.headers["location"], headers=bearer(token))
        assert deleted.status_code == 200
        again = await client.delete(posted.headers["location"], headers=bearer(token))
        assert again.status_code == 404
    # Past the connect deadline: a deleted resource is not a failed attempt.
    await asyncio.sleep(1.0)
    assert store.events(world.a) == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
