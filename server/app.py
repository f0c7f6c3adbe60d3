"""The Starlette application: admin API, WHIP/WHEP, pages; wired to the store and the bridge."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..media.bridge import Bridge
from ..signaling.bus import LocalBus, create_bus
from . import api, control, pages, records, whip
from .config import Config
from .errors import install_error_handlers
from .store import Store

log = logging.getLogger("diemcau")


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def create_app(config: Config, admin_token: str) -> Starlette:
    store = Store.open(config.data_dir / "diemcau.sqlite3")

    # The join log is written before anything else learns of a join or a leave.
    async def on_join(session_id: str, site_id: str, conn: str) -> None:
        store.append_event(session_id, "join", datetime.now(UTC), site_id=site_id, conn=conn)
        log.info("session %s: site %s joined (%s)", session_id, site_id, conn)

    async def on_leave(session_id: str, site_id: str, conn: str, reason: str) -> None:
        store.append_event(
            session_id, "leave", datetime.now(UTC), site_id=site_id, conn=conn, reason=reason
        )
        log.info("session %s: site %s left (%s, %s)", session_id, site_id, conn, reason)

    bridge = Bridge(on_join=on_join, on_leave=on_leave)

    # Connections a crash left open are closed at the last moment the server knew it was
    # alive, before anything new is logged.
    for leave in store.close_orphaned_connections(datetime.now(UTC), "server_shutdown"):
        log.warning(
            "session %s: site %s was still connected when the server stopped; closed at %s",
            leave.session_id,
            leave.site_id,
            leave.ts.isoformat(),
        )
    store.mark_alive(datetime.now(UTC))

    async def keep_alive() -> None:
        while True:
            await asyncio.sleep(config.liveness_interval)
            store.mark_alive(datetime.now(UTC))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if config.redis_url:
            app.state.bus = await create_bus(config.redis_url)
        beating = asyncio.create_task(keep_alive())
        try:
            yield
        finally:
            beating.cancel()
            await app.state.bus.close()
            # Open connections leave with reason server_shutdown, logged before the store closes.
            await bridge.close()
            store.mark_alive(datetime.now(UTC))
            store.close()

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            *api.routes(),
            *records.routes(),
            *whip.routes(),
            *control.routes(),
            *pages.routes(),
        ],
        lifespan=lifespan,
    )
    install_error_handlers(app, json_prefixes=("/api/", "/whip/", "/whep/"))
    app.state.config = config
    app.state.admin_token = admin_token
    app.state.store = store
    app.state.bridge = bridge
    # The embedded default; with --redis-url the lifespan puts the Redis bus in its place.
    app.state.bus = LocalBus()
    app.state.rooms = control.Rooms(store)
    return app
