"""Reaching halls across real network shapes (issue 10), in namespaces this module creates
(tests/netshape.py): the server behind 1:1 NAT, hall A behind masquerade, hall B behind a
router that drops all UDP, a real coturn. First the shape itself, then a real `diemcau serve`
in it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aioice.stun import TransactionFailed
from aioice.turn import create_turn_endpoint
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCIceServer
from playwright.async_api import Page, async_playwright

from tests import peers
from tests.conftest import Server, stop_server
from tests.e2e.conftest import CHROMIUM_ARGS, eventually, video_state
from tests.netshape import (
    HALL_A_PUBLIC,
    HALL_B_PUBLIC,
    RELAY_PORTS,
    SERVER_PRIVATE,
    SERVER_PUBLIC,
    TURN,
    TURN_PORT,
    NamespaceLoop,
    NetShape,
    ask_tcp,
    ask_udp,
    call_in,
    chromium_in,
    echo,
    netshape,
    run_in,
    turn_credentials,
)
from tests.peers import (
    AudioStreamTrack,
    EncodedVideoTrack,
    Viewer,
    encode_vp8,
    play,
    publish,
    wait_for,
)

pytestmark = pytest.mark.netns

TURN_SECRET = "coturn-static-auth-secret-for-tests"
ECHO_PORT = 7


@pytest.fixture(scope="module")
def shape(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetShape]:
    with netshape(tmp_path_factory.mktemp("netshape")) as built:
        built.start_turn(TURN_SECRET)
        yield built


@pytest.fixture
def server_echo(shape: NetShape) -> Iterator[None]:
    """An echo on the server's private address, answering with the address it saw."""
    with echo(shape.srv, SERVER_PRIVATE, ECHO_PORT):
        yield


# The shape, before any server runs in it.


def test_hall_a_reaches_the_server_only_at_its_public_address(
    shape: NetShape, server_echo: None
) -> None:
    # Both ways through the NATs: the server sees hall A as the masquerade's address.
    udp = ask_udp(shape.hall_a, SERVER_PUBLIC, ECHO_PORT)
    tcp = ask_tcp(shape.hall_a, SERVER_PUBLIC, ECHO_PORT)
    assert udp is not None and udp.startswith(f"{HALL_A_PUBLIC}:"), udp
    assert tcp is not None and tcp.startswith(f"{HALL_A_PUBLIC}:"), tcp
    assert ask_udp(shape.hall_a, SERVER_PRIVATE, ECHO_PORT) is None
    assert ask_tcp(shape.hall_a, SERVER_PRIVATE, ECHO_PORT) is None


def test_hall_b_reaches_the_server_over_tcp_but_not_udp(shape: NetShape, server_echo: None) -> None:
    tcp = ask_tcp(shape.hall_b, SERVER_PUBLIC, ECHO_PORT)
    assert tcp is not None and tcp.startswith(f"{HALL_B_PUBLIC}:"), tcp
    assert ask_udp(shape.hall_b, SERVER_PUBLIC, ECHO_PORT) is None
    assert ask_tcp(shape.hall_b, SERVER_PRIVATE, ECHO_PORT) is None


class _Received(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.first: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not self.first.done():
            self.first.set_result(data)


async def _relay_echo(username: str, password: str) -> tuple[tuple[str, int], bytes]:
    """Allocates on the TURN server over TCP and sends one datagram through the relay to the
    server's echo: the relayed address and what came back."""
    transport, protocol = await create_turn_endpoint(
        _Received, (TURN, TURN_PORT), username, password, transport="tcp"
    )
    try:
        relayed = transport.get_extra_info("sockname")
        transport.sendto(b"?", (SERVER_PUBLIC, ECHO_PORT))
        return relayed, await asyncio.wait_for(protocol.first, 5)
    finally:
        transport.close()


async def test_hall_b_allocates_a_relay_over_tcp_with_coturns_rest_credentials(
    shape: NetShape, server_echo: None
) -> None:
    username, password = turn_credentials(TURN_SECRET, "hall-b")
    with NamespaceLoop(shape.hall_b) as hall_b:
        (host, port), answer = await hall_b.run(_relay_echo(username, password))
        # The server sees the relay, not the hall.
        assert host == TURN and RELAY_PORTS[0] <= port <= RELAY_PORTS[1]
        assert answer.decode() == f"{TURN}:{port}"
        # use-auth-secret is really checked: another secret's credentials are refused.
        wrong = turn_credentials("another-secret", "hall-b")
        with pytest.raises(TransactionFailed):
            await hall_b.run(_relay_echo(*wrong))


def test_everything_is_removed_at_the_end(tmp_path: Path) -> None:
    with netshape(tmp_path, prefix=f"dcgone{os.getpid()}") as built:
        names = set(built.names.values())
        built.start_turn(TURN_SECRET)
        process = built.turn_server.process if built.turn_server else None
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert names.isdisjoint(line.split()[0] for line in listed.splitlines() if line)
    assert process is not None and process.poll() is not None


# A real `diemcau serve` in the server's namespace, behind the 1:1 NAT.

HTTP_PORT = 8080
UDP_PORT = 8189
CONNECT_TIMEOUT = 6.0
VIDEO_SIZE = (320, 240)
PUBLIC_URL = f"http://{SERVER_PUBLIC}:{HTTP_PORT}"
TURN_URLS = (f"turn:{TURN}:{TURN_PORT}?transport=udp", f"turn:{TURN}:{TURN_PORT}?transport=tcp")
SITES = [
    {"id": "nga-thanh", "name": "Xã Nga Thạnh"},  # hall A, aiortc
    {"id": "nga-hai", "name": "Xã Nga Hải"},  # hall B, aiortc
    {"id": "nga-an", "name": "Xã Nga An"},  # hall A, Chromium
    {"id": "nga-phu", "name": "Xã Nga Phú"},  # hall B, Chromium
    {"id": "nga-dien", "name": "Xã Nga Điền"},  # hall B, with a wrong TURN secret
]


@dataclass
class Live:
    """The server running in the shape, its session, and the district console publishing."""

    shape: NetShape
    server: Server
    session: dict[str, Any]

    def invite(self, site: str) -> dict[str, Any]:
        return next(i for i in self.session["invites"] if i["site"] == site)

    def events(self, kind: str, site: str) -> list[dict[str, Any]]:
        """The session's join log as the admin exports it: the `kind` events of `site`."""

        def read() -> str:
            with self.server.admin() as client:
                response = client.get(f"/api/sessions/{self.session['id']}/events")
                response.raise_for_status()
                return response.text

        lines = call_in(self.shape.srv, read).splitlines()
        return [e for e in map(json.loads, lines) if e["type"] == kind and e.get("site") == site]

    def udp_ports(self) -> set[int]:
        """The server process's local UDP ports, as `ss -uanp` in its namespace shows them."""
        listing = run_in(self.shape.srv, ["ss", "-uanp"]).stdout
        owner = f"pid={self.server.process.pid},"
        return {
            int(row.split()[3].rsplit(":", 1)[1]) for row in listing.splitlines() if owner in row
        }


@pytest.fixture(scope="module")
def server(shape: NetShape) -> Iterator[Server]:
    """`diemcau serve` on 10.0.0.2, telling halls 203.0.113.10 and handing out both TURN URLs;
    the admin API is reached from inside its namespace."""
    data_dir = shape.directory / "data"
    log_path = shape.directory / "server.log"
    token = secrets.token_urlsafe(32)
    argv = [str(Path(sys.executable).with_name("diemcau")), "serve", "--host", SERVER_PRIVATE]
    argv += ["--port", str(HTTP_PORT), "--udp-port", str(UDP_PORT), "--data", str(data_dir)]
    argv += ["--public-ip", SERVER_PUBLIC, "--public-url", PUBLIC_URL]
    argv += ["--connect-timeout", str(CONNECT_TIMEOUT)]
    for url in TURN_URLS:
        argv += ["--turn", url]
    env = {**os.environ, "DIEMCAU_ADMIN_TOKEN": token, "DIEMCAU_TURN_SECRET": TURN_SECRET}
    with log_path.open("ab") as log_file:
        process = shape.popen("srv", argv, stdout=log_file, stderr=subprocess.STDOUT, env=env)
    running = Server(f"http://{SERVER_PRIVATE}:{HTTP_PORT}", token, data_dir, process, log_path)
    deadline = time.monotonic() + 30
    while not call_in(shape.srv, _healthy, running.base_url):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"diemcau serve did not come up: {running.log()}")
        time.sleep(0.1)
    yield running
    stop_server(running)


def _healthy(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def live(shape: NetShape, server: Server) -> Iterator[Live]:
    """A session with the halls' sites, and the district console on the open internet
    publishing into it over WHIP for the whole module."""
    session = call_in(shape.srv, server.create_session, SITES, "Hội nghị xa")
    video = EncodedVideoTrack(encode_vp8(90, *VIDEO_SIZE))
    host = session["host"]
    with NamespaceLoop(shape.console) as console:
        publisher = console.wait(
            publish(host["whip_url"], host["token"], video=video, audio=AudioStreamTrack())
        )
        assert publisher.response.status_code == 201, publisher.response.text
        yield Live(shape, server, session)
        console.wait(publisher.pc.close())


async def _plays(viewer: Viewer) -> bool:
    """Video packets came and frames decoded: the broadcast really plays."""
    return await wait_for(lambda: viewer.decoded["video"] >= 10, within=20)


def _masked(address: str) -> str:
    return address.rsplit(".", 1)[0] + ".x"


async def test_hall_a_plays_through_the_public_ip(live: Live) -> None:
    invite = live.invite("nga-thanh")
    with NamespaceLoop(live.shape.hall_a) as hall_a:
        viewer = await hall_a.run(play(invite["whep_url"], invite["token"]))
        try:
            assert viewer.response.status_code == 201, viewer.response.text
            # The answer offers the public address, at the one UDP port.
            assert (SERVER_PUBLIC, UDP_PORT) in _candidate_addresses(viewer.response.text)
            assert await _plays(viewer), viewer.decoded
        finally:
            await hall_a.run(viewer.close())
    [join] = live.events("join", "nga-thanh")
    # The hall's checks reach the server from the masquerade's address (masked in exports),
    # an address the hall never signalled.
    assert (join["candidate"], join["protocol"]) == ("prflx", "udp"), join
    assert join["address"] == _masked(HALL_A_PUBLIC), join


def _candidate_addresses(sdp: str) -> list[tuple[str, int]]:
    """The (address, port) of every a=candidate line of an SDP."""
    found = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            parts = line.split()
            found.append((parts[4], int(parts[5])))
    return found


def _link_ice_servers(response: httpx.Response) -> list[RTCIceServer]:
    """The TURN servers a WHIP or WHEP 201 names in its Link headers (RFC 9725 section 4.6)."""
    servers = []
    for value in response.headers.get_list("link"):
        for link in _LINK.finditer(value):
            params = {
                name.lower(): re.sub(r"\\(.)", r"\1", quoted)
                for name, quoted in _PARAM.findall(link["params"])
            }
            if params.get("rel") == "ice-server":
                servers.append(
                    RTCIceServer(link["url"], params.get("username"), params.get("credential"))
                )
    return servers


_LINK = re.compile(r"<(?P<url>[^>]*)>(?P<params>(?:\s*;\s*[\w-]+=\"(?:[^\"\\]|\\.)*\")*)")
_PARAM = re.compile(r"([\w-]+)=\"((?:[^\"\\]|\\.)*)\"")


async def _play_through_turn(
    url: str, token: str, transport: str, monkeypatch: pytest.MonkeyPatch
) -> Viewer:
    """A WHEP player that cannot trickle: a first offer only to read the TURN servers from the
    Link headers, deleted at once, then the offer with the relay candidate (aiortc takes one
    TURN server: the one over `transport`)."""
    probe = await play(url, token)
    await probe.close()
    assert probe.response.status_code == 201 and probe.location, probe.response.text
    async with httpx.AsyncClient(base_url=PUBLIC_URL, timeout=10) as client:
        deleted = await client.delete(probe.location, headers={"Authorization": f"Bearer {token}"})
    assert deleted.status_code == 200, deleted.text
    servers = [s for s in _link_ice_servers(probe.response) if f"transport={transport}" in s.urls]
    assert servers, probe.response.headers.get_list("link")
    configuration = RTCConfiguration(iceServers=servers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
    with monkeypatch.context() as patched:
        patched.setattr(peers, "_configuration", lambda: configuration)
        return await play(url, token)


async def test_hall_b_plays_through_turn_over_tcp(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    invite = live.invite("nga-hai")
    with NamespaceLoop(live.shape.hall_b) as hall_b:
        viewer = await hall_b.run(
            _play_through_turn(invite["whep_url"], invite["token"], "tcp", monkeypatch)
        )
        try:
            assert viewer.response.status_code == 201, viewer.response.text
            assert await _plays(viewer), viewer.decoded
        finally:
            await hall_b.run(viewer.close())
    [join] = live.events("join", "nga-hai")
    assert (join["candidate"], join["protocol"]) == ("relay", "tcp"), join


async def test_one_udp_port_for_the_publisher_and_every_hall(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = live.invite("nga-thanh"), live.invite("nga-hai")
    with NamespaceLoop(live.shape.hall_a) as hall_a, NamespaceLoop(live.shape.hall_b) as hall_b:
        one = await hall_a.run(play(a["whep_url"], a["token"]))
        two = await hall_b.run(_play_through_turn(b["whep_url"], b["token"], "tcp", monkeypatch))
        try:
            assert await _plays(one) and await _plays(two), (one.decoded, two.decoded)
            assert live.udp_ports() == {UDP_PORT}
        finally:
            await hall_a.run(one.close())
            await hall_b.run(two.close())


# Chromium in the halls, as a commune hall's PC opens its link: mDNS host candidates and all.
BROWSER_ARGS = [a for a in CHROMIUM_ARGS if "WebRtcHideLocalIpsWithMdns" not in a]


@contextlib.asynccontextmanager
async def _hall_page(shape: NetShape, role: str, url: str) -> AsyncIterator[Page]:
    """The join page open in Debian's Chromium running in the hall's namespace."""
    wrapper = chromium_in(getattr(shape, role), shape.directory)
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=str(wrapper), args=BROWSER_ARGS)
        try:
            page = await browser.new_page()
            await page.goto(url)
            yield page
        finally:
            await browser.close()


async def _shows_broadcast(page: Page) -> bool:
    """The page's player shows the publisher's picture (its size, not a placeholder's), and
    it advances."""
    first = await video_state(page)
    if (first["w"], first["h"]) != VIDEO_SIZE:
        return False
    await asyncio.sleep(0.5)
    return (await video_state(page))["t"] > first["t"]


@pytest.mark.browser
async def test_chromium_in_hall_a_plays_through_the_public_ip(live: Live) -> None:
    async with _hall_page(live.shape, "hall_a", live.invite("nga-an")["join_url"]) as page:
        assert await eventually(lambda: _shows_broadcast(page), 30), await video_state(page)
        # The page offers mDNS host candidates: the server does not resolve them (no socket
        # on 5353) and its player and camera share the one port.
        assert live.udp_ports() == {UDP_PORT}
    [join] = live.events("join", "nga-an")
    # srflx when the page learnt its public address from the TURN server, prflx otherwise.
    assert join["candidate"] in ("prflx", "srflx") and join["protocol"] == "udp", join
    assert join["address"] == _masked(HALL_A_PUBLIC), join


@pytest.mark.browser
async def test_chromium_in_hall_b_plays_through_turn_over_tcp(live: Live) -> None:
    # The join page takes its TURN servers from /me's ice_servers.
    async with _hall_page(live.shape, "hall_b", live.invite("nga-phu")["join_url"]) as page:
        assert await eventually(lambda: _shows_broadcast(page), 30), await video_state(page)
    [join] = live.events("join", "nga-phu")
    assert (join["candidate"], join["protocol"]) == ("relay", "tcp"), join


async def test_hall_b_with_a_wrong_turn_secret_fails_clearly_within_the_connect_timeout(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    # coturn no longer shares the server's secret: the credentials the server mints fail.
    wrong = live.shape.start_turn("not-the-secret-the-server-has")
    invite = live.invite("nga-dien")
    try:
        with NamespaceLoop(live.shape.hall_b) as hall_b:
            viewer = await hall_b.run(
                _play_through_turn(invite["whep_url"], invite["token"], "tcp", monkeypatch)
            )
            try:
                assert viewer.response.status_code == 201, viewer.response.text
                # Not a hang: once --connect-timeout passes, the server gives up and says so.
                assert await wait_for(
                    lambda: live.events("attempt_failed", "nga-dien"),
                    within=CONNECT_TIMEOUT * 3,
                    step=0.5,
                )
            finally:
                await hall_b.run(viewer.close())
        turn_log = wrong.log()
    finally:
        live.shape.start_turn(TURN_SECRET)
    [failed] = live.events("attempt_failed", "nga-dien")
    assert (failed["reason"], failed["offered"]) == ("ice_timeout", ["host"]), failed
    assert live.events("join", "nga-dien") == []
    [line] = [line for line in live.server.log().splitlines() if "site nga-dien could not" in line]
    assert "WARNING" in line and "TURN secret" in line, line
    # It was the secret: coturn refused the credentials minted for this hall.
    assert "Cannot find credentials of user <" in turn_log and ":nga-dien>" in turn_log
