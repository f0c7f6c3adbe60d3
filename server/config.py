"""Settings of one running service, gathered from the command line and the environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .attendance import Rules


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
    # How often the server records that it is alive (see Store.mark_alive), in seconds.
    liveness_interval: float = 5.0
