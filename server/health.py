"""What `/healthz` and `/readyz` answer: is this node working, and should traffic come here.

`/healthz` is for monitoring: 200 `{"status": "ok"}` while everything the node depends on works,
else 503 `{"status": "failing", "reason": ...}` naming each problem: the database cannot be
written (disk full, a lock held elsewhere: the attendance record has a gap), Redis (with
--redis-url) does not answer within a second, or the media UDP port is not bound.

`/readyz` is for load balancers and orchestrators: 200 `{"status": "ready"}` from the moment the
service is up (crash recovery done, the UDP port bound) until it begins to stop, else 503
`{"status": "not_ready", "reason": ...}`. A full disk or an unreachable Redis fails /healthz but
not /readyz: halls still get the broadcast from this node, and taking the only node out of a
proxy's rotation would cut them all off; someone must be alerted instead.
"""

from __future__ import annotations

import asyncio
import enum

from starlette.requests import Request
from starlette.responses import JSONResponse

from ..media.port import UdpPort
from ..signaling.bus import Bus
from .state import app_state
from .store import Store

# How long /healthz waits for Redis's answer before it calls Redis unreachable.
REDIS_TIMEOUT = 1.0


class Phase(enum.Enum):
    STARTING = "starting"
    SERVING = "serving"
    STOPPING = "stopping"


class Lifecycle:
    """Where the service is between start and stop (the lifespan moves it on), and its media
    port."""

    def __init__(self, port: UdpPort) -> None:
        self.phase = Phase.STARTING
        self.port = port

    def serving(self) -> None:
        self.phase = Phase.SERVING

    def stopping(self) -> None:
        self.phase = Phase.STOPPING

    def udp_problem(self) -> str | None:
        # Bound in the lifespan before the service is up; before that there is nothing to check.
        if self.phase is Phase.SERVING and not self.port.is_open:
            return "the media UDP port is not bound"
        return None

    def not_ready(self) -> str | None:
        """Why /readyz answers 503, or None."""
        if self.phase is Phase.STARTING:
            return "the service is starting"
        if self.phase is Phase.STOPPING:
            return "the service is stopping"
        return self.udp_problem()


async def problems(
    store: Store, bus: Bus, redis_url: str | None, lifecycle: Lifecycle
) -> list[str]:
    """Every problem /healthz reports, the database first."""
    found = []
    if store.health.problem is not None:
        found.append(f"the database cannot be written: {store.health.problem}")
    if redis_url:
        try:
            await asyncio.wait_for(bus.ping(), REDIS_TIMEOUT)
        except TimeoutError:
            found.append(f"Redis did not answer within {REDIS_TIMEOUT:g} s")
        except Exception as exc:  # whatever the client raised: Redis is not there
            found.append(f"Redis does not answer: {type(exc).__name__}: {exc}")
    udp = lifecycle.udp_problem()
    if udp is not None:
        found.append(udp)
    return found


async def healthz(request: Request) -> JSONResponse:
    state = app_state(request)
    found = await problems(state.store, state.bus, state.config.redis_url, state.lifecycle)
    if found:
        return JSONResponse({"status": "failing", "reason": "; ".join(found)}, status_code=503)
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    reason = app_state(request).lifecycle.not_ready()
    if reason is not None:
        return JSONResponse({"status": "not_ready", "reason": reason}, status_code=503)
    return JSONResponse({"status": "ready"})
