"""Settings of one running service, gathered from the command line and the environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .attendance import Rules
from .checkinrules import CheckinOpening
from .letterhead import Letterhead


@dataclass(frozen=True)
class Config:
    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    port: int = 8080
    # Absolute base for the links handed out (console, join, WHIP, WHEP); None = from each request.
    public_url: str | None = None
    # Largest JSON or CSV body accepted by the API, in bytes.
    max_body_bytes: int = 1_000_000
    redis_url: str | None = None
    # The attendance rules the server applies, and the zone its pages and files show times in.
    rules: Rules = field(default_factory=Rules)
    timezone: str = "Asia/Ho_Chi_Minh"
    # When a session takes check-ins: from so long before its scheduled start (checkinrules.py).
    checkin_opening: CheckinOpening = field(default_factory=CheckinOpening)
    # How often the server records that it is alive (see Store.mark_alive), in seconds.
    liveness_interval: float = 5.0
    # The one UDP port that carries every media connection's ICE, DTLS and SRTP; 0 picks a free
    # one (tests). Bound on each address the server listens on (docs/network.md).
    udp_port: int = 8189
    # Addresses at which halls reach the server when it sits behind 1:1 NAT (an elastic IP, a
    # port forward): every answer's host candidates carry them, with udp_port.
    public_ips: tuple[str, ...] = ()
    # TURN servers handed to every client (turn:host:port?transport=udp, turns:...:443?...=tcp),
    # with short-lived credentials minted from coturn's static-auth-secret (signaling/turn.py).
    turn_urls: tuple[str, ...] = ()
    turn_secret: str | None = None
    turn_ttl: int = 86400
    # How long a media connection may take to complete ICE and DTLS before it is closed and
    # logged as a failed attempt, in seconds.
    connect_timeout: float = 20.0
    # Reads bounded before anyone is known (server/listener.py), in seconds: a request's headers,
    # its body, and an idle keep-alive connection.
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    idle_timeout: int = 5
    # Requests and WebSockets open at once from one client address (server/clientcap.py), and
    # the reverse proxies whose X-Forwarded-For names that address.
    max_connections_per_address: int = 64
    trusted_proxies: tuple[str, ...] = ()
    # Writes to the admin API per bearer token: a burst, then so many a second (writelimit.py).
    write_burst: float = 100.0
    write_rate: float = 10.0
    # Receivers of the webhooks (server/webhooks.py), and the secret that signs each POST.
    webhook_urls: tuple[str, ...] = ()
    webhook_secret: str | None = field(default=None, repr=False)
    # Who may read GET /metrics besides the admin: a scraper's own token (server/metrics.py).
    metrics_token: str | None = field(default=None, repr=False)
    # The program of each live session written to a file (media/recorder.py, docs/recordings.md),
    # kept so many days (0: kept until deleted by hand).
    record: bool = True
    recordings_keep_days: int = 90
    # Who issues the official report's PDF, where, and who signs it (server/letterhead.py).
    letterhead: Letterhead = field(default_factory=Letterhead)
