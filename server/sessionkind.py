"""The kind of a conference, which the period report counts apart: the key cadres' conferences
("hội nghị cán bộ chủ chốt") and the grassroots ones, for the party members of the communes
("hội nghị cấp cơ sở"). A district quotes one participation rate for each."""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Final, Literal, TypeGuard

SessionKind = Literal["key", "grassroots"]
KINDS: Final[tuple[SessionKind, ...]] = ("key", "grassroots")
# Most of a district's conferences are grassroots ones (a year: about 12 key, 800 grassroots),
# so a session created without a kind, or before kinds existed, is one.
DEFAULT_KIND: Final[SessionKind] = "grassroots"
KIND_LABELS_VI: Final[dict[str, str]] = {
    "key": "Hội nghị cán bộ chủ chốt",
    "grassroots": "Hội nghị cấp cơ sở",
}
KIND_RULE: Final = "must be one of: " + ", ".join(KINDS)


def is_kind(value: object) -> TypeGuard[SessionKind]:
    return isinstance(value, str) and value in KINDS


class KindStore:
    """The store's one write of a kind, for Store (server/store.py) to inherit: a session
    created with the wrong kind, or before kinds, is put right. The kind is no part of the
    join log: changing it changes which figures of a period count the session, not its record."""

    _conn: sqlite3.Connection

    def _transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def set_session_kind(self, session_id: str, kind: SessionKind) -> bool:
        """Whether the session exists (its kind is `kind` now)."""
        with self._transaction() as db:
            query = "UPDATE sessions SET kind = ? WHERE id = ?"
            return db.execute(query, (kind, session_id)).rowcount > 0
