"""Reaching halls across real network shapes (issue 10), in namespaces this module creates
(tests/netshape.py): the server behind 1:1 NAT, hall A behind masquerade, hall B behind a
router that drops all UDP, a real coturn. First the shape itself, then a real `diemcau serve`
in it."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from aioice.stun import TransactionFailed
from aioice.turn import create_turn_endpoint

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
    echo,
    netshape,
    turn_credentials,
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
