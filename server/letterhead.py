"""The letterhead of the official report's PDF: who issues it (the party committee, and the one
above it), where, its number and date, and who signs. The committee's own settings are flags of
`serve` (so a TOML key and a DIEMCAU_* variable too) and of `report`; the number, date and place
of one document are the request's (`?number=12-BC/HU&date=2026-03-05&place=Nga Sơn`).
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from datetime import date
from typing import Final

from .bodies import clean_text, text_problem
from .times import parse_day

TEXT_MAX: Final = 200


@dataclass(frozen=True)
class Letterhead:
    # The issuing committee, e.g. "HUYỆN ỦY NGA SƠN", and the one above it ("ĐẢNG BỘ TỈNH
    # THANH HÓA"), written on the left above the number.
    committee: str = ""
    parent: str = ""
    # The place before the date ("Nga Sơn, ngày 05 tháng 3 năm 2026").
    place: str = ""
    # The document's number ("12-BC/HU"); empty leaves the dots the office fills in by hand.
    number: str = ""
    # The day the document is dated; None: the day it is made, on the district's clock.
    day: date | None = None
    # The signature block: on whose behalf ("T/M BAN THƯỜNG VỤ"), the signer's office, name.
    on_behalf: str = ""
    signer_title: str = ""
    signer_name: str = ""


FLAGS: Final = {
    # flag: (field, help)
    "--committee-name": ("committee", 'the committee that issues reports, e.g. "HUYỆN ỦY NGA SƠN"'),
    "--committee-parent": ("parent", 'the committee above it, e.g. "ĐẢNG BỘ TỈNH THANH HÓA"'),
    "--report-place": ("place", 'the place reports are dated at, e.g. "Nga Sơn"'),
    "--report-on-behalf": (
        "on_behalf",
        'the signature\'s "on behalf of", e.g. "T/M BAN THƯỜNG VỤ"',
    ),
    "--report-signer-title": ("signer_title", 'the signer\'s office, e.g. "PHÓ BÍ THƯ"'),
    "--report-signer-name": ("signer_name", "the signer's full name"),
}
# The document's own fields, from a request's query (or the report command's flags).
DOCUMENT_PARAMS: Final = ("number", "date", "place")


def add_letterhead_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("the official report's letterhead (docs/attendance.md)")
    for flag, (_field, help) in FLAGS.items():
        group.add_argument(flag, default="", help=help)


def letterhead_from_args(args: argparse.Namespace) -> Letterhead:
    """The committee's letterhead the flags give; ValueError says which flag is wrong."""
    values: dict[str, object] = {}
    for flag, (field, _help) in FLAGS.items():
        value = clean_text(getattr(args, flag[2:].replace("-", "_")) or "")
        problem = text_problem(value, TEXT_MAX) if value else None
        if problem is not None:
            raise ValueError(f"{flag} {problem}")
        values[field] = value
    return dataclasses.replace(Letterhead(), **values)  # type: ignore[arg-type]


def for_document(
    letterhead: Letterhead, number: str | None, day: str | None, place: str | None
) -> tuple[Letterhead, dict[str, str]]:
    """The letterhead of one document, its number, date and place given (None: the setting's);
    and what is wrong with them, by name (nothing changed then)."""
    problems: dict[str, str] = {}
    changes: dict[str, object] = {}
    for name, value in (("number", number), ("place", place)):
        if value is None:
            continue
        value = clean_text(value)
        problem = text_problem(value, TEXT_MAX) if value else None
        if problem is not None:
            problems[name] = problem
        else:
            changes[name] = value
    if day is not None:
        try:
            changes["day"] = parse_day(day)
        except ValueError:
            problems["date"] = "must be a date, YYYY-MM-DD"
    return dataclasses.replace(letterhead, **changes), problems  # type: ignore[arg-type]
