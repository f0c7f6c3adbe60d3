"""server/clientcap.py: a cap on what one client address has open at once, and whose
X-Forwarded-For is believed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
import websockets

from diemcau.server.clientcap import client_address
from tests.conftest import Server, start_server, stop_server

CAP = 3
PROXIES = frozenset({"127.0.0.1", "10.77.0.2"})


@pytest.mark.parametrize(
    ("peer", "forwarded", "address"),
    [
        # Not a trusted proxy: its header is not believed.
        ("198.51.100.9", ["203.0.113.7"], "198.51.100.9"),
        # A trusted proxy: the hop it was reached from.
        ("127.0.0.1", ["203.0.113.7"], "203.0.113.7"),
        # Anyone may write the left of the header: only the right-hand end is believed...
        ("127.0.0.1", ["192.0.2.1, 203.0.113.7"], "203.0.113.7"),
        # ...through a chain of trusted proxies, up to the first hop that is not one.
        ("127.0.0.1", ["192.0.2.1, 203.0.113.7, 10.77.0.2"], "203.0.113.7"),
        ("127.0.0.1", ["192.0.2.1", "203.0.113.7"], "203.0.113.7"),  # two header lines
        # No header, or garbage: the proxy itself.
        ("127.0.0.1", [], "127.0.0.1"),
        ("127.0.0.1", ["not an address"], "127.0.0.1"),
        ("127.0.0.1", ["203.0.113.7, junk"], "127.0.0.1"),
        (None, ["203.0.113.7"], None),
    ],
)
def test_client_address(peer: str | None, forwarded: list[str], address: str | None) -> None:
    assert client_address(peer, forwarded, PROXIES) == address


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(
        tmp_path_factory.mktemp("clientcap") / "data",
        options=("--max-connections-per-address", str(CAP), "--trusted-proxy", "127.0.0.1"),
    )
    yield running
    stop_server(running)


def ws_url(server: Server) -> str:
    return server.base_url.replace("http://", "ws://") + "/ws/any"


def forwarded_for(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def test_one_address_has_at_most_the_cap_open(server: Server) -> None:
    # Anonymous control connections (no hello yet) from one client behind the proxy.
    client = forwarded_for("203.0.113.7")
    held = [await websockets.connect(ws_url(server), additional_headers=client) for _ in range(CAP)]
    try:
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(ws_url(server), additional_headers=client)
        assert refused.value.response.status_code == 403
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            over = await http.get("/healthz", headers=client)
            assert over.status_code == 429
            assert over.json()["error"] == "too_many_connections"
            assert int(over.headers["retry-after"]) >= 1
            # Another client behind the same proxy is not held back by the first.
            assert (await http.get("/healthz", headers=forwarded_for("203.0.113.8"))).is_success
        # One closes: one more may open, and it works.
        await held.pop().close()
        async with asyncio.timeout(5):
            while True:
                try:
                    again = await websockets.connect(ws_url(server), additional_headers=client)
                    break
                except websockets.InvalidStatus:
                    await asyncio.sleep(0.05)  # the server has not seen the close yet
        held.append(again)
        await again.send(json.dumps({"type": "hello", "token": "nope"}))
        assert json.loads(await again.recv())["code"] == "invalid_token"
    finally:
        for ws in held:
            await ws.close()
