"""What the bridge tells the API about one invited site's media connection."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class SiteLink:
    connected: bool
    # When the current run of connection began (earliest open connection), else None.
    connected_since: datetime | None
    # Open media connections from this site (two browsers in one hall count as two here).
    connections: int
    # RTP sent to the site over all its connections in this session, retransmissions included.
    packets_sent: int
    bytes_sent: int
