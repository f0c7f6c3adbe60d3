"""Why a hall is not connected now, as the console shows it live: never opened its link, opened
the page but its media never connected (with the log's reason), or connected and lost its
network. The report's classifier (server/attendance/outage.py) over the halls' link events
alone, up to now: what the report would say of a hall absent so far if the session ended now.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from .attendance.outage import OPENED, Outage, outage
from .attendance.rules import LogEvent
from .store import Session, Store

# What the classifier reads: the page opening, failed attempts, and the media's joins and leaves.
LINK_EVENTS = OPENED | {"leave"}


def live_causes(
    store: Store, session: Session, missing: Collection[str], now: datetime
) -> dict[str, Outage]:
    """The cause of each site of `missing` (not connected now), by site id; none before the
    session starts, when no hall is missing yet."""
    if session.started_at is None or not missing:
        return {}
    due = max(session.ended_at or now, session.started_at)
    by_site: dict[str, list[LogEvent]] = {site: [] for site in missing}
    for index, e in enumerate(store.events_of_types(session.id, LINK_EVENTS)):
        if e.site in by_site:
            event = LogEvent(e.ts, e.type, index, session.id, e.site, e.conn, e.body)
            by_site[e.site].append(event)
    return {site: outage(events, due, None) for site, events in by_site.items()}
