"""The people events of a session's join log, read from the store and written to it.

`record` runs in the store writer's thread (server/writer.py): it reads the session's people
events, judges the command (server/checkinrules.py) and appends its event in that one thread,
so two phones that pick the same name at once make one check-in and one 409, never two.
"""

from __future__ import annotations

from datetime import datetime

from .attendance.people import PEOPLE_EVENTS, Standing, standings
from .checkinrules import CheckinOpening, Command, PeopleEvent, judge
from .store import Store


def session_standings(store: Store, session_id: str) -> dict[str, Standing]:
    """Each person's standing in the session, from its join log as the store has it."""
    return standings(
        PeopleEvent(e.ts, e.type, e.site, e.body)
        for e in store.events_of_types(session_id, PEOPLE_EVENTS)
    )


def record(
    store: Store,
    session_id: str,
    command: Command,
    now: datetime,
    opening: CheckinOpening | None,
) -> int:
    """Append the command's event if the session takes it now (`opening`: a check-in's; None
    for a correction, taken at any time) and the log allows it; its sequence number. Raises
    checkinrules.CheckinClosed or Refusal, writing nothing. For the writer's thread: the state
    and the log are read on its connection, just before the append, so that nothing is written
    between the judgement and the event."""
    session = store.get_session(session_id)
    assert session is not None  # sessions are never deleted
    if opening is not None:
        opening.check(session.state, session.scheduled_start, now)
    codes = {p.id: p.code for p in store.session_people(session_id)}
    judge(command, session_standings(store, session_id), codes)
    return store.append_event(session_id, command.type, now, site_id=command.site, **command.body())
