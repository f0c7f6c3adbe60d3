"""A cap on the requests and WebSockets one client address has open at once.

The address is the socket's peer, unless that peer is one of the trusted reverse proxies
(`serve --trusted-proxy`): then it is the last address of X-Forwarded-For that is not itself a
trusted proxy (each proxy appends the address it was reached from, so only the right-hand end
is believed). Over the cap an HTTP request gets 429 with Retry-After and a WebSocket is refused
before it is accepted. Connections that never send a whole request are bounded by
server/listener.py's deadlines instead: they reach no application.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import ApiError, send_error

RETRY_AFTER = "5"


def client_address(
    peer: str | None, forwarded_for: Iterable[str], trusted: frozenset[str]
) -> str | None:
    """The client's address as far as it can be believed (see the module's docstring)."""
    if peer is None or peer not in trusted:
        return peer
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",")]
    address = peer
    for hop in reversed(hops):
        if address not in trusted:
            break
        try:
            address = str(ipaddress.ip_address(hop))
        except ValueError:
            break  # a garbled hop: the last believable one stands
    return address


def normalise_proxy(text: str) -> str:
    """An address for --trusted-proxy, or ValueError."""
    return str(ipaddress.ip_address(text))


class ConnectionCap:
    """ASGI middleware: at most `limit` requests and WebSockets open per client address."""

    def __init__(self, app: ASGIApp, limit: int, trusted_proxies: Iterable[str] = ()) -> None:
        self.app = app
        self.limit = limit
        self.trusted = frozenset(trusted_proxies)
        self.open: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        peer = scope.get("client")
        forwarded = [
            value.decode("latin-1")
            for name, value in scope.get("headers", [])
            if name == b"x-forwarded-for"
        ]
        address = client_address(peer[0] if peer else None, forwarded, self.trusted)
        if address is None:
            await self.app(scope, receive, send)
            return
        if self.open[address] >= self.limit:
            await _refuse(scope, send, self.limit)
            return
        self.open[address] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.open[address] -= 1
            if self.open[address] <= 0:
                del self.open[address]


async def _refuse(scope: Scope, send: Send, limit: int) -> None:
    if scope["type"] == "websocket":
        # Refused before it is accepted: the handshake is answered 403.
        await send({"type": "websocket.close", "code": 1008, "reason": "too many connections"})
        return
    await send_error(
        send,
        ApiError(
            429,
            "too_many_connections",
            f"At most {limit} requests may be open at once from one address.",
            headers={"Retry-After": RETRY_AFTER},
        ),
    )
