"""Which check-in or correction the join log allows for a person, and the event it writes.

Sans-I/O. The log's people events (bodies fixed in docs/attendance.md, People) are folded into
each person's standing by the report's own fold (server/attendance/people.py, `standings`), on
two tracks that never overwrite each other:

    checkin / checkin_revoked     checked in (where, when, how), or not
    absence / absence_revoked     excused (why), or not

A person checked in is there, whatever the absence track says (an excused person who comes after
all is present); the report's rules (server/attendance) give the statuses. Here each command is
judged against the standing, so that the log only ever holds moves that mean something:

    command          allowed when                          else
    checkin          not checked in, here or elsewhere     already_checked_in (409, says where)
    checkin_revoked  checked in                            not_checked_in (409)
    absence          not checked in                        checked_in (409: correct that first)
    absence_revoked  excused                               not_excused (409)

"Elsewhere" is the same person on another hall's roster: the same member code. Two people of the
same name are two people; without a code, a person is their roster entry.

When (CheckinOpening): people come before the operator goes live, so check-in opens a setting's
time before a scheduled session's scheduled start (`--checkin-opens-before`, an hour), stays open
while it is live and closes at its end; the corrections and absences are taken at any time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from ..signaling.session import SessionState
from .attendance.people import CheckedIn, Standing

Method = Literal["qr", "clerk"]
By = Literal["site", "admin"]
CommandType = Literal["checkin", "checkin_revoked", "absence", "absence_revoked"]
REASON_MAX = 500


@dataclass(frozen=True)
class PeopleEvent:
    """A people event of the log: what the fold reads (the store's Event has more)."""

    ts: datetime
    type: str
    site: str | None
    fields: Mapping[str, Any] = field(default_factory=dict)  # its body


ClosedCode = Literal["not_started", "session_ended"]
# The longest a check-in may open before the scheduled start: a week.
OPENS_BEFORE_MAX = 7 * 86400.0


class CheckinClosed(Exception):
    """Check-in is not open now: not yet (`opens_at` says when), or no more."""

    def __init__(self, code: ClosedCode, opens_at: datetime | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.opens_at = opens_at


@dataclass(frozen=True)
class CheckinOpening:
    """When a session takes check-ins: from `opens_before` seconds before its scheduled start
    while it is scheduled, and while it is live; never once it has ended."""

    opens_before: float = 3600.0

    def __post_init__(self) -> None:
        if not 0 <= self.opens_before <= OPENS_BEFORE_MAX:
            raise ValueError(f"check-in opens 0 to {OPENS_BEFORE_MAX:.0f} s before the start")

    def opens_at(self, scheduled_start: datetime) -> datetime:
        return scheduled_start - timedelta(seconds=self.opens_before)

    def check(self, state: SessionState, scheduled_start: datetime, now: datetime) -> None:
        """Raise CheckinClosed unless a session in `state`, scheduled to start at
        `scheduled_start`, takes check-ins at `now`."""
        if state == SessionState.ENDED:
            raise CheckinClosed("session_ended")
        if state == SessionState.SCHEDULED and now < self.opens_at(scheduled_start):
            raise CheckinClosed("not_started", self.opens_at(scheduled_start))


RefusalCode = Literal["already_checked_in", "not_checked_in", "checked_in", "not_excused"]


class Refusal(Exception):
    """The command is not allowed now; `where` is the hall (and when) a person is checked in."""

    def __init__(self, code: RefusalCode, where: CheckedIn | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.where = where


@dataclass(frozen=True)
class Command:
    """A check-in or correction asked for: what the log would get if allowed."""

    type: CommandType
    person: str
    site: str  # the person's hall
    by: By
    method: Method | None = None  # checkin only
    reason: str | None = None  # the others

    def body(self) -> dict[str, Any]:
        """The event's body, as team-wide agreed (docs/attendance.md, People)."""
        if self.type == "checkin":
            return {"person": self.person, "method": self.method, "by": self.by}
        return {"person": self.person, "by": self.by, "reason": self.reason}


def judge(
    command: Command, people: Mapping[str, Standing], codes: Mapping[str, str | None]
) -> None:
    """Raise Refusal if the log does not allow `command` now. `codes` maps each person of the
    session to their member code (or None), to find the same person on another hall's roster."""
    mine = people.get(command.person, Standing())
    if command.type == "checkin":
        where = checked_in_as(command.person, people, codes)
        if where is not None:
            raise Refusal("already_checked_in", where)
    elif command.type == "checkin_revoked":
        if mine.checked_in is None:
            raise Refusal("not_checked_in")
    elif command.type == "absence":
        if mine.checked_in is not None:
            raise Refusal("checked_in", mine.checked_in)
    elif mine.excuse is None:
        raise Refusal("not_excused")


def checked_in_as(
    person: str, people: Mapping[str, Standing], codes: Mapping[str, str | None]
) -> CheckedIn | None:
    """Where and when the person is checked in: as this roster entry, or as the same member
    code on another hall's roster; None if neither."""
    mine = people.get(person)
    if mine is not None and mine.checked_in is not None:
        return mine.checked_in
    code = codes.get(person)
    if not code:
        return None
    for other, standing in people.items():
        if other != person and standing.checked_in is not None and codes.get(other) == code:
            return standing.checked_in
    return None
