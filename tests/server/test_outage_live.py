"""Technical outage or organisational absence (issue 15 §5), with a real `diemcau serve`: real
control channels (the halls' join pages) and real aiortc halls, the network faults made with
nftables inside the test's namespace (tests/netns-run, tests/linkfaults.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from tests import linkfaults
from tests.conftest import Server, start_server, stop_server
from tests.linkfaults import candidate_ports
from tests.peers import Viewer, play, wait_for

pytestmark = pytest.mark.netns

SITES = [
    {"id": "nga-thanh", "name": "Xã Nga Thạnh"},  # never opens its link
    {"id": "nga-hai", "name": "Xã Nga Hải"},  # its page opens, its media is blocked
    {"id": "nga-dien", "name": "Xã Nga Điền"},  # connects, then loses its network
    {"id": "nga-son", "name": "Thị trấn Nga Sơn"},  # there throughout
]
CONNECT_TIMEOUT = 3


@asynccontextmanager
async def page(server: Server, session: dict[str, Any], token: str) -> AsyncIterator[None]:
    """A hall's join page as the server sees it: its control channel, open."""
    url = server.base_url.replace("http://", "ws://") + f"/ws/{session['id']}"
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"type": "hello", "token": token}))
        async with asyncio.timeout(10):
            welcome = json.loads(await ws.recv())
        assert welcome["type"] == "welcome", welcome
        yield


async def blocked_play(url: str, token: str, cut: Callable[[set[int]], None]) -> RTCPeerConnection:
    """A WHEP player whose network lets no UDP through: its candidates' ports are cut from
    before its offer goes out."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
    pc.addTransceiver("video", direction="recvonly")
    pc.addTransceiver("audio", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    cut(candidate_ports(pc.localDescription.sdp))
    async with httpx.AsyncClient(timeout=20) as client:
        response = await client.post(
            url,
            content=pc.localDescription.sdp,
            headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 201, response.text
    await pc.setRemoteDescription(RTCSessionDescription(sdp=response.text, type="answer"))
    return pc


def site_events(server: Server, session_id: str, site: str) -> list[dict[str, Any]]:
    with server.admin() as client:
        lines = client.get(f"/api/sessions/{session_id}/events").text.splitlines()
    return [e for e in map(json.loads, lines) if e.get("site") == site]


def kinds(server: Server, session_id: str, site: str) -> list[tuple[str, str | None]]:
    return [(e["type"], e.get("reason")) for e in site_events(server, session_id, site)]


async def test_never_opened_media_blocked_and_network_lost(tmp_path: Path) -> None:
    server = await asyncio.to_thread(
        start_server, tmp_path / "data", None, None, ("--connect-timeout", str(CONNECT_TIMEOUT))
    )
    viewers: list[Viewer] = []
    blocked: RTCPeerConnection | None = None
    try:
        session = server.create_session(SITES, title="Hội nghị có sự cố")
        sid = session["id"]
        invite = {i["site"]: i for i in session["invites"]}
        with server.admin() as client:
            assert client.post(f"/api/sessions/{sid}/start").status_code == 200
        async with AsyncExitStack() as pages:
            for site in ("nga-hai", "nga-dien", "nga-son"):
                await pages.enter_async_context(page(server, session, invite[site]["token"]))
            with linkfaults.cut() as cut:
                for site in ("nga-son", "nga-dien"):
                    viewers.append(await play(invite[site]["whep_url"], invite[site]["token"]))
                    joined = await wait_for(
                        lambda site=site: ("join", None) in kinds(server, sid, site), 20
                    )
                    assert joined, kinds(server, sid, site)
                # nga-dien's network goes: nothing the server sends reaches it any more.
                cut(candidate_ports(viewers[1].pc.localDescription.sdp))
                blocked = await blocked_play(
                    invite["nga-hai"]["whep_url"], invite["nga-hai"]["token"], cut
                )
                assert await wait_for(
                    lambda: any(k == "attempt_failed" for k, _ in kinds(server, sid, "nga-hai")),
                    CONNECT_TIMEOUT + 20,
                ), server.log()[-2000:]
                # ICE consent lost: about 30 s in aioice.
                assert await wait_for(
                    lambda: ("leave", "failed") in kinds(server, sid, "nga-dien"), 90
                ), kinds(server, sid, "nga-dien")
        with server.admin() as client:
            assert client.post(f"/api/sessions/{sid}/end").status_code == 200
            # A short session: the lost hall's half minute is most of it, unless all is asked.
            report = client.get(f"/api/sessions/{sid}/attendance?present_coverage=1").json()
            xlsx = client.get(f"/api/sessions/{sid}/attendance?format=xlsx")
        assert xlsx.status_code == 200

        by_site = {s["site"]: s for s in report["sites"]}
        told = {site: (s["status"], s["cause"], s["cause_reason"]) for site, s in by_site.items()}
        assert told["nga-thanh"] == ("absent", "never_opened", None)
        assert told["nga-hai"][:2] == ("absent", "media_failed")
        assert told["nga-hai"][2] in ("ice_timeout", "ice_failed"), told
        # Connected, then silent: there, but partly, its network lost.
        assert told["nga-dien"] == ("partial", "network_lost", "failed")
        # Partial too by so strict a rule (it came a second after the start), but nothing lost.
        assert told["nga-son"][1:] == (None, None)
        # Each page that opened is in the record once, with nothing but its site; the hall
        # that never opened its link has no event at all.
        for site in ("nga-hai", "nga-dien", "nga-son"):
            opened = [e for e in site_events(server, sid, site) if e["type"] == "page_open"]
            assert [sorted(e) for e in opened] == [["chain", "session", "site", "ts", "type"]]
        assert site_events(server, sid, "nga-thanh") == []
        [failed] = [e for e in site_events(server, sid, "nga-hai") if e["type"] == "attempt_failed"]
        assert failed["reason"] == told["nga-hai"][2]
    finally:
        for viewer in viewers:
            await viewer.close()
        if blocked is not None:
            await blocked.close()
        await asyncio.to_thread(stop_server, server)
