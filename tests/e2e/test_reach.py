"""Reaching halls across real network shapes (issue 10), in namespaces this module creates
(tests/netshape.py): the server behind 1:1 NAT, hall A behind masquerade, hall B behind a
router that drops all UDP, a real coturn. First the shape itself, then a real `diemcau serve`
in it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aioice.stun import TransactionFailed
from aioice.turn import create_turn_endpoint
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCIceServer

from tests import peers
from tests.conftest import Server, stop_server
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
    echo,
    netshape,
    turn_credentials,
)
from tests.peers import (
    AudioStreamTrack,
    EncodedVideoTrack,
    Publisher,
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
PUBLIC_URL = f"http://{SERVER_PUBLIC}:{HTTP_PORT}"
TURN_URLS = (f"turn:{TURN}:{TURN_PORT}?transport=udp", f"turn:{TURN}:{TURN_PORT}?transport=tcp")
SITES = [
    {"id": "nga-thanh", "name": "Xã Nga Thạnh"},  # hall A, aiortc
    {"id": "nga-hai", "name": "Xã Nga Hải"},  # hall B, aiortc
    {"id": "nga-an", "name": "Xã Nga An"},  # hall A, Chromium
    {"id": "nga-phu", "name": "Xã Nga Phú"},  # hall B, Chromium
    {"id": "nga-dien", "name": "Xã Nga Điền"},  # hall B, with a wrong TURN secret
]


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
def session(shape: NetShape, server: Server) -> dict[str, Any]:
    created: dict[str, Any] = call_in(shape.srv, server.create_session, SITES, "Hội nghị xa")
    return created


@pytest.fixture(scope="module")
def broadcast(shape: NetShape, session: dict[str, Any]) -> Iterator[Publisher]:
    """The district console on the open internet, publishing over WHIP for the whole module."""
    video = EncodedVideoTrack(encode_vp8(90))
    host = session["host"]
    with NamespaceLoop(shape.console) as console:
        publisher = console.wait(
            publish(host["whip_url"], host["token"], video=video, audio=AudioStreamTrack())
        )
        assert publisher.response.status_code == 201, publisher.response.text
        yield publisher
        console.wait(publisher.pc.close())


def _invite(session: dict[str, Any], site: str) -> dict[str, Any]:
    return next(i for i in session["invites"] if i["site"] == site)


def _events(shape: NetShape, server: Server, session_id: str) -> list[dict[str, Any]]:
    def read() -> str:
        with server.admin() as client:
            response = client.get(f"/api/sessions/{session_id}/events")
            response.raise_for_status()
            return response.text

    return [json.loads(line) for line in call_in(shape.srv, read).splitlines() if line]


def _joins(shape: NetShape, server: Server, session_id: str, site: str) -> list[dict[str, Any]]:
    return [
        e
        for e in _events(shape, server, session_id)
        if e["type"] == "join" and e.get("site") == site
    ]


async def _plays(viewer: Viewer) -> bool:
    """Video packets came and frames decoded: the broadcast really plays."""
    return await wait_for(lambda: viewer.decoded["video"] >= 10, within=20)


async def test_hall_a_plays_through_the_public_ip(
    shape: NetShape, server: Server, session: dict[str, Any], broadcast: Publisher
) -> None:
    invite = _invite(session, "nga-thanh")
    with NamespaceLoop(shape.hall_a) as hall_a:
        viewer = await hall_a.run(play(invite["whep_url"], invite["token"]))
        try:
            assert viewer.response.status_code == 201, viewer.response.text
            # The answer offers the public address, at the one UDP port.
            assert (SERVER_PUBLIC, UDP_PORT) in _candidate_addresses(viewer.response.text)
            assert await _plays(viewer), viewer.decoded
        finally:
            await hall_a.run(viewer.close())
    [join] = _joins(shape, server, session["id"], "nga-thanh")
    # The hall's checks reach the server from the masquerade's address (masked in exports),
    # an address the hall never signalled.
    assert (join["candidate"], join["protocol"]) == ("prflx", "udp"), join
    assert join["address"] == HALL_A_PUBLIC.rsplit(".", 1)[0] + ".x", join


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
    shape: NetShape,
    server: Server,
    session: dict[str, Any],
    broadcast: Publisher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    invite = _invite(session, "nga-hai")
    with NamespaceLoop(shape.hall_b) as hall_b:
        viewer = await hall_b.run(
            _play_through_turn(invite["whep_url"], invite["token"], "tcp", monkeypatch)
        )
        try:
            assert viewer.response.status_code == 201, viewer.response.text
            assert await _plays(viewer), viewer.decoded
        finally:
            await hall_b.run(viewer.close())
    [join] = _joins(shape, server, session["id"], "nga-hai")
    assert (join["candidate"], join["protocol"]) == ("relay", "tcp"), join
