"""The join log as JSON Lines: one event per line, read leniently, written exactly."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .attendance import LogEvent, rfc3339
from .store import Event

# Fields every line may carry; anything else is kept as the event's own fields.
_ENVELOPE = ("ts", "session", "type", "site", "conn")


@dataclass(frozen=True)
class SkippedLine:
    number: int
    reason: str


def parse_ts(value: object) -> datetime | None:
    """An RFC 3339 timestamp with its offset ("Z" or ±hh:mm); None if it is not one."""
    if not isinstance(value, str) or "T" not in value.upper():
        return None
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def parse_line(line: str, number: int) -> LogEvent | SkippedLine:
    try:
        obj = json.loads(line)
    except ValueError:
        return SkippedLine(number, "not JSON")
    if not isinstance(obj, dict):
        return SkippedLine(number, "not a JSON object")
    ts = parse_ts(obj.get("ts"))
    if ts is None:
        return SkippedLine(number, "no valid RFC 3339 'ts' with a time zone")
    kind = obj.get("type")
    if not isinstance(kind, str) or not kind:
        return SkippedLine(number, "no 'type'")
    session, site, conn = obj.get("session"), obj.get("site"), obj.get("conn")
    fields = {k: v for k, v in obj.items() if k not in _ENVELOPE}
    return LogEvent(
        ts=ts,
        type=kind,
        index=number,
        session=None if session is None else str(session),
        site=None if site is None else str(site),
        conn=None if conn is None else str(conn),
        fields=fields,
    )


def read_jsonl(lines: Iterable[str | bytes]) -> tuple[list[LogEvent], list[SkippedLine]]:
    """Events and the lines skipped (numbered from 1). Blank lines are neither."""
    events: list[LogEvent] = []
    skipped: list[SkippedLine] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
        if not line.strip():
            continue
        parsed = parse_line(line, number)
        (skipped if isinstance(parsed, SkippedLine) else events).append(parsed)  # type: ignore[arg-type]
    return events, skipped


def from_store(events: Iterable[Event]) -> list[LogEvent]:
    return [
        LogEvent(
            ts=e.ts,
            type=e.type,
            index=e.seq,
            session=e.session_id,
            site=e.site_id,
            conn=e.conn,
            fields=dict(e.body),
        )
        for e in events
    ]


def to_json(event: Event) -> dict[str, Any]:
    line: dict[str, Any] = {
        "ts": rfc3339(event.ts),
        "session": event.session_id,
        "type": event.type,
    }
    if event.site_id is not None:
        line["site"] = event.site_id
    if event.conn is not None:
        line["conn"] = event.conn
    line.update(event.body)
    return line


def write_jsonl(events: Iterable[Event]) -> Iterator[str]:
    for event in events:
        yield json.dumps(to_json(event), ensure_ascii=False, separators=(",", ":")) + "\n"
