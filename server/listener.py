"""How `serve` and `demo` read connections: uvicorn with every read bounded before anyone has
said who they are.

uvicorn bounds an idle keep-alive connection (`timeout_keep_alive`) but not a request whose
headers or body trickle in (Slowloris), and its WebSocket frame limit is one global size. Two
small protocol subclasses add what is missing: a deadline for a request's headers and one for
its body, and a first WebSocket message (the control channel's `hello`) of a few KiB, checked by
the frame parser against the frame's announced length, before any of its payload is kept.
docs/api.md ("Limits") gives the values.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any, ClassVar

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.server import ServerProtocol

from . import logformat
from .config import Config

log = logging.getLogger("diemcau.listener")

# Before `hello` a client is anonymous: its first message (hello is ~300 bytes) may be 4 KiB.
FIRST_MESSAGE_BYTES = 4096
# After it, a frame may be this large; the control channel answers `too_large` to any message
# over signaling.protocol.MAX_MESSAGE_BYTES, and the connection stays open.
MESSAGE_FRAME_BYTES = 64 * 1024


class _FirstMessageBounded(ServerProtocol):
    """websockets' server side with a smaller bound on the first message. The parser reads the
    bound before each frame and refuses a frame whose announced length exceeds it (close 1009)
    before reading its payload; recv_frame runs before the next frame's bound is read, so the
    larger bound holds from the frame right after the first message."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_message_size = FIRST_MESSAGE_BYTES

    def recv_frame(self, frame: Frame) -> None:
        super().recv_frame(frame)
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT) and frame.fin:
            self.max_message_size = MESSAGE_FRAME_BYTES


class BoundedWebSocket(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The same settings as uvicorn's own, but the parser above.
        self.conn = _FirstMessageBounded(
            extensions=self.conn.available_extensions,
            max_size=MESSAGE_FRAME_BYTES,
            logger=logging.getLogger("uvicorn.error"),
        )


class BoundedHttp(H11Protocol):
    """uvicorn's h11 protocol with deadlines: a request's headers must be in within
    `header_timeout` of the connection being ready for them (opened, or its first byte after
    an idle keep-alive), its body within `body_timeout` of its headers. Past either the
    connection closes (a 408 first when the body was late and nothing was answered yet).

    And at most `per_peer` HTTP connections from one peer address that is not a trusted proxy,
    counted from accept() (a connection still sending its headers counts, which no ASGI
    middleware could see); one over it is closed at once. A connection upgraded to a WebSocket
    leaves this count for server/clientcap.py's."""

    header_timeout: ClassVar[float] = 10.0
    body_timeout: ClassVar[float] = 60.0
    per_peer: ClassVar[int] = 64
    trusted: ClassVar[frozenset[str]] = frozenset()
    # Open connections by peer address; each class bounded_http makes has its own.
    by_peer: ClassVar[Counter[str]] = Counter()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_for: str | None = None  # "headers" or "body"
        self._counted: str | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        peer = self.client[0] if self.client else None
        if peer is not None and peer not in self.trusted:
            if self.by_peer[peer] >= self.per_peer:
                log.debug("refused a connection from %s: %d open", peer, self.by_peer[peer])
                transport.close()
                return
            self.by_peer[peer] += 1
            self._counted = peer
        self._wait_for("headers", self.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        self._uncount()
        super().connection_lost(exc)

    def _uncount(self) -> None:
        if self._counted is not None:
            self.by_peer[self._counted] -= 1
            if self.by_peer[self._counted] <= 0:
                del self.by_peer[self._counted]
            self._counted = None

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Idle now: uvicorn's keep-alive timer runs; a next request's first byte restarts ours.
        if self.conn.their_state is not h11.SEND_BODY:
            self._stop_waiting()

    def _follow(self) -> None:
        if self.transport.get_protocol() is not self:  # upgraded to a WebSocket
            self._stop_waiting()
            self._uncount()
        elif self.conn.their_state is h11.IDLE:
            if self._waiting_for != "headers":
                self._wait_for("headers", self.header_timeout)
        elif self.conn.their_state is h11.SEND_BODY:
            if self._waiting_for != "body":
                self._wait_for("body", self.body_timeout)
        else:  # the request is all in; the application takes its time
            self._stop_waiting()

    def _wait_for(self, what: str, seconds: float) -> None:
        self._stop_waiting()
        self._waiting_for = what
        self._deadline = self.loop.call_later(seconds, self._too_late)

    def _stop_waiting(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = None
        self._waiting_for = None

    def _too_late(self) -> None:
        what, self._deadline, self._waiting_for = self._waiting_for, None, None
        if self.transport.is_closing() or self.transport.get_protocol() is not self:
            return
        if what == "body" and self.conn.our_state is h11.SEND_RESPONSE:
            body = b'{"error":"request_timeout","message":"The body came too slowly."}'
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ]
            try:
                self.transport.write(
                    self.conn.send(h11.Response(status_code=408, headers=headers))
                    + (self.conn.send(h11.Data(data=body)) or b"")
                    + (self.conn.send(h11.EndOfMessage()) or b"")
                )
            except h11.LocalProtocolError:
                pass
        log.info("closed a connection whose %s came too slowly (%s)", what, _peer(self.client))
        self.transport.close()


def _peer(client: tuple[str, int] | None) -> str:
    return "unknown" if client is None else client[0]


def bounded_http(config: Config) -> type[BoundedHttp]:
    """The protocol class with the config's deadlines and cap (uvicorn takes a class)."""
    settings = {
        "header_timeout": config.header_timeout,
        "body_timeout": config.body_timeout,
        "per_peer": config.max_connections_per_address,
        "trusted": frozenset(config.trusted_proxies),
        "by_peer": Counter(),
    }
    return type("BoundedHttp", (BoundedHttp,), settings)


def uvicorn_config(app: Any, config: Config, log_level: str, access_log: bool) -> uvicorn.Config:
    settings = uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        log_level=log_level,
        access_log=access_log,
        http=bounded_http(config),
        ws=BoundedWebSocket,
        ws_max_size=MESSAGE_FRAME_BYTES,
        timeout_keep_alive=config.idle_timeout,
        # The client address the application sees is the socket's: X-Forwarded-For is believed
        # only from --trusted-proxy, by server/clientcap.py.
        proxy_headers=False,
        # The fast path (media/seams.py) reads sockets through asyncio's own selector loop: named
        # here, so that uvicorn never picks another loop implementation when one is installed.
        loop="asyncio",
    )
    # uvicorn.Config has configured its loggers: they follow --log-format, redacted.
    logformat.adopt_uvicorn_loggers()
    return settings
