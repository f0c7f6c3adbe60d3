"""One connection's way up: connected within the deadline, or failed with a reason.

The bridge watches every peer connection it answers (Bridge._watch) until it comes up or never
will: a browser that died mid-ICE, a hall whose network lets nothing through, must not hold
memory until the session ends. The reason it gives for a connection that never came up, and the
candidate types the peer offered, go to the join log as an attempt_failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aiortc import RTCPeerConnection

from . import seams
from .route import Route, route_of

# How a connection that just came up came in: known at once, or within a second (see route()).
RouteSoon = Coroutine[Any, Any, "Route | None"]


class ConnectWatch:
    """One connection's way up, from its answer until it is connected, failed or closed."""

    def __init__(
        self,
        pc: RTCPeerConnection,
        timeout: float,
        on_failed: Callable[[str, tuple[str, ...]], Awaitable[None]],
        on_connected: Callable[[RouteSoon], Awaitable[None]] | None,
    ) -> None:
        self.pc = pc
        self.timeout = timeout
        self.on_failed = on_failed
        self.on_connected = on_connected
        self.connected = False
        self.place = ("", "")  # (session, the site or HOST): whose connection this is
        # The candidate types the peer offered, in its offer and trickled later.
        self.offered: set[str] = set()
        self._changed = asyncio.Event()
        pc.on("connectionstatechange", self._changed.set)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        pc = self.pc
        while pc.connectionState not in ("connected", "failed", "closed"):
            self._changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                break
        state = pc.connectionState
        if state == "connected":
            self.connected = True
            if self.on_connected is not None:
                await self.on_connected(self.route())
        elif state != "closed":
            await self.on_failed(self.reason(), tuple(sorted(self.offered)))

    async def route(self) -> Route | None:
        """How the peer came in. A peer-reflexive pair may be a relay whose candidate is still
        on its way in a PATCH (its checks outran it): that is worth a second's wait."""
        pair = seams.selected_pair(self.pc)
        for _ in range(20):
            if pair is None or pair[0].type != "prflx" or not seams.trickle_pending(self.pc):
                break
            await asyncio.sleep(0.05)
            pair = seams.selected_pair(self.pc)
        return route_of(*pair) if pair is not None else None

    def reason(self) -> str:
        """Why the connection did not come up: no candidate pair worked (before or after the
        deadline), or ICE did and the DTLS handshake did not."""
        states = seams.ice_states(self.pc)
        if "failed" in states:
            return "ice_failed"
        if states and states <= {"completed"}:
            return "dtls_failed"
        return "ice_timeout"
