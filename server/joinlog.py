"""The join log as JSON Lines: one event per line, read leniently, written exactly.

Written for export, a hall's public address loses its last part (media.route.masked): the log
says roughly where a hall came from, not which household line it was.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from ..media.route import masked
from .attendance import LogEvent
from .chain import CHAIN_KEY, Seal
from .times import log_time, parse_log_time

if TYPE_CHECKING:  # the store hashes events as exported here, so imports this at run time
    from .store import Event


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


def to_json(event: Event, chained: bool = False) -> dict[str, Any]:
    """The event as exported; `chained` adds its link in the hash chain (server/chain.py)."""
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
    if chained and event.hash is not None:  # what `diemcau verify --events` checks
        line[CHAIN_KEY] = {"prev": event.prev, "hash": event.hash}
    return line


def _masked_or_hidden(address: object) -> str:
    # The server writes only IP addresses; anything else is hidden whole, not exported raw.
    try:
        return masked(address) if isinstance(address, str) else "x"
    except ValueError:
        return "x"


def write_jsonl(
    events: Iterable[Event], chained: bool = False, seal: Seal | None = None
) -> Iterator[str]:
    """The lines; `chained`, each with its link, and a session's `seal` on the last one."""
    lines = [to_json(event, chained) for event in events]
    if seal is not None and lines and CHAIN_KEY in lines[-1]:
        lines[-1][CHAIN_KEY]["seal"] = dataclasses.asdict(seal)
    for line in lines:
        yield json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n"
