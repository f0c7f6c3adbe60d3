"""The Starlette application: admin API, WHIP/WHEP, pages; wired to the store and the bridge."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..media import route as media_route
from ..media.bridge import Bridge
from ..media.port import UdpPort
from ..media.recorder import Recording
from ..signaling.bus import LocalBus, create_bus
from . import (
    api,
    checkinapi,
    control,
    health,
    links,
    pages,
    peopleapi,
    peoplecount,
    qr,
    recordings,
    records,
    sealkey,
    whip,
)
from .clientcap import ConnectionCap
from .config import Config
from .cors import CORS, CorsOnEveryAnswer
from .errors import ApiError, install_error_handlers
from .health import Lifecycle
from .links import LinkKey
from .liveness import keep_alive
from .livepeople import LivePeople
from .meeting import Meeting
from .metrics import Metrics
from .metrics import routes as metrics_routes
from .recovery import recover
from .repeated import RepeatedError, quiet_accept_errors
from .sealkey import SealKey
from .state import AppState
from .store import Store
from .times import log_time
from .webhooks import Webhooks
from .writelimit import WriteBuckets, WriteLimit
from .writer import Writer

log = logging.getLogger("diemcau")
# Out of descriptors, asyncio retries accept() each second: one line a minute, not a traceback.
_ACCEPT_OUT_OF_DESCRIPTORS = RepeatedError(
    log, "cannot accept HTTP connections: no file descriptor left (LimitNOFILE)"
)


async def _store_unavailable(request: Request, exc: Exception) -> Response:
    # A write that failed (disk full, a lock held elsewhere) is nothing the client did and
    # changed nothing; the store's health logs it (once a minute, with a count), not each answer.
    return ApiError(
        503,
        "record_unavailable",
        "The record cannot be written just now; nothing was changed. Try again shortly.",
        headers={"Retry-After": "5"},
    ).response()


# What the bridge reports of a connection that never came up (media/bridge.py).
_FAILURES = {
    "ice_timeout": "no candidate pair within {timeout:g} s",
    "ice_failed": "every candidate pair failed",
    "dtls_failed": "ICE connected but the DTLS handshake did not complete",
}


def attempt_failed_hint(site_id: str, reason: str, offered: tuple[str, ...], config: Config) -> str:
    """One plain line for the operator: what failed, and what the candidates the hall offered
    say about why."""
    what = _FAILURES.get(reason, reason).format(timeout=config.connect_timeout)
    turn = (
        "check --turn and the TURN secret"
        if config.turn_urls
        else "the server hands out no TURN server: give --turn and --turn-secret"
    )
    kinds = " and ".join(offered)
    if reason == "dtls_failed":
        why = (
            "the path works, so a firewall dropping large UDP datagrams, or a page closed"
            " mid-handshake, is likely"
        )
    elif not offered:
        why = (
            "the hall offered no candidates: its browser found no network it could use, or its"
            f" TURN server refused the credentials — {turn}"
        )
    elif "relay" in offered:
        why = (
            "the hall offered a relay candidate, so its TURN server answered, but the relay did"
            " not reach this server — check that the TURN server can send UDP to --udp-port at"
            " the address --public-ip gives"
        )
    elif "srflx" in offered:
        why = (
            f"the hall offered {kinds} candidates only: its UDP reaches the internet but not"
            " this server — check --public-ip and that --udp-port is open in the firewall;"
            f" and it had no TURN relay — {turn}"
        )
    else:
        why = (
            f"the hall offered {kinds} candidates only, so its network blocks UDP and it had"
            f" no TURN relay — {turn}"
        )
    return f"site {site_id} could not connect: {what}; {why}"


class ConnectionLog:
    """A hall's media connections as the bridge reports them, into the join log first."""

    # How long a connection event whose write fails is tried again before it is given up.
    retry_for = 60.0

    def __init__(self, writer: Writer, config: Config) -> None:
        self.writer = writer
        self.config = config
        # Told how long each event took to commit (the metrics' join-log write latency).
        self.timed: Callable[[float], None] | None = None
        # Per session: the lock its events are written under, and how many events hold or await it.
        self._order: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def _in_order(self, session_id: str) -> AsyncIterator[None]:
        """One event of a session written (or given up) at a time, in the order they came: one
        tried again through a fault is not overtaken by the events after it."""
        lock, users = self._order.get(session_id, (asyncio.Lock(), 0))
        self._order[session_id] = (lock, users + 1)
        try:
            async with lock:  # FIFO: the order of arrival
                yield
        finally:
            lock, users = self._order[session_id]
            if users == 1:
                del self._order[session_id]
            else:
                self._order[session_id] = (lock, users - 1)

    async def _append(
        self, session_id: str, type: str, site_id: str, conn: str, patience: float, **fields: Any
    ) -> None:
        """Into the join log, through a fault: a write that fails (a lock held elsewhere past
        the writer's wait, a full disk) is tried again, with the moment it happened, so a hall
        that was there is not absent from the record; a session's events are written in the
        order they happened. The writer's thread waits; the event loop does not."""
        now = datetime.now(UTC)
        loop = asyncio.get_running_loop()
        give_up = loop.time() + patience
        async with self._in_order(session_id):
            await self._append_until(session_id, type, site_id, conn, now, give_up, fields)

    async def _append_until(
        self,
        session_id: str,
        type: str,
        site_id: str,
        conn: str,
        now: datetime,
        give_up: float,
        fields: dict[str, Any],
    ) -> None:
        loop = asyncio.get_running_loop()
        delay = 0.1
        while True:
            started = loop.time()
            try:
                await self.writer.run(
                    Store.append_event, session_id, type, now, site_id=site_id, conn=conn, **fields
                )
                if self.timed is not None:
                    self.timed(loop.time() - started)
                return
            except sqlite3.OperationalError as exc:  # the store's health has logged it
                if loop.time() + delay > give_up:
                    log.error(
                        "session %s: the %s of site %s (%s) at %s could not be written (%s)",
                        session_id,
                        type,
                        site_id,
                        conn,
                        log_time(now),
                        exc,
                    )
                    return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def on_join(
        self, session_id: str, site_id: str, conn: str, route: media_route.Route | None = None
    ) -> None:
        # The full address stays in the server's own record; exports and this log mask it.
        fields = {} if route is None else route.fields()
        await self._append(session_id, "join", site_id, conn, self.retry_for, **fields)
        how = "" if route is None else f", {route.candidate} over {route.protocol}"
        if route is not None and route.address is not None:
            how += f" from {media_route.masked(route.address)}"
        log.info("session %s: site %s joined (%s%s)", session_id, site_id, conn, how)

    async def on_leave(self, session_id: str, site_id: str, conn: str, reason: str) -> None:
        # Stopping, the server does not wait out a fault: the next start closes what is still
        # open at the last liveness mark, which is as true.
        patience = 0.0 if reason == "server_shutdown" else self.retry_for
        await self._append(session_id, "leave", site_id, conn, patience, reason=reason)
        log.info("session %s: site %s left (%s, %s)", session_id, site_id, conn, reason)

    async def on_attempt_failed(
        self, session_id: str, site_id: str, conn: str, reason: str, offered: tuple[str, ...]
    ) -> None:
        kinds = tuple(dict.fromkeys(offered))  # each type once, in the order offered
        await self._append(
            session_id,
            "attempt_failed",
            site_id,
            conn,
            self.retry_for,
            reason=reason,
            offered=list(kinds),
        )
        hint = attempt_failed_hint(site_id, reason, kinds, self.config)
        log.warning("session %s: %s (%s)", session_id, hint, conn)


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def is_loopback(host: str) -> bool:
    """Whether `--host` is a loopback address (or name): only this machine can connect."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


def allowed_hosts(config: Config) -> list[str]:
    """The Host headers this server answers: the names of loopback, where it listens there, and
    the host of --public-url (and then also the address it listens on, for a monitor probing it
    there). Links are built from --public-url when it is given and otherwise from the Host
    header, so no other Host may ever reach a handler."""
    hosts: list[str] = []
    if is_loopback(config.host):
        hosts.extend(LOOPBACK_NAMES)
    if config.public_url is not None:
        if not is_loopback(config.host) and not _is_wildcard(config.host):
            bare = config.host.strip("[]")
            hosts.append(f"[{bare}]" if ":" in bare else bare)
        public = urlsplit(config.public_url).hostname
        if public:
            hosts.append(f"[{public}]" if ":" in public else public)
    if not hosts:
        raise ValueError(
            f"--host {config.host} is not a loopback address: give --public-url, the address"
            " halls use, so that links are never built from a request's Host header"
        )
    return hosts


def create_app(config: Config, admin_token: str) -> Starlette:
    # Connections a crash left open are closed at the last moment the server knew it was
    # alive, before anything new is logged, through a fault if need be (server/recovery.py).
    # `serve` and `demo` hold the data directory's lock (server/dirlock.py) by now: a second
    # server never gets here to close the first one's.
    # Each join-log event's webhook commits with it, from the leaves of recovery on
    # (server/outbox.py).
    webhooks: Webhooks | None = None
    if config.webhook_urls and config.webhook_secret:
        webhooks = Webhooks(config.webhook_urls, config.webhook_secret)
    observers = [webhooks.observe] if webhooks is not None else []
    store = recover(config.data_dir / "diemcau.sqlite3", observers=observers)
    # From here on an ended session's events are sealed with the server's key (server/chain.py).
    seal_key = SealKey.load_or_create(config.data_dir)
    store.signer = seal_key.sign
    store.seal_ended_sessions()
    # Every write once the app serves goes through the writer's thread (server/writer.py).
    writer = Writer(store)

    # The bridge's handlers: the join log is written before anything else learns of a join, a
    # leave or an attempt that failed.
    connections = ConnectionLog(writer, config)
    on_join, on_leave = connections.on_join, connections.on_leave
    on_attempt_failed = connections.on_attempt_failed

    async def on_publishing(session_id: str, site: str | None, resource_id: str) -> None:
        # Going live is the meeting's, as a start from the admin API is (docs/meeting.md).
        await state.meeting.publisher_on_air(session_id, site, resource_id)

    def on_recorded(recording: Recording) -> None:
        """A recording's file is closed: the retention runs, and the webhook says so."""
        recordings.prune(config.data_dir, config.recordings_keep_days)
        if webhooks is not None:
            base = config.public_url or f"http://{config.host}:{config.port}"
            url = recordings.download_url(base, recording.session_id, recording.id)
            bridge.spawn(
                webhooks.recording_finished(
                    recording.session_id,
                    recording.id,
                    recording.started_at,
                    recording.ended_at,
                    recording.bytes,
                    url,
                )
            )

    recordings.prune(config.data_dir, config.recordings_keep_days)
    port = UdpPort(config.udp_port, public_ips=config.public_ips)
    lifecycle = Lifecycle(port)
    bridge = Bridge(
        on_join=on_join,
        on_leave=on_leave,
        on_attempt_failed=on_attempt_failed,
        port=port,
        connect_timeout=config.connect_timeout,
        on_publishing=on_publishing,
        recorders=recordings.recorders(config.data_dir, on_recorded) if config.record else None,
    )
    metrics = Metrics(store, bridge, admin_token, config.metrics_token, webhooks)
    connections.timed = metrics.join_log_write.observe

    state = AppState(
        config=config,
        admin_token=admin_token,
        store=store,
        writer=writer,
        bridge=bridge,
        port=port,
        lifecycle=lifecycle,
        bus=LocalBus(),  # the embedded default; the lifespan puts a Redis bus in its place
        write_limits=WriteBuckets(config.write_rate, config.write_burst),
        webhooks=webhooks,
        metrics=metrics,
        link_key=LinkKey.load_or_create(config.data_dir),
        seal_key=seal_key,
        live_people=LivePeople(),
    )
    state.meeting = Meeting(state)
    if webhooks is not None:
        state.meeting.listeners.append(webhooks.on_room_event)  # floor_changed

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # The media port is bound before the service says it is up: a taken port stops it here.
        bridge.open()
        quiet_accept_errors(asyncio.get_running_loop(), _ACCEPT_OUT_OF_DESCRIPTORS)
        if config.redis_url:
            state.bus = await create_bus(config.redis_url)
            metrics.watch_bus(state.bus)
        beating = asyncio.create_task(keep_alive(writer, config.liveness_interval))
        if webhooks is not None:
            await webhooks.start(writer.run)
        metrics.start()
        lifecycle.serving()
        try:
            yield
        finally:
            lifecycle.stopping()
            await metrics.close()
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating  # the mark in flight ends before the store closes
            await state.bus.close()
            # Open connections leave with reason server_shutdown, logged before the store closes.
            await bridge.close()
            if webhooks is not None:
                await webhooks.close()  # a short grace to send those leaves
            with contextlib.suppress(sqlite3.Error):  # logged by the store's health
                await writer.run(Store.mark_alive, datetime.now(UTC))
            await writer.close()  # every write asked for is done first
            store.close()

    app = Starlette(
        routes=[
            Route("/healthz", health.healthz),
            Route("/readyz", health.readyz),
            *api.routes(),
            *peopleapi.routes(),
            *checkinapi.routes(),
            *peoplecount.routes(),
            *links.routes(),
            *records.routes(),
            *recordings.routes(),
            *qr.routes(),
            *whip.routes(),
            *control.routes(),
            *pages.routes(),
            *metrics_routes(),
            *sealkey.routes(),
        ],
        lifespan=lifespan,
        middleware=[
            # Outermost first: a client over its cap, or naming a host this server is not, is
            # turned away before anything else runs.
            Middleware(
                ConnectionCap,
                limit=config.max_connections_per_address,
                trusted_proxies=config.trusted_proxies,
            ),
            Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(config)),
            Middleware(
                WriteLimit, buckets=state.write_limits, trusted_proxies=config.trusted_proxies
            ),
            Middleware(CorsOnEveryAnswer, prefixes=whip.PREFIXES),
        ],
    )
    install_error_handlers(
        app,
        json_prefixes=("/api/", *whip.PREFIXES),
        cors_prefixes=whip.PREFIXES,
        cors_headers=CORS,
    )
    app.add_exception_handler(sqlite3.OperationalError, _store_unavailable)
    state.install(app)
    return app
