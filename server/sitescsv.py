"""The sites CSV, `id,name,kind,expected`: its header and its one parser, read two ways.

The admin API's import reads it strictly (parse_sites_csv): exactly this header, and every
record checked by the API's rules, a record that breaks one rejected with its reason. A
report's roster reads it leniently (server/roster.py), since that file may come from another
system. Both take UTF-8 with or without Excel's byte order mark.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from .bodies import (
    EXPECTED_MAX,
    EXPECTED_RULE,
    KIND_MAX,
    NAME_MAX,
    SITE_ID_RULE,
    clean_text,
    is_site_id,
    text_problem,
)
from .errors import ApiError
from .store import Site

HEADER = ("id", "name", "kind", "expected")


class SitesCsvError(ValueError):
    """The file as a whole cannot be read: not UTF-8, not the header, or broken quoting."""

    def __init__(self, kind: Literal["encoding", "header", "syntax"], line: int, detail: str = ""):
        super().__init__(kind, line, detail)
        self.kind, self.line, self.detail = kind, line, detail


@dataclass(frozen=True)
class Record:
    line: int  # where the record starts (a quoted field may span lines)
    last_line: int  # where it ends
    fields: list[str]


def records(data: bytes, *, strict: bool, header: tuple[str, ...] = HEADER) -> list[Record]:
    """The records after the header (the sites', or a roster's: server/peoplecsv.py), in file
    order, empty lines left out. Strict: the header exactly, quoting by the book, and a record
    of blank fields kept (it is a bad record). Lenient: the header in any case and spacing,
    further columns after it allowed, and a record of blank fields left out."""
    try:
        text = data.decode("utf-8-sig")  # Excel prepends a BOM
    except UnicodeDecodeError as exc:
        raise SitesCsvError("encoding", data[: exc.start].count(b"\n") + 1) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=strict)
    found: list[Record] = []
    try:
        first = next(reader, None)
        if first is None or not _is_header(first, header, strict):
            raise SitesCsvError("header", 1)
        start = reader.line_num + 1
        for fields in reader:
            line, start = start, reader.line_num + 1
            if fields if strict else any(f.strip() for f in fields):
                found.append(Record(line, reader.line_num, fields))
    except csv.Error as exc:
        raise SitesCsvError("syntax", reader.line_num, str(exc)) from None
    return found


def _is_header(fields: list[str], header: tuple[str, ...], strict: bool) -> bool:
    if strict:
        return tuple(f.strip() for f in fields) == header
    return tuple(f.strip().lower() for f in fields[: len(header)]) == header


# The admin API's import


@dataclass(frozen=True)
class CsvRow:
    """One record of a sites CSV: the site it holds, or why it was rejected."""

    line: int  # where the record starts (a quoted field may span lines)
    id: str
    site: Site | None
    error: str | None = None


def parse_sites_csv(data: bytes) -> list[CsvRow]:
    """The records of a sites CSV, in file order, blank lines skipped. Raises ApiError 400 when
    the file as a whole is unusable (encoding, header, broken quoting)."""
    try:
        found = records(data, strict=True)
    except SitesCsvError as exc:
        raise unusable(exc) from None
    rows: list[CsvRow] = []
    seen: dict[str, int] = {}
    for record in found:
        site_id = record.fields[0].strip()
        error = _row_error(record.fields, seen)
        if error is not None:
            rows.append(CsvRow(record.line, site_id, None, error))
            continue
        seen[site_id] = record.line
        name, kind, expected = (clean_text(f) for f in record.fields[1:])
        rows.append(CsvRow(record.line, site_id, Site(site_id, name, kind, int(expected))))
    return rows


def unusable(exc: SitesCsvError, header: tuple[str, ...] = HEADER) -> ApiError:
    """The API's answer to a file that cannot be read at all: 400, nothing changed."""
    if exc.kind == "encoding":
        return ApiError(
            400, "invalid_body", f"The file is not UTF-8 (line {exc.line}).", {"line": exc.line}
        )
    if exc.kind == "header":
        return ApiError(400, "invalid_body", f"The first line must be exactly: {','.join(header)}")
    return ApiError(
        400,
        "invalid_body",
        f"The file is not valid CSV (line {exc.line}): {exc.detail}.",
        {"line": exc.line},
    )


def _row_error(row: list[str], seen: Mapping[str, int]) -> str | None:
    if len(row) != len(HEADER):
        return f"expected {len(HEADER)} fields, found {len(row)}"
    site_id, name, kind, expected = (field.strip() for field in row)
    if not is_site_id(site_id):
        return f"id {SITE_ID_RULE}"
    if site_id in seen:
        return f"duplicate of line {seen[site_id]}"
    for field, value, limit in (("name", name, NAME_MAX), ("kind", kind, KIND_MAX)):
        problem = text_problem(clean_text(value), limit)
        if problem is not None:
            return f"{field} {problem}"
    if not re.fullmatch(r"[0-9]{1,7}", expected) or int(expected) > EXPECTED_MAX:
        return f"expected {EXPECTED_RULE}"
    return None
