"""deploy/turnserver.conf as it ships, in a real coturn: it grants the credentials diemcau mints,
and its relay reaches diemcau's own address but no other private one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aioice import stun
from aioice.turn import TurnClientUdpProtocol

from diemcau.signaling.turn import mint_credentials
from tests.coturn import ADDRESS, Coturn, start_coturn

pytestmark = pytest.mark.netns

CONF = Path(__file__).parents[2] / "deploy" / "turnserver.conf"
SECRET = "the-deploy-configurations-secret"
# allowed-peer-ip in deploy/turnserver.conf: diemcau in the server room.
DIEMCAU_PRIVATE = "10.0.0.2"


@pytest.fixture(scope="module")
def coturn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coturn]:
    running = start_coturn(tmp_path_factory.mktemp("deploy-coturn"), SECRET, base=CONF)
    yield running
    running.stop()


@pytest.fixture
async def allocation(coturn: Coturn) -> AsyncIterator[TurnClientUdpProtocol]:
    username, password = mint_credentials(SECRET, "nga-thanh", 600, time.time())
    server = (ADDRESS, coturn.port)
    transport, protocol = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: TurnClientUdpProtocol(server, username, password, 600, 300), remote_addr=server
    )
    async with asyncio.timeout(10):
        await protocol.connect()
    yield protocol
    async with asyncio.timeout(10):
        await protocol.delete()
    transport.close()


def test_the_shipped_configuration_keeps_its_safeguards() -> None:
    settings = {line.strip() for line in CONF.read_text().splitlines()}
    for needed in ("use-auth-secret", "tls-listening-port=443", "no-multicast-peers", "no-cli"):
        assert needed in settings
    assert any(s.startswith("static-auth-secret=CHANGE-ME") for s in settings)


@pytest.mark.parametrize(
    ("peer", "allowed"),
    [
        (DIEMCAU_PRIVATE, True),
        ("203.0.113.10", True),  # a public address: diemcau's --public-ip
        ("192.168.1.2", False),
        ("10.0.0.3", False),
        ("172.16.5.4", False),
        ("127.0.0.1", False),
        ("169.254.1.1", False),
        ("100.64.0.1", False),
        ("224.0.0.251", False),
    ],
)
async def test_the_relay_reaches_diemcau_and_no_private_network(
    allocation: TurnClientUdpProtocol, peer: str, allowed: bool
) -> None:
    async with asyncio.timeout(10):
        if allowed:
            await allocation.channel_bind(0x4000, (peer, 8189))
        else:
            with pytest.raises(stun.TransactionFailed) as refused:
                await allocation.channel_bind(0x4000, (peer, 8189))
            assert refused.value.response.attributes["ERROR-CODE"][0] == 403
