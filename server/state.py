"""What the running application holds, typed: one `AppState` per app, and its accessors.

create_app (server/app.py) builds it; handlers reach it with `app_state(request)` (a Request
or a WebSocket alike), tests with `app_state(app)`. Nothing reads Starlette's untyped
`app.state` attributes or probes them with getattr.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import HTTPConnection

# The parts are named for the annotations only: this module is imported by the handlers that
# read the state (and by what they import), so it imports none of them.
if TYPE_CHECKING:
    from ..media.bridge import Bridge
    from ..media.port import UdpPort
    from ..signaling.bus import Bus
    from .config import Config
    from .health import Lifecycle
    from .links import LinkKey
    from .livepeople import LivePeople
    from .meeting import Meeting
    from .metrics import Metrics
    from .sealkey import SealKey
    from .store import Store
    from .webhooks import Webhooks
    from .writelimit import WriteBuckets
    from .writer import Writer


@dataclass
class AppState:
    config: Config
    admin_token: str
    store: Store
    # Every write once the app serves goes through the writer's thread (server/writer.py).
    writer: Writer
    bridge: Bridge
    # The media connections' one UDP port, which the bridge sends and receives on.
    port: UdpPort
    # Starting, serving or stopping, and whether the UDP port is bound (/healthz, /readyz).
    lifecycle: Lifecycle
    # The embedded LocalBus; with --redis-url the lifespan puts the Redis bus in its place.
    bus: Bus
    # The owner of this node's live rooms and of every effect they have (server/meeting.py);
    # made by create_app once this state exists, since it reads the bus and bridge from it.
    meeting: Meeting = field(init=False)
    # The admin API's write limits per bearer token (server/writelimit.py).
    write_limits: WriteBuckets
    # The signed deliveries of --webhook (server/webhooks.py); None without one.
    webhooks: Webhooks | None
    # What GET /metrics exports (server/metrics.py).
    metrics: Metrics
    # The secret a session's tokens are minted from, to show its links again (server/links.py).
    link_key: LinkKey
    # The key that seals each ended session's join-log chain (server/sealkey.py).
    seal_key: SealKey
    # The people of each session on the console's live list, kept between its polls.
    live_people: LivePeople

    def install(self, app: Starlette) -> None:
        # The one attribute of Starlette's untyped `app.state` that this project sets.
        app.state.diemcau = self


def app_state(where: HTTPConnection | Starlette) -> AppState:
    """The state of the app serving a Request or WebSocket, or of an app itself."""
    app = where if isinstance(where, Starlette) else where.app
    state = app.state.diemcau
    if not isinstance(state, AppState):
        raise RuntimeError("this app was not made by create_app: it has no AppState")
    return state


def base_url(connection: HTTPConnection) -> str:
    """The absolute base of the links handed out: --public-url, else the request's own."""
    return (app_state(connection).config.public_url or str(connection.base_url)).rstrip("/")
