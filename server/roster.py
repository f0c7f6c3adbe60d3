"""The roster of a report: the invited sites, in report order, from a sites CSV file."""

from __future__ import annotations

import csv
import io

from .attendance import RosterSite

HEADER = ("id", "name", "kind", "expected")


class RosterError(ValueError):
    pass


def read_roster(data: bytes) -> tuple[list[RosterSite], list[str]]:
    """Sites in file order, and the problems of lines that were left out.

    Lenient where the admin API is strict: the file may come from another system, so any
    non-empty id is taken, and an empty `expected` means not known.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RosterError("the sites file is not UTF-8") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None or tuple(h.strip().lower() for h in header[:4]) != HEADER:
        raise RosterError("the sites file must begin with the header id,name,kind,expected")
    sites: list[RosterSite] = []
    problems: list[str] = []
    seen: set[str] = set()
    for fields in reader:
        if not any(f.strip() for f in fields):
            continue
        line = reader.line_num
        fields = [f.strip() for f in fields] + [""] * (4 - len(fields))
        site_id, name, kind, expected_text = fields[:4]
        if not site_id:
            problems.append(f"line {line}: no id")
            continue
        if site_id in seen:
            problems.append(f"line {line}: {site_id} is listed twice; the first is kept")
            continue
        expected: int | None = None
        if expected_text:
            try:
                count = int(expected_text)
                if count < 0:
                    raise ValueError(expected_text)
                expected = count
            except ValueError:
                problems.append(f"line {line}: expected {expected_text!r} is not a count")
        seen.add(site_id)
        sites.append(RosterSite(site_id, name or site_id, kind, expected))
    return sites, problems
