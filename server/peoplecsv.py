"""The rosters CSV, `site,name,code,position,unit`: the people of one site or of many, read as
strictly as the sites CSV (server/sitescsv.py: UTF-8, Excel's byte order mark tolerated).

A file replaces the whole roster of each site it names, since an office re-imports its list;
so a site with a rejected line keeps its roster as it was, and its other lines say why they
were not applied, rather than the site losing the person whose line had a typo.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from .bodies import NAME_MAX, SITE_ID_RULE, clean_text, is_site_id, text_problem
from .people import Person, new_person
from .sitescsv import SitesCsvError, records, unusable

HEADER = ("site", "name", "code", "position", "unit")
CODE_MAX = 40


@dataclass(frozen=True)
class RosterRow:
    """One record of a rosters CSV: the person it holds, or why it is not applied."""

    line: int  # where the record starts (a quoted field may span lines)
    site: str
    name: str  # as the line gives it, to say whose line was rejected
    person: Person | None
    error: str | None = None


def parse_rosters_csv(data: bytes, known_sites: Collection[str]) -> list[RosterRow]:
    """The records in file order, blank lines skipped; a site not in `known_sites` is a rejected
    line. Raises ApiError 400 when the file as a whole is unusable (encoding, header, quoting)."""
    try:
        found = records(data, strict=True, header=HEADER)
    except SitesCsvError as exc:
        raise unusable(exc, HEADER) from None
    rows: list[RosterRow] = []
    seen: dict[str, int] = {}  # person id to its line
    for record in found:
        site = record.fields[0].strip()
        name = clean_text(record.fields[1]) if len(record.fields) > 1 else ""
        error = _row_error(record.fields, known_sites)
        person = None
        if error is None:
            code, position, unit = (clean_text(f) for f in record.fields[2:])
            person = new_person(site, name, code or None, position, unit)
            if person.id in seen:
                same = "member code" if code else "name (give each a member code)"
                error = f"same {same} as line {seen[person.id]}"
                person = None
            else:
                seen[person.id] = record.line
        rows.append(RosterRow(record.line, site, name, person, error))
    return _hold_back(rows)


def _row_error(fields: list[str], known_sites: Collection[str]) -> str | None:
    if len(fields) != len(HEADER):
        return f"expected {len(HEADER)} fields, found {len(fields)}"
    site, name, code, position, unit = (clean_text(f) for f in fields)
    if not is_site_id(site):
        return f"site {SITE_ID_RULE}"
    if site not in known_sites:
        return f"unknown site {site}"
    problem = text_problem(name, NAME_MAX)
    if problem is not None:
        return f"name {problem}"
    for field, value, limit in (
        ("code", code, CODE_MAX),
        ("position", position, NAME_MAX),
        ("unit", unit, NAME_MAX),
    ):
        # Optional: empty is fine, anything else is checked as a name is.
        problem = text_problem(value, limit) if value else None
        if problem is not None:
            return f"{field} {problem}"
    return None


def _hold_back(rows: list[RosterRow]) -> list[RosterRow]:
    """A site with a rejected line is not changed: its good lines are rejected too, naming it."""
    first_bad: dict[str, int] = {}
    for row in rows:
        if row.person is None:
            first_bad.setdefault(row.site, row.line)
    return [
        RosterRow(
            row.line,
            row.site,
            row.name,
            None,
            f"not applied: line {first_bad[row.site]} of site {row.site} is rejected,"
            " so its roster stays as it was",
        )
        if row.person is not None and row.site in first_bad
        else row
        for row in rows
    ]
