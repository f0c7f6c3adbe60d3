"""WHIP and WHEP as RFC 9725 and the WHEP draft describe them, through the ASGI app.

Media flowing between real peers is in tests/media/test_broadcast.py; here, what an HTTP client
sees: methods, status codes, headers, and that a refused offer changes nothing.
"""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest
from aiortc import RTCPeerConnection
from starlette.applications import Starlette

from diemcau.server.store import Store
from diemcau.signaling.turn import mint_credentials

from .conftest import World, admin_headers, bearer

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
    assert response.status_code == 204
    assert response.headers["accept-post"] == "application/sdp"
    assert "POST" in response.headers["allow"]


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "PATCH", "DELETE"])
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
        (
            offer(video_codecs="98 VP9/90000", audio_codecs=None),
            "application/sdp",
            406,
            "unsupported_codec",
        ),
        (offer(video_codecs="45 AV1/90000"), "application/sdp", 406, "unsupported_codec"),
        (offer(audio_codecs="0 PCMU/8000"), "application/sdp", 406, "unsupported_codec"),
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
    app.state.config = replace(app.state.config, turn_urls=urls, turn_secret="north", turn_ttl=600)
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
