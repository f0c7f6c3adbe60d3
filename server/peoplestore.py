"""The people of the store: each site's roster (table `people`), and each session's snapshot of
its invited sites' rosters (`session_people`), taken when the session is created as its invites
snapshot the sites. Store (server/store.py) takes these methods from PeopleStore.

While a site has a roster, its `expected` is the roster's length (SITE_SELECT): in GET
/api/sites, and in the invite a session snapshots; the expected set on the site is kept and
counts again once the roster is gone.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from .people import Person
from .rows import PutResult, UnknownSites
from .times import db_time, parse_db_time

# A site as its callers see it: with a roster, its expected is the roster's length.
SITE_SELECT = (
    "SELECT id, name, kind, COALESCE((SELECT NULLIF(COUNT(*), 0) FROM people p"
    " WHERE p.site_id = sites.id), expected) AS expected FROM sites"
)
_FIELDS = "id, site_id, name, code, position, unit"


class EventRow(NamedTuple):
    """A join-log event read by type alone (events_of_types): the people's events for the
    check-in's judge and the console's people, the halls' link events for its live causes."""

    ts: datetime
    type: str
    site: str | None
    body: dict[str, Any]
    conn: str | None = None


@dataclass(frozen=True)
class RosterChange:
    """What an import did (or would do) to one site's roster: per person of the file, in its
    order, created, updated or unchanged; and how many people of before it no longer names."""

    site_id: str
    results: tuple[PutResult, ...]
    removed: int


class PeopleStore:
    """The people's queries, for Store to inherit: its connection and transaction are the
    store's own, so an import is one transaction like put_sites."""

    _conn: sqlite3.Connection

    def _transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def site_people(self, site_id: str) -> list[Person]:
        """The site's roster, in the order of its file; empty when it has none."""
        rows = self._conn.execute(
            f"SELECT {_FIELDS} FROM people WHERE site_id = ? ORDER BY ord", (site_id,)
        )
        return [Person(*row) for row in rows]

    def session_people(self, session_id: str, site_id: str | None = None) -> list[Person]:
        """The people the session expects, as their rosters were when it was created: of one
        site, or of all in the invites' order."""
        query = (
            f"SELECT {', '.join('sp.' + f for f in _FIELDS.split(', '))} FROM session_people sp"
            " JOIN invites i ON i.session_id = sp.session_id AND i.site_id = sp.site_id"
            " WHERE sp.session_id = ?"
        )
        args: tuple[str, ...] = (session_id,)
        if site_id is not None:
            query, args = query + " AND sp.site_id = ?", (session_id, site_id)
        rows = self._conn.execute(query + " ORDER BY i.position, sp.ord", args)
        return [Person(*row) for row in rows]

    def session_person(self, session_id: str, person_id: str) -> Person | None:
        """One person of the session's snapshot, or None."""
        row = self._conn.execute(
            f"SELECT {_FIELDS} FROM session_people WHERE session_id = ? AND id = ?",
            (session_id, person_id),
        ).fetchone()
        return None if row is None else Person(*row)

    def events_of_types(self, session_id: str, types: Iterable[str]) -> list[EventRow]:
        """The session's join-log events of these types, in log order: (ts, type, site, body).
        Only those rows are read and parsed: a live session's log is mostly other events (the
        camera's counts, every 30 s a hall), and the check-in pages ask at every request."""
        wanted = sorted(types)
        rows = self._conn.execute(
            "SELECT ts, type, site_id, body, conn FROM events WHERE session_id = ?"
            f" AND type IN ({', '.join('?' * len(wanted))}) ORDER BY seq",
            (session_id, *wanted),
        )
        return [
            EventRow(parse_db_time(ts), type, site, json.loads(body), conn)
            for ts, type, site, body, conn in rows
        ]

    def last_event_seq(self, session_id: str, types: Iterable[str]) -> int | None:
        """The sequence number of the session's latest event of these types, None if none: what
        a reader of events_of_types keeps its result by (server/livepeople.py)."""
        wanted = sorted(types)
        row = self._conn.execute(
            "SELECT MAX(seq) FROM events WHERE session_id = ?"
            f" AND type IN ({', '.join('?' * len(wanted))})",
            (session_id, *wanted),
        ).fetchone()
        return None if row is None else row[0]

    def put_rosters(
        self, rosters: Mapping[str, Sequence[Person]], now: datetime
    ) -> list[RosterChange]:
        """Replace the roster of each site named, in one transaction: people not in the new
        roster leave it. Each roster's ids must be distinct; a site that does not exist (deleted
        since the CSV was read) raises UnknownSites, changing nothing. Sessions already created
        keep their snapshot."""
        stamp = db_time(now)
        with self._transaction() as db:
            missing = [
                site_id
                for site_id in rosters
                if db.execute("SELECT 1 FROM sites WHERE id = ?", (site_id,)).fetchone() is None
            ]
            if missing:
                raise UnknownSites(missing)
            changes = [_change(db, site_id, people) for site_id, people in rosters.items()]
            for site_id, people in rosters.items():
                db.execute("DELETE FROM people WHERE site_id = ?", (site_id,))
                db.executemany(
                    f"INSERT INTO people ({_FIELDS}, ord, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (p.id, site_id, p.name, p.code, p.position, p.unit, index, stamp)
                        for index, p in enumerate(people)
                    ],
                )
        return changes

    def preview_rosters(self, rosters: Mapping[str, Sequence[Person]]) -> list[RosterChange]:
        """What put_rosters would do now, writing nothing (an import's dry run)."""
        return [_change(self._conn, site_id, people) for site_id, people in rosters.items()]

    def delete_roster(self, site_id: str) -> int:
        """Remove the site's roster (its expected counts again); how many people it held."""
        with self._transaction() as db:
            return db.execute("DELETE FROM people WHERE site_id = ?", (site_id,)).rowcount


def snapshot_people(db: sqlite3.Connection, session_id: str, site_ids: Sequence[str]) -> None:
    """Copy the sites' rosters into the session, in the caller's (create_session's) transaction."""
    for site_id in site_ids:
        db.execute(
            f"INSERT INTO session_people (session_id, ord, {_FIELDS})"
            f" SELECT ?, ord, {_FIELDS} FROM people WHERE site_id = ?",
            (session_id, site_id),
        )


def _change(db: sqlite3.Connection, site_id: str, people: Sequence[Person]) -> RosterChange:
    before = {
        row[0]: tuple(row[1:])
        for row in db.execute(
            "SELECT id, name, code, position, unit FROM people WHERE site_id = ?", (site_id,)
        )
    }
    results: list[PutResult] = []
    for p in people:
        old = before.pop(p.id, None)
        if old is None:
            results.append("created")
        else:
            results.append(
                "unchanged" if old == (p.name, p.code, p.position, p.unit) else "updated"
            )
    return RosterChange(site_id, tuple(results), removed=len(before))
