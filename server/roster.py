"""The roster of a report: the invited sites, in report order, from a sites CSV file."""

from __future__ import annotations

from .attendance import RosterSite
from .sitescsv import HEADER, SitesCsvError, records


class RosterError(ValueError):
    pass


def read_roster(data: bytes) -> tuple[list[RosterSite], list[str]]:
    """Sites in file order, and the problems of lines that were left out.

    Lenient where the admin API is strict (server/sitescsv.py): the file may come from another
    system, so any non-empty id is taken, and an empty `expected` means not known.
    """
    try:
        found = records(data, strict=False)
    except SitesCsvError as exc:
        raise RosterError(_unreadable(exc)) from exc
    sites: list[RosterSite] = []
    problems: list[str] = []
    seen: set[str] = set()
    for record in found:
        line = record.last_line
        fields = [f.strip() for f in record.fields] + [""] * (len(HEADER) - len(record.fields))
        site_id, name, kind, expected_text = fields[: len(HEADER)]
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


def _unreadable(exc: SitesCsvError) -> str:
    if exc.kind == "encoding":
        return "the sites file is not UTF-8"
    if exc.kind == "header":
        return f"the sites file must begin with the header {','.join(HEADER)}"
    return f"the sites file is not valid CSV (line {exc.line}): {exc.detail}"
