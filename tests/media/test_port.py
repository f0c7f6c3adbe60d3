"""The media port: real aioice connections, every one of them through one UDP port.

Halls are aioice connections with sockets of their own (as a browser has), controlling; the
server's side is aioice connections attached to one UdpPort on 10.77.0.1, controlled.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
from collections.abc import AsyncIterator

import aioice
import pytest
from aioice import stun

from diemcau.media import seams
from diemcau.media.port import UdpPort

pytestmark = pytest.mark.netns

SERVER = "10.77.0.1"
HALL = "10.77.0.2"


@pytest.fixture
async def port() -> AsyncIterator[UdpPort]:
    media = UdpPort(0, addresses=[SERVER])
    media.open()
    yield media
    media.close()


async def server_side(port: UdpPort) -> aioice.Connection:
    connection = aioice.Connection(ice_controlling=False)
    port.attach(connection)
    await connection.gather_candidates()
    return connection


async def hall_side() -> aioice.Connection:
    connection = aioice.Connection(ice_controlling=True, use_ipv6=False)
    await connection.gather_candidates()
    # Only the hall's address on the test link, as a browser behind a router has one.
    connection._local_candidates = [c for c in connection.local_candidates if c.host == HALL]
    for protocol in [p for p in connection._protocols if p.local_candidate.host != HALL]:
        connection._protocols.remove(protocol)
        protocol.transport.close()  # no socket of the hall's on the server's address
    return connection


async def connect(hall: aioice.Connection, server: aioice.Connection) -> None:
    """Signal both ways, as an offer and an answer would, then run ICE on both sides."""
    for a, b in ((hall, server), (server, hall)):
        a.remote_username, a.remote_password = b.local_username, b.local_password
        for candidate in b.local_candidates:
            await a.add_remote_candidate(candidate)
        await a.add_remote_candidate(None)
    await asyncio.wait_for(asyncio.gather(hall.connect(), server.connect()), 10)


def binding_request(username: str, password: str | None) -> bytes:
    request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    request.attributes["USERNAME"] = username
    request.attributes["PRIORITY"] = 1
    request.attributes["ICE-CONTROLLING"] = 1
    if password is not None:
        request.add_message_integrity(password.encode())
    request.add_fingerprint()
    return bytes(request)


def stray_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HALL, 0))
    sock.setblocking(False)
    return sock


async def answer(sock: socket.socket, within: float = 1.0) -> bytes:
    """The next datagram to sock; TimeoutError if none comes (the loop runs meanwhile)."""
    return await asyncio.wait_for(asyncio.get_running_loop().sock_recv(sock, 2048), within)


async def test_two_halls_behind_one_address_each_reach_their_own_connection(
    port: UdpPort,
) -> None:
    halls = [await hall_side(), await hall_side()]
    servers = [await server_side(port), await server_side(port)]
    try:
        # Every candidate the server gives is on the one port.
        assert {c.port for s in servers for c in s.local_candidates} == {port.port}
        await asyncio.gather(*(connect(h, s) for h, s in zip(halls, servers, strict=True)))
        # The same address, two ports: as two halls behind one NAT, or two players of a hall.
        addresses = [h._nominated[1].local_addr for h in halls]
        assert addresses[0][0] == addresses[1][0] == HALL and addresses[0] != addresses[1]
        for i, (hall, server) in enumerate(zip(halls, servers, strict=True)):
            await hall.send(f"from hall {i}".encode())
            assert await asyncio.wait_for(server.recv(), 5) == f"from hall {i}".encode()
            await server.send(f"to hall {i}".encode())
            assert await asyncio.wait_for(hall.recv(), 5) == f"to hall {i}".encode()
        assert port.stats.dropped == 0
        assert port.connections == 2
    finally:
        for connection in [*halls, *servers]:
            await connection.close()
    assert port.connections == 0


async def test_what_matches_no_connection_is_dropped_and_counted(port: UdpPort) -> None:
    server = await server_side(port)
    stray = stray_socket()
    target = (SERVER, port.port)
    try:
        stray.sendto(binding_request("nope:hall", "x" * 22), target)  # unknown ufrag
        stray.sendto(bytes([23, 254, 253]) + os.urandom(40), target)  # DTLS, unknown address
        stray.sendto(bytes([0x80, 96]) + os.urandom(100), target)  # RTP, unknown address
        stray.sendto(b"\x00\x01\x00\x08" + b"\x21\x12\xa4\x42" + os.urandom(12), target)  # torn
        # The right ufrag, the wrong password: answered 401 by aioice, the address not learned.
        stray.sendto(binding_request(f"{server.local_username}:hall", "y" * 22), target)
        await asyncio.sleep(0.2)
        stats = port.stats
        assert (stats.unknown_ufrag, stats.unknown_address, stats.malformed) == (1, 2, 1)
        assert stats.unauthenticated == 1
        response = stun.parse_message(await answer(stray))
        assert response.message_class == stun.Class.ERROR
        assert response.attributes["ERROR-CODE"][0] == 401
        with pytest.raises(TimeoutError):
            await answer(stray, 0.3)  # nothing else was answered
        # The wrong-password request taught the port nothing: still unknown.
        stray.sendto(bytes([23, 254, 253]) + os.urandom(40), target)
        await asyncio.sleep(0.1)
        assert port.stats.unknown_address == 3
        assert server._queue.empty()
    finally:
        stray.close()
        await server.close()


async def test_an_authenticated_check_teaches_the_port_its_address(port: UdpPort) -> None:
    server = await server_side(port)
    server.remote_username, server.remote_password = "hall", "h" * 22
    stray = stray_socket()
    target = (SERVER, port.port)
    try:
        stray.sendto(
            binding_request(f"{server.local_username}:hall", server.local_password), target
        )
        response = stun.parse_message(await answer(stray))
        assert response.message_class == stun.Class.RESPONSE
        assert response.attributes["XOR-MAPPED-ADDRESS"] == stray.getsockname()
        stray.sendto(bytes([23, 254, 253]) + b"dtls", target)
        await asyncio.sleep(0.1)
        assert await asyncio.wait_for(server._queue.get(), 1) == (
            bytes([23, 254, 253]) + b"dtls",
            1,
        )
        assert port.stats.dropped == 0
    finally:
        stray.close()
        await server.close()


async def test_a_check_for_a_connection_that_closed_is_dropped(port: UdpPort) -> None:
    hall, server = await hall_side(), await server_side(port)
    await connect(hall, server)
    ufrag, password = server.local_username, server.local_password
    await server.close()
    stray = stray_socket()
    try:
        stray.sendto(
            binding_request(f"{ufrag}:{hall.local_username}", password), (SERVER, port.port)
        )
        await asyncio.sleep(0.1)
        assert port.stats.unknown_ufrag == 1
        with pytest.raises(TimeoutError):
            await answer(stray, 0.3)
        await hall.send(b"after the close")  # from the nominated pair's address, now unknown
        await asyncio.sleep(0.1)
        assert port.stats.unknown_address == 1
    finally:
        stray.close()
        await hall.close()


async def test_a_username_fragment_in_use_is_taken_anew(port: UdpPort) -> None:
    first = await server_side(port)
    second = aioice.Connection(ice_controlling=False, local_username=first.local_username)
    port.attach(second)
    await second.gather_candidates()
    try:
        assert second.local_username != first.local_username
        assert port.connections == 2
    finally:
        await first.close()
        await second.close()


async def test_the_server_has_one_udp_port_however_many_connections(port: UdpPort) -> None:
    halls = [await hall_side() for _ in range(3)]
    servers = [await server_side(port) for _ in range(3)]
    try:
        await asyncio.gather(*(connect(h, s) for h, s in zip(halls, servers, strict=True)))
        listing = await asyncio.to_thread(
            subprocess.run, ["ss", "-uanp"], capture_output=True, text=True, check=True
        )
        ours = [line for line in listing.stdout.splitlines() if f"pid={os.getpid()}," in line]
        server_ports = {
            int(m.group(1)) for line in ours if (m := re.search(rf"{SERVER}:(\d+)\s", line))
        }
        assert server_ports == {port.port}
        assert len([line for line in ours if f"{SERVER}:" in line.split()[3]]) == 1
    finally:
        for connection in [*halls, *servers]:
            await connection.close()


async def test_public_addresses_come_first_in_the_answer() -> None:
    media = UdpPort(0, addresses=[SERVER], public_ips=["203.0.113.10"])
    media.open()
    try:
        candidates = media.candidates()
        assert [(c.host, c.port, c.type) for c in candidates] == [
            ("203.0.113.10", media.port, "host"),
            (SERVER, media.port, "host"),
        ]
        assert candidates[0].priority > candidates[1].priority
    finally:
        media.close()


async def test_a_taken_port_says_which() -> None:
    first = UdpPort(0, addresses=[SERVER])
    first.open()
    try:
        with pytest.raises(OSError, match=rf"cannot bind UDP port {first.port} on {SERVER}"):
            UdpPort(first.port, addresses=[SERVER]).open()
    finally:
        first.close()


def test_the_pinned_aioice() -> None:
    assert aioice.__version__ == seams.AIOICE_VERSION
