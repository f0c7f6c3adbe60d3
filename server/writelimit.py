"""A rate limit per bearer token on every write of the admin API (headcounts included).

Each write is durable (an fsynced SQLite commit), so one token must not be able to make
hundreds a second. A token bucket per token (signaling/ratelimit.py); over it the write is
answered 429 with Retry-After before any handler runs, so it changes nothing. Reads are not
limited here, nor WHIP/WHEP, whose offers have their own caps (server/whip.py) and whose
trickle PATCHes come in bursts by design.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from ..signaling.ratelimit import TokenBucket
from .clientcap import client_address
from .errors import ApiError, send_error

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Config's defaults: a script creating a session's sites one PUT at a time gets 100 at once,
# then 10 a second.
RATE, BURST = 10.0, 100.0
# Buckets kept at most: made-up tokens must not grow memory without end. The oldest used goes.
MAX_BUCKETS = 10_000


class WriteBuckets:
    """One bucket per key (a token's digest), the least recently used forgotten past `limit`.
    Sans-I/O: the caller says when."""

    def __init__(self, rate: float = RATE, burst: float = BURST, limit: int = MAX_BUCKETS):
        self.rate, self.burst, self.limit = rate, burst, limit
        self._buckets: OrderedDict[bytes, TokenBucket] = OrderedDict()

    def retry_after(self, key: bytes, now: float) -> float | None:
        """None if this write may go ahead now (and it is counted), else seconds to wait."""
        bucket = self._buckets.pop(key, None) or TokenBucket(self.rate, self.burst)
        self._buckets[key] = bucket
        while len(self._buckets) > self.limit:
            self._buckets.popitem(last=False)
        if bucket.allow(now):
            return None
        return bucket.retry_after(now)

    def __len__(self) -> int:
        return len(self._buckets)


class WriteLimit:
    """ASGI middleware: writes under `prefix` limited per bearer token (or per client address
    when there is none, as server/clientcap.py believes it behind `trusted_proxies`: the
    phones checking in at the halls, docs/api.md Check-in, are not all the proxy's)."""

    def __init__(
        self,
        app: ASGIApp,
        prefix: str = "/api/",
        buckets: WriteBuckets | None = None,
        clock: Callable[[], float] = time.monotonic,
        trusted_proxies: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.trusted = frozenset(trusted_proxies)
        self.prefix = prefix
        self.buckets = buckets if buckets is not None else WriteBuckets()
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in WRITE_METHODS
            or not scope["path"].startswith(self.prefix)
        ):
            await self.app(scope, receive, send)
            return
        wait = self.buckets.retry_after(_key(scope, self.trusted), self.clock())
        if wait is None:
            await self.app(scope, receive, send)
            return
        seconds = max(1, math.ceil(wait))
        await send_error(
            send,
            ApiError(
                429,
                "rate_limited",
                f"Too many writes with this token; try again in {seconds} s.",
                {"retry_after": seconds},
                headers={"Retry-After": str(seconds)},
            ),
        )


def _key(scope: Scope, trusted: frozenset[str]) -> bytes:
    headers = scope.get("headers", [])
    for name, value in headers:
        if name == b"authorization":
            return hashlib.sha256(value).digest()
    peer = scope.get("client")
    forwarded = [v.decode("latin-1") for n, v in headers if n == b"x-forwarded-for"]
    address = client_address(peer[0] if peer else None, forwarded, trusted)
    return b"address:" + (address or "?").encode()
