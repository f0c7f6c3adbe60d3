"""The report as files: text a spreadsheet would run as a formula is written as text, numbers stay
numbers, and Vietnamese stays as written."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import openpyxl
import pytest

from diemcau.server.attendance import LogEvent, Report, RosterSite, attendance
from diemcau.server.reports import is_formula_like, to_csv, to_xlsx

START = datetime(2026, 3, 5, 1, 0, tzinfo=UTC)

# (name, what a spreadsheet must show): each would be a formula, or a formula after trimming.
FORMULAS = [
    '=HYPERLINK("http://x")',
    "+1",
    "-2",
    "@SUM(A1)",
    "\t=1",
    "\r=1",
]
HARMLESS = ["Xã Nga Thạnh", "Thị trấn Tân Lộc", "1 = 1", "a-b"]


@pytest.mark.parametrize(
    ("value", "formula_like"),
    [
        *[(text, True) for text in FORMULAS],
        *[(text, False) for text in HARMLESS],
        ("", False),
        (-2, False),
        (-0.5, False),
        (None, False),
    ],
)
def test_what_reads_as_a_formula(value: object, formula_like: bool) -> None:
    assert is_formula_like(value) is formula_like


def report(names: list[str], kind: str = "commune", expected: int = 10) -> Report:
    roster = [RosterSite(f"s{i}", name, kind, expected) for i, name in enumerate(names)]
    events = [
        LogEvent(START, "session_start", 0),
        LogEvent(START, "join", 1, site="s0", conn="c1"),
        LogEvent(START + timedelta(minutes=30), "session_end", 2),
    ]
    return attendance(events, roster)


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_csv_prefixes_formulas_with_an_apostrophe() -> None:
    rows = csv_rows(to_csv(report([*FORMULAS, *HARMLESS], kind="@kind")))
    names = [row[1] for row in rows[1:-1]]
    assert names == ["'" + text for text in FORMULAS] + HARMLESS
    assert {row[2] for row in rows[1:-1]} == {"'@kind"}
    assert rows[-1][0] == "TOTAL"


def test_csv_keeps_negative_numbers_numeric() -> None:
    rows = csv_rows(to_csv(report(["=1"], expected=-2)))
    header = rows[0]
    site = dict(zip(header, rows[1], strict=True))
    assert site["expected"] == "-2"  # a number to the spreadsheet, not text
    totals = dict(zip(header, rows[-1], strict=True))
    assert totals["expected"] == "-2"


def xlsx_cells(data: bytes) -> list[list[openpyxl.cell.Cell]]:
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    return [list(row) for row in sheet.iter_rows()]


def test_xlsx_writes_formulas_as_text_cells() -> None:
    title = '=HYPERLINK("http://x","Hội nghị")'
    rows = xlsx_cells(to_xlsx(report([*FORMULAS, *HARMLESS]), title, "Asia/Ho_Chi_Minh"))
    assert rows[0][0].value == title
    assert rows[0][0].data_type == "s"
    sites = [row for row in rows if str(row[0].value).startswith("s")][: len(FORMULAS) + 4]
    names = [row[1] for row in sites]
    # As written, with no apostrophe in the value: a string cell, quote-prefixed for editing.
    # (XML reads a raw CR in text as a line feed, which is how every XLSX reader sees it.)
    written = [text.replace("\r", "\n") for text in FORMULAS + HARMLESS]
    assert [cell.value for cell in names] == written
    assert all(cell.data_type == "s" for cell in names)
    assert [cell.quotePrefix for cell in names] == [True] * len(FORMULAS) + [False] * 4
    # Nothing in the whole sheet is a formula.
    assert not any(cell.data_type == "f" for row in rows for cell in row)


def test_xlsx_keeps_negative_numbers_numeric() -> None:
    rows = xlsx_cells(to_xlsx(report(["-Xã Nga Thạnh"], expected=-2), "Sơ kết", "UTC"))
    [site] = [row for row in rows if row[0].value == "s0"]
    assert site[1].value == "-Xã Nga Thạnh" and site[1].data_type == "s"
    assert site[3].value == -2 and site[3].data_type == "n"
    [totals] = [row for row in rows if row[0].value == "TOTAL"]
    assert totals[3].value == -2 and totals[3].data_type == "n"
