"""Webhooks: each event POSTed as signed JSON to every `--webhook` URL, at least once.

What happens is written to the outbox (server/outbox.py) in the transaction that records it, or
just after, and one `Receiver` per URL sends its rows oldest first, one at a time, until each is
answered 2xx; a receiver that fails waits out a backoff (server/backoff.py) while the others go
on. docs/webhooks.md is the receiver's side: the payloads, the signature, retries and ordering.

Where each event comes from:

    join log (the store's event observer)   hall_joined, hall_left, hall_failed,
                                            session_started, session_ended
    the meeting service's floor changes     floor_changed
    the recorder, when a file is closed     recording_finished (`recording_finished`)

A payload carries ids, names and reasons, never a token or a hall's address; URLs are logged
without their query or credentials, and the secret never.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import sqlite3
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..signaling.room import FloorChanged
from . import outbox
from .backoff import Backoff, RetrySchedule
from .repeated import RepeatedError
from .store import Event, Store
from .times import log_time

log = logging.getLogger("diemcau.webhooks")

# How the outbox is read and written: the store's writer (`writer.run`, server/writer.py).
Run = Callable[..., Awaitable[Any]]

SIGNATURE_HEADER = "X-Diemcau-Signature"
EVENT_TYPES = (
    "session_started",
    "session_ended",
    "hall_joined",
    "hall_left",
    "hall_failed",
    "floor_changed",
    "recording_finished",
)

# Join-log event type -> webhook type, and the fields of the event's body its payload carries
# (a join's address stays in the server's own record).
_FROM_JOIN_LOG: dict[str, tuple[str, tuple[str, ...]]] = {
    "join": ("hall_joined", ("candidate", "protocol")),
    "leave": ("hall_left", ("reason",)),
    "attempt_failed": ("hall_failed", ("reason", "offered")),
    "session_start": ("session_started", ()),
    "session_end": ("session_ended", ()),
}

# At most this many POSTs at once over every URL (one per URL in any case).
MAX_IN_FLIGHT = 16
# A receiver has this long to answer a POST before it counts as a failure.
POST_TIMEOUT = 10.0
# Rows read from the outbox at a time, per URL.
BATCH = 50
# An idle receiver looks at the outbox this often even without being told of a new row.
POLL = 10.0


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: sha256=<hex HMAC-SHA256 of the body, keyed by the secret>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def url_for_log(url: str) -> str:
    """A receiver's URL without credentials or query, which may hold a receiver's token."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a port that is no number: said by check_url
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def check_url(url: str) -> str:
    """The URL as given if it can receive webhooks; ValueError says why not."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises on a port that is no number
    except ValueError as exc:
        raise ValueError(f"--webhook {url_for_log(url)!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--webhook {url_for_log(url)!r}: need an http:// or https:// URL")
    return url


def event(type: str, session: str, ts: datetime, **fields: Any) -> dict[str, Any]:
    """A new event: a fresh id, which every retry and every receiver shares."""
    return {"id": uuid.uuid4().hex, "type": type, "ts": log_time(ts), "session": session, **fields}


def encode(payload: dict[str, Any]) -> bytes:
    # The bytes signed are the bytes sent; UTF-8, so that hall names read as written.
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def from_join_log(db: sqlite3.Connection, logged: Event) -> dict[str, Any] | None:
    """The webhook event that reports a join-log event, or None for those not reported."""
    known = _FROM_JOIN_LOG.get(logged.type)
    if known is None:
        return None
    type, keep = known
    fields: dict[str, Any] = {}
    if logged.site_id is not None:
        fields["site"] = logged.site_id
        fields["site_name"] = _site_name(db, logged.session_id, logged.site_id)
        fields["conn"] = logged.conn
    else:
        row = db.execute("SELECT title FROM sessions WHERE id = ?", (logged.session_id,)).fetchone()
        fields["title"] = None if row is None else row[0]
    fields.update({name: logged.body[name] for name in keep if name in logged.body})
    return event(type, logged.session_id, logged.ts, **fields)


def _site_name(db: sqlite3.Connection, session_id: str, site_id: str | None) -> str | None:
    # The invite's snapshot of the site: its name as the session knows it.
    if site_id is None:
        return None
    row = db.execute(
        "SELECT site_name FROM invites WHERE session_id = ? AND site_id = ?", (session_id, site_id)
    ).fetchone()
    return None if row is None else str(row[0])


async def _not_started(*args: Any) -> Any:
    raise RuntimeError("the webhooks have not started")


class Webhooks:
    """The webhooks of one server: the outbox's writes, and one `Receiver` per URL."""

    def __init__(
        self,
        urls: Sequence[str],
        secret: str,
        cap: int = outbox.CAP,
        backoff: Backoff | None = None,
        max_in_flight: int = MAX_IN_FLIGHT,
        timeout: float = POST_TIMEOUT,
        poll: float = POLL,
    ) -> None:
        self.urls = tuple(dict.fromkeys(urls))
        self.run: Run = _not_started
        self.cap = cap
        self._secret = secret
        self.backoff = backoff or Backoff()
        self._max_in_flight = max_in_flight
        self._timeout = timeout
        self._poll = poll
        self._dropped = RepeatedError(
            log, "webhook outbox full: the oldest deliveries were dropped", level=logging.WARNING
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self.dropped = 0  # rows dropped over the cap, since start (the metrics)
        self.receivers: list[Receiver] = []
        self._client: httpx.AsyncClient | None = None

    # Writing the outbox

    def observe(self, db: sqlite3.Connection, logged: Event) -> None:
        """The store's event observer: inside the join-log event's transaction, its webhook
        event into the outbox, so both commit or neither does (a write that fails fails both,
        and the join log tries again). A fault of building the payload costs the webhook only,
        never the join log its event."""
        try:
            payload = from_join_log(db, logged)
        except sqlite3.OperationalError:
            raise
        except Exception:
            log.exception("webhook of join-log event %d (%s) not written", logged.seq, logged.type)
            return
        if payload is not None:
            self._put(db, payload)

    async def on_room_event(self, session_id: str, event: object, now: datetime) -> None:
        """A listener of the room's events (the meeting service's `listeners`): its floor
        changes. The join log reports the rest, session starts and ends included."""
        if isinstance(event, FloorChanged):
            await self.floor_changed(session_id, event.holder, event.previous, now)

    async def floor_changed(
        self, session_id: str, holder: str | None, previous: str | None, now: datetime
    ) -> None:
        """The floor went to `holder` (None: taken back) from `previous`."""

        def build(db: sqlite3.Connection) -> dict[str, Any]:
            return event(
                "floor_changed",
                session_id,
                now,
                site=holder,
                site_name=_site_name(db, session_id, holder),
                previous=previous,
                previous_name=_site_name(db, session_id, previous),
            )

        await self.run(self._write, build)

    async def recording_finished(
        self,
        session_id: str,
        recording_id: str,
        started_at: datetime,
        ended_at: datetime,
        size: int,
        url: str,
    ) -> None:
        """A recording's file was closed; `url` downloads it with the admin or host token."""
        payload = event(
            "recording_finished",
            session_id,
            ended_at,
            recording=recording_id,
            started_at=log_time(started_at),
            ended_at=log_time(ended_at),
            bytes=size,
            url=url,
        )
        await self.run(self._write, lambda db: payload)

    def _write(self, store: Store, build: Callable[[sqlite3.Connection], dict[str, Any]]) -> None:
        # An event not in the join log, just after what it reports; through the store's writer,
        # raising sqlite3.OperationalError if it cannot be written.
        with store.transaction() as db:
            self._put(db, build(db))

    def _put(self, db: sqlite3.Connection, payload: dict[str, Any]) -> None:
        created = payload["ts"]
        dropped = outbox.put(db, self.urls, payload["id"], encode(payload), created, self.cap)
        if dropped:
            self.dropped += dropped
            self._dropped.occurred(f"{dropped} over the cap of {self.cap} rows per URL")
        if self._loop is not None:
            # The writer's thread, or the loop itself: a receiver reads after this commits,
            # its read being queued behind this write.
            with contextlib.suppress(RuntimeError):  # the loop closed: the next start reads
                self._loop.call_soon_threadsafe(self._nudge)

    def _nudge(self) -> None:
        for receiver in self.receivers:
            receiver.nudge()

    # Delivering

    async def start(self, run: Run) -> None:
        """Read and write the outbox through `run` from now on; drop what waits for URLs no
        longer configured; start one receiver per URL, which first sends what a previous run
        left."""
        self.run = run
        self._loop = asyncio.get_running_loop()
        for url, count in (await self.run(outbox.pending)).items():
            if url not in self.urls:
                await self.run(outbox.forget, url)
                log.warning(
                    "webhook %s is no longer configured: %d deliveries dropped",
                    url_for_log(url),
                    count,
                )
        self._client = httpx.AsyncClient(
            timeout=self._timeout,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=self._max_in_flight),
            headers={"User-Agent": "diemcau-webhooks"},
        )
        in_flight = asyncio.Semaphore(self._max_in_flight)
        for url in self.urls:
            receiver = Receiver(url, self, in_flight, self.backoff, self._poll)
            self.receivers.append(receiver)
            receiver.start()

    async def close(self, grace: float = 2.0) -> None:
        """Give the receivers `grace` seconds to send what is waiting (the leaves of a
        shutdown), then stop; what is left is sent at the next start."""
        receivers, self.receivers = self.receivers, []
        if receivers:
            for receiver in receivers:
                receiver.nudge()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*(receiver.drained() for receiver in receivers)), grace
                )
            for receiver in receivers:
                await receiver.stop()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self._loop = None

    async def post(self, url: str, body: bytes) -> str | None:
        """One POST; None if it was answered 2xx, else what went wrong (no URL in it)."""
        assert self._client is not None
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(self._secret, body)}
        try:
            answer = await self._client.post(url, content=body, headers=headers)
        except Exception as exc:  # refused, reset, timed out, TLS: whatever it was, not 2xx
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if 200 <= answer.status_code < 300:
            return None
        return f"HTTP {answer.status_code}"


class Receiver:
    """One URL's queue: its rows oldest first, one POST at a time, each until it is answered
    2xx, with the backoff between failures. Its own task, so a dead receiver delays no other."""

    def __init__(
        self,
        url: str,
        webhooks: Webhooks,
        in_flight: asyncio.Semaphore,
        backoff: Backoff,
        poll: float,
    ) -> None:
        self.url = url
        self.webhooks = webhooks
        self.schedule = RetrySchedule(backoff)
        self._in_flight = in_flight
        self._poll = poll
        self._nudged = asyncio.Event()
        self._idle = asyncio.Event()
        self._failing = RepeatedError(
            log,
            f"webhook {url_for_log(url)}: delivery failed, retried with backoff",
            level=logging.WARNING,
        )
        self._task: asyncio.Task[None] | None = None
        # POSTs answered 2xx, and not, since start (the metrics).
        self.delivered = 0
        self.failed = 0

    @property
    def failing(self) -> bool:
        """Whether the last attempt failed."""
        return self.schedule.failures > 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._serve(), name=f"webhook {url_for_log(self.url)}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def nudge(self) -> None:
        """A row may be waiting: look again (and, until it has looked, not idle)."""
        self._idle.clear()
        self._nudged.set()

    async def drained(self) -> None:
        """Returns once the receiver has found nothing left to send."""
        await self._idle.wait()

    async def _serve(self) -> None:
        while True:
            self._nudged.clear()
            try:
                rows = await self.webhooks.run(outbox.head, self.url, BATCH)
            except sqlite3.OperationalError:  # the store's health has logged it
                self._failed("the outbox cannot be read")
                await asyncio.sleep(self.schedule.wait(asyncio.get_running_loop().time()))
                continue
            if not rows:
                self._idle.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._nudged.wait(), self._poll)
                continue
            for row in rows:
                await self._deliver(row)

    async def _deliver(self, row: outbox.Pending) -> None:
        while True:
            wait = self.schedule.wait(asyncio.get_running_loop().time())
            if wait > 0:
                await asyncio.sleep(wait)
            async with self._in_flight:
                error = await self.webhooks.post(self.url, row.body)
            if error is None:
                if self.schedule.failures:
                    log.info(
                        "webhook %s: delivered again after %d failed attempts",
                        url_for_log(self.url),
                        self.schedule.failures,
                    )
                self.schedule.succeeded()
                self.delivered += 1
                # Not deleted (the disk full, say): sent again later, which at least once allows.
                with contextlib.suppress(sqlite3.OperationalError):
                    await self.webhooks.run(outbox.delivered, row.id)
                return
            self._failed(error)
            self.failed += 1
            with contextlib.suppress(sqlite3.OperationalError):
                await self.webhooks.run(outbox.failed, row.id, error)

    def _failed(self, error: str) -> None:
        now = asyncio.get_running_loop().time()
        self.schedule.failed(now, random.random())
        self._failing.occurred(f"{error}; next attempt in {self.schedule.wait(now):.1f} s")
