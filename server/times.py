"""The named time formats, each with its parser: what every reader outside the process gets.

- API: RFC 3339 in UTC with "Z", milliseconds only when there are any (the HTTP answers).
- log: RFC 3339 in UTC with "Z" and always milliseconds (the join log's JSON Lines, reports,
  the server's own log lines).
- database: the log format, and aware times only: fixed width, so that text order is time order.
- local: a zone's wall clock without the zone, for spreadsheet cells (XLSX has no time zones).
- day: YYYY-MM-DD, the period's bounds.
- file: basic ISO 8601 in UTC to the second, 20260301T010000Z, for file names (no colons).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import overload
from zoneinfo import ZoneInfo

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


# API


@overload
def api_time(moment: datetime) -> str: ...
@overload
def api_time(moment: datetime | None) -> str | None: ...
def api_time(moment: datetime | None) -> str | None:
    """RFC 3339 in UTC with Z; fractional seconds (milliseconds) only when there are any."""
    if moment is None:
        return None
    utc = moment.astimezone(UTC)
    spec = "seconds" if utc.microsecond == 0 else "milliseconds"
    return utc.isoformat(timespec=spec).replace("+00:00", "Z")


def parse_api_time(text: str) -> datetime:
    """An RFC 3339 date-time with any offset, as an aware datetime; ValueError otherwise."""
    if not _RFC3339.fullmatch(text):
        raise ValueError(text)
    return datetime.fromisoformat(text.upper().replace("Z", "+00:00"))


# The join log


@overload
def log_time(moment: datetime) -> str: ...
@overload
def log_time(moment: datetime | None) -> str | None: ...
def log_time(moment: datetime | None) -> str | None:
    """RFC 3339 in UTC with Z and milliseconds, always: the join log's and the reports' times."""
    if moment is None:
        return None
    utc = moment.astimezone(UTC)
    text = utc.isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def parse_log_time(value: object) -> datetime | None:
    """An RFC 3339 timestamp with its offset ("Z" or ±hh:mm); None if it is not one.

    Lenient in what RFC 3339 allows, as a log written by another program may be."""
    if not isinstance(value, str) or len(value) < 16 or value[10] not in "Tt":
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        try:  # RFC 3339 allows a lowercase "t" and "z"
            moment = datetime.fromisoformat(value.upper())
        except ValueError:
            return None
    return moment if moment.tzinfo is not None else None


# The database


def db_time(moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("times must be timezone-aware")
    # Milliseconds, as the join log is exported: a report computed from the store and one
    # computed from its export must agree to the last digit.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def db_time_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else db_time(moment)


def parse_db_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def parse_db_time_or_none(text: str | None) -> datetime | None:
    return None if text is None else parse_db_time(text)


# Spreadsheets


@overload
def local_time(moment: datetime, zone: ZoneInfo) -> datetime: ...
@overload
def local_time(moment: datetime | None, zone: ZoneInfo) -> datetime | None: ...
def local_time(moment: datetime | None, zone: ZoneInfo) -> datetime | None:
    """The wall clock of `zone` at `moment`, to the millisecond as the log keeps it."""
    if moment is None:
        return None
    # Cut to the millisecond as log_time cuts it: the XLSX and the JSON report agree.
    local = moment.astimezone(zone)
    return local.replace(tzinfo=None, microsecond=local.microsecond // 1000 * 1000)


# File names


def file_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


# Days


def day_text(day: date) -> str:
    return day.isoformat()


def parse_day(text: str) -> date:
    """YYYY-MM-DD exactly; ValueError otherwise (fromisoformat also takes 20260101 and
    2026-W01-1, which the contract does not)."""
    if not _DAY.fullmatch(text):
        raise ValueError(text)
    return date.fromisoformat(text)


PERIOD_DAY_RULE = "must be a date, YYYY-MM-DD, from 1900-01-01 to 9999-12-30"


def period_day(text: str) -> date:
    """A period's first or last day (parse_day), in the range a period can have: stored times
    sort as text only with four-digit years (in UTC, so not the year 1000 itself), and the
    period's end is the day after its last."""
    day = parse_day(text)
    if day.year < 1900 or day == date.max:
        raise ValueError(text)
    return day
