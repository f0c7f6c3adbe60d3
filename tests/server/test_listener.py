"""server/listener.py on a real `diemcau serve`: WebSocket frames bounded before and after
`hello`, and the header, body and idle deadlines."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets

from diemcau.server.listener import FIRST_MESSAGE_BYTES, MESSAGE_FRAME_BYTES
from tests.conftest import Server, start_server, stop_server

SITES = [{"id": "nga-thanh", "name": "Xã Nga Thạnh"}]
# Small deadlines, so that the tests wait little; the closes are checked within 3x of them.
TIMEOUT = 1.0
# Connections open at once from one address; the frame test's 40 WebSockets fit.
PER_PEER = 50


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    seconds = str(TIMEOUT)
    running = start_server(
        tmp_path_factory.mktemp("listener") / "data",
        options=(
            *("--header-timeout", seconds, "--body-timeout", seconds, "--idle-timeout", "1"),
            *("--max-connections-per-address", str(PER_PEER)),
            # A proxy named elsewhere: loopback, where these tests connect from, is then a
            # client like any other (without the flag it is trusted as a proxy on this machine).
            *("--trusted-proxy", "10.77.0.2"),
        ),
    )
    yield running
    stop_server(running)


def rss(pid: int) -> int:
    """The process's resident memory, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def connect(server: Server) -> socket.socket:
    host, port = server.base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    return sock


def ws_handshake(server: Server, path: str = "/ws/whatever") -> socket.socket:
    sock = connect(server)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 101"), answer
    return sock


def frame_header(length: int, opcode: int = 0x1) -> bytes:
    """A client's text frame header announcing `length` bytes, masked with a zero key."""
    return bytes([0x80 | opcode, 0x80 | 127]) + struct.pack("!Q", length) + b"\0\0\0\0"


def closed_within(sock: socket.socket, seconds: float) -> bytes | None:
    """What the server sent before closing, or None if it was still open after `seconds`."""
    sock.settimeout(0.2)
    received = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionError:
            return received
        if not chunk:
            return received
        received += chunk
    return None


def test_anonymous_connections_cannot_make_the_server_hold_large_frames(server: Server) -> None:
    # Each connection announces a 16 MiB text frame before hello and sends 2 MiB of it: without
    # a bound before the payload is read, 40 of them would hold 80 MiB in the server.
    connections, payload = 40, 2 * 1024 * 1024
    before = rss(server.process.pid)
    sockets = [ws_handshake(server) for _ in range(connections)]
    refused = 0
    for sock in sockets:
        try:
            sock.sendall(frame_header(16 * 1024 * 1024))
            sock.sendall(b"x" * payload)
        except ConnectionError:
            refused += 1  # closed as soon as the header was read
    time.sleep(0.5)
    grown = rss(server.process.pid) - before
    closes = [closed_within(sock, 5) for sock in sockets]
    for sock in sockets:
        sock.close()
    assert grown < 16 * 1024 * 1024, f"the server grew by {grown / 2**20:.1f} MiB"
    # Every one was closed, those that could still read it with 1009 (message too big).
    assert all(close is not None for close in closes)
    codes = [struct.unpack("!H", c[2:4])[0] for c in closes if c and len(c) >= 4]
    assert set(codes) <= {1009}
    assert refused + len(codes) > 0


async def test_the_first_message_is_bounded_in_bytes_and_later_ones_by_the_frame_limit(
    server: Server,
) -> None:
    session = server.create_session(SITES, title="Khung")
    url = server.base_url.replace("http://", "ws://") + f"/ws/{session['id']}"
    # Before hello: one frame over 4 KiB (in UTF-8 bytes, fewer characters) closes with 1009.
    async with websockets.connect(url) as ws:
        await ws.send("ệ" * (FIRST_MESSAGE_BYTES // 3 + 1))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"type": "hello", "token": session["invites"][0]["token"]}))
        assert json.loads(await ws.recv())["type"] == "welcome"
        # After it: over the message size, an error and the connection stays open...
        await ws.send("x" * (FIRST_MESSAGE_BYTES + 1))
        assert (await next_of(ws, "error"))["code"] == "too_large"
        await ws.send(json.dumps({"type": "ping"}))
        await next_of(ws, "pong")
        # ...over the frame limit, closed with 1009 before the frame is kept.
        await ws.send("x" * (MESSAGE_FRAME_BYTES + 1))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def next_of(ws: websockets.ClientConnection, kind: str) -> dict[str, object]:
    async with asyncio.timeout(5):
        while True:
            message: dict[str, object] = json.loads(await ws.recv())
            if message["type"] == kind:
                return message


def trickle(sock: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """Send a byte at a time for up to `seconds`: whether the server closed, and what it said."""
    sock.settimeout(0.3)
    received = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            sock.sendall(b" ")
            chunk = sock.recv(4096)
        except TimeoutError:
            continue
        except ConnectionError:
            return True, received
        if not chunk:
            return True, received
        received += chunk
    return False, received


def test_headers_that_trickle_in_are_cut_off(server: Server) -> None:
    sock = connect(server)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    closed, received = trickle(sock, 3 * TIMEOUT)  # one byte of a header line at a time
    sock.close()
    assert closed
    assert b"200" not in received


def test_a_body_that_trickles_in_is_answered_408_and_closed(server: Server) -> None:
    sock = connect(server)
    sock.sendall(
        b"PUT /api/sites/nga-son HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + f"Authorization: Bearer {server.admin_token}\r\n".encode()
        + b"Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{"
    )
    closed, received = trickle(sock, 3 * TIMEOUT)
    sock.close()
    assert closed
    assert received.startswith(b"HTTP/1.1 408"), received
    assert b"request_timeout" in received
    with server.admin() as admin:
        assert admin.get("/api/sites/nga-son").status_code == 404  # nothing was written


def test_an_idle_keep_alive_connection_is_closed(server: Server) -> None:
    sock = connect(server)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    sock.settimeout(5)
    answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 200")
    rest = closed_within(sock, 3 * TIMEOUT)
    assert rest is not None  # closed, after the rest of the answer at most
    assert b"HTTP/1.1" not in rest
    sock.close()


def test_a_quick_client_is_not_hurt(server: Server) -> None:
    # Two requests on one connection, each within the deadlines.
    sock = connect(server)
    sock.settimeout(5)
    for _ in range(2):
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answer = b""
        while not answer.endswith(b'{"status":"ok"}'):
            answer += sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 200")
    sock.close()


def test_one_address_has_at_most_the_cap_of_connections_open_even_before_a_request(
    server: Server,
) -> None:
    held = [connect(server) for _ in range(PER_PEER)]  # none has sent a byte
    try:
        over = connect(server)
        over.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert closed_within(over, 3 * TIMEOUT) == b""  # closed unanswered
        over.close()
        held[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        held[0].settimeout(5)
        assert held[0].recv(4096).startswith(b"HTTP/1.1 200")
    finally:
        for sock in held:
            sock.close()
    # Once they are closed, the address may connect again.
    deadline = time.monotonic() + 5
    while True:
        sock = connect(server)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        sock.settimeout(5)
        try:
            answer = sock.recv(4096)
        except ConnectionError:
            answer = b""
        sock.close()
        if answer or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert answer.startswith(b"HTTP/1.1 200")
