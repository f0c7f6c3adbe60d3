"""The join log as JSON Lines: one event per line, read leniently, written exactly.

Written for export, a hall's public address loses its last part (media.route.masked): the log
says roughly where a hall came from, not which household line it was.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from ..media.route import masked
from .attendance import LogEvent
from .store import Event
from .times import log_time, parse_log_time


@dataclass(frozen=True)
class SkippedLine:
    number: int
    reason: str


def parse_line(line: str, number: int) -> LogEvent | SkippedLine:
    try:
        # orjson: a year's log is a million lines, and parsing is most of the report's time.
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return SkippedLine(number, "not JSON")
    if type(obj) is not dict:
        return SkippedLine(number, "not a JSON object")
    ts = parse_log_time(obj.pop("ts", None))
    if ts is None:
        return SkippedLine(number, "no valid RFC 3339 'ts' with a time zone")
    kind = obj.pop("type", None)
    if not isinstance(kind, str) or not kind:
        return SkippedLine(number, "no 'type'")
    session, site, conn = obj.pop("session", None), obj.pop("site", None), obj.pop("conn", None)
    # What remains are the event's own fields (reason, present, and any the log grows).
    return LogEvent(
        ts,
        kind,
        number,
        session if session is None or type(session) is str else str(session),
        site if site is None or type(site) is str else str(site),
        conn if conn is None or type(conn) is str else str(conn),
        obj,
    )


def read_jsonl(lines: Iterable[str | bytes]) -> tuple[list[LogEvent], list[SkippedLine]]:
    """Events and the lines skipped (numbered from 1). Blank lines are neither."""
    events: list[LogEvent] = []
    skipped: list[SkippedLine] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
        if number == 1:
            line = line.removeprefix("\ufeff")  # a BOM starts the file, not the first event
        if not line.strip():
            continue
        parsed = parse_line(line, number)
        (skipped if isinstance(parsed, SkippedLine) else events).append(parsed)  # type: ignore[arg-type]
    return events, skipped


def to_json(event: Event) -> dict[str, Any]:
    line: dict[str, Any] = {
        "ts": log_time(event.ts),
        "session": event.session_id,
        "type": event.type,
    }
    if event.site_id is not None:
        line["site"] = event.site_id
    if event.conn is not None:
        line["conn"] = event.conn
    line.update(event.body)
    if "address" in line:
        line["address"] = _masked_or_hidden(line["address"])
    return line


def _masked_or_hidden(address: object) -> str:
    # The server writes only IP addresses; anything else is hidden whole, not exported raw.
    try:
        return masked(address) if isinstance(address, str) else "x"
    except ValueError:
        return "x"


def write_jsonl(events: Iterable[Event]) -> Iterator[str]:
    for event in events:
        yield json.dumps(to_json(event), ensure_ascii=False, separators=(",", ":")) + "\n"
