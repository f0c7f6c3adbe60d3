"""The report as files: text a spreadsheet would run as a formula is written as text, numbers stay
numbers, and Vietnamese stays as written."""

from __future__ import annotations

import csv
import dataclasses
import io
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from diemcau.server.attendance import LogEvent, Report, RosterSite, attendance, report_json
from diemcau.server.attendance.people import RosterPerson
from diemcau.server.chain import Seal
from diemcau.server.reports import (
    COLUMNS,
    HEADERS_VI,
    HEADERS_VI_PEOPLE,
    PEOPLE_COLUMNS,
    PEOPLE_COUNT_COLUMNS,
    is_formula_like,
    official_csv,
    official_xlsx,
    to_csv,
    to_xlsx,
)

START = datetime(2026, 3, 5, 1, 0, tzinfo=UTC)
HANOI = ZoneInfo("Asia/Ho_Chi_Minh")

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
    [totals] = [row for row in rows if row[0].value == "Tổng cộng"]
    assert totals[3].value == -2 and totals[3].data_type == "n"


# The official files (issue 15 §7): Vietnamese values and local times; the default CSV as ever.

DEFAULT_CSV = (
    "\ufeffsite,name,kind,expected,status,late,left_early,first_join,last_leave,"
    "connected_seconds,coverage,interruptions,longest_outage_seconds,headcount,headcount_rate\r\n"
    "s0,Xã Nga Thạnh,commune,10,present,no,no,2026-03-05T01:00:00.000Z,,1800.0,1.0,0,0.0,,\r\n"
    "s1,Phường Ba,commune,10,absent,no,no,,,0.0,0.0,0,0.0,,\r\n"
    'TOTAL,2 invited,,20,"present 1, partial 0, absent 1",0,0,,,,0.5,0,0.0,0,0.0\r\n'
).encode()


def test_the_default_csv_is_the_contract_byte_for_byte() -> None:
    made = report(["Xã Nga Thạnh", "Phường Ba"])
    assert to_csv(made) == DEFAULT_CSV
    assert to_csv(made, "en", "Asia/Ho_Chi_Minh") == DEFAULT_CSV


def test_the_official_csv_says_it_in_vietnamese_on_the_districts_clock() -> None:
    rows = csv_rows(to_csv(report(["Xã Nga Thạnh", "=Phường Ba"]), "vi", "Asia/Ho_Chi_Minh"))
    assert rows[0] == [HEADERS_VI[c] for c in COLUMNS]
    sites = [dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]]
    assert [(s["name"], s["kind"], s["status"], s["late"]) for s in sites[:2]] == [
        ("Xã Nga Thạnh", "Xã", "có mặt", "không"),
        ("'=Phường Ba", "Xã", "vắng", "không"),  # a formula is still text
    ]
    assert sites[0]["first_join"] == "05/03/2026 08:00:00"  # 01:00 UTC in Hà Nội
    assert (sites[0]["cause"], sites[1]["cause"]) == ("", "không mở đường dẫn")
    assert (sites[2]["site"], sites[2]["name"]) == ("Tổng cộng", "2 điểm cầu được mời")
    assert sites[2]["status"] == "có mặt 1, có mặt một phần 0, vắng 1"
    assert len(rows) == 4  # no people, no people's table
    utc = csv_rows(to_csv(report(["Xã Nga Thạnh"]), "vi", "UTC"))
    assert utc[1][COLUMNS.index("first_join")] == "05/03/2026 01:00:00"


def with_people(made: Report) -> dict[str, Any]:
    """The report's JSON as it is with rosters (issue 15's contract shape)."""
    body = report_json(made)
    body["sites"][0]["people"] = [
        person("p1", "Nguyễn Văn An", "present", "2026-03-05T00:58:00.000Z", "qr"),
        person("p2", "Trần Thị Bình", "late", "2026-03-05T01:20:00.000Z", "clerk"),
        person("p3", "Lê Văn Cường", "excused", None, None, "Ốm, có giấy"),
        person("p4", "=Phạm Văn Dũng", "absent", None, None),
    ]
    body["sites"][0]["people_count"] = 3
    body["sites"][0]["people_count_disagrees"] = True
    body["sites"][1]["people"] = [person("p5", "Hoàng Thị Em", "absent", None, None)]
    body["sites"][1]["people_count"] = None
    body["totals"].update(people_expected=5, people_present=2, people_excused=1, people_unexcused=2)
    return body


def person(
    id: str, name: str, status: str, at: str | None, method: str | None, reason: str | None = None
) -> dict[str, Any]:
    return {
        "id": id,
        "name": name,
        "status": status,
        "checked_in_at": at,
        "method": method,
        "reason": reason,
    }


PEOPLE_ROWS = [
    [
        "s0",
        "Xã Nga Thạnh",
        "p1",
        "Nguyễn Văn An",
        "có mặt",
        "05/03/2026 07:58:00",
        "quét mã QR",
        "",
    ],
    ["s0", "Xã Nga Thạnh", "p2", "Trần Thị Bình", "có mặt (đến muộn)"],
    ["s0", "Xã Nga Thạnh", "p3", "Lê Văn Cường", "vắng có lý do", "", "", "Ốm, có giấy"],
    ["s0", "Xã Nga Thạnh", "p4", "'=Phạm Văn Dũng", "vắng không lý do", "", "", ""],
    ["s1", "Phường Ba", "p5", "Hoàng Thị Em", "vắng không lý do", "", "", ""],
]


def test_the_official_csv_has_the_people_when_the_report_has_them() -> None:
    out = io.StringIO()
    official_csv(csv.writer(out), with_people(report(["Xã Nga Thạnh", "Phường Ba"])), HANOI)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    columns = [*COLUMNS, *PEOPLE_COUNT_COLUMNS]
    assert rows[0] == [HEADERS_VI[c] for c in columns]
    counts = [dict(zip(columns, row, strict=True)) for row in rows[1:4]]
    assert [[s[c] for c in PEOPLE_COUNT_COLUMNS] for s in counts] == [
        ["2", "1", "1", "3"],
        ["0", "0", "1", ""],
        ["2", "1", "2", "3"],  # the totals
    ]
    assert rows[4] == []  # the people's table after one empty line
    assert rows[5][:4] == ["Mã điểm cầu", "Tên điểm cầu", "Mã người dự", "Họ và tên"]
    people = rows[6:]
    assert people[0] == PEOPLE_ROWS[0]
    assert people[1][:5] == PEOPLE_ROWS[1] and people[1][5:7] == [
        "05/03/2026 08:20:00",
        "thư ký điểm danh",
    ]
    assert people[2:] == PEOPLE_ROWS[2:]


def test_the_xlsx_has_vietnamese_values_local_times_and_a_sheet_of_the_people() -> None:
    book = openpyxl.load_workbook(
        io.BytesIO(
            official_xlsx(
                with_people(report(["Xã Nga Thạnh", "Phường Ba"])), "Sơ kết", "Asia/Ho_Chi_Minh"
            )
        )
    )
    assert book.sheetnames == ["Điểm danh", "Người dự"]
    rows = [list(r) for r in book["Điểm danh"].iter_rows(values_only=True)]
    columns = [*COLUMNS, *PEOPLE_COUNT_COLUMNS]
    header = rows.index([HEADERS_VI[c] for c in columns])
    site = dict(zip(columns, rows[header + 1], strict=True))
    assert (site["status"], site["late"], site["left_early"]) == ("có mặt", "không", "không")
    assert site["first_join"] == datetime(2026, 3, 5, 8, 0)
    assert (site["people_present"], site["people_excused"], site["people_count"]) == (2, 1, 3)
    people = [list(r) for r in book["Người dự"].iter_rows(values_only=True)]
    header = people.index([HEADERS_VI_PEOPLE[c] for c in PEOPLE_COLUMNS])
    assert people[header + 1][:6] == [
        "s0",
        "Xã Nga Thạnh",
        "p1",
        "Nguyễn Văn An",
        "có mặt",
        datetime(2026, 3, 5, 7, 58),
    ]
    assert [row[4] for row in people[header + 1 :]] == [
        "có mặt",
        "có mặt (đến muộn)",
        "vắng có lý do",
        "vắng không lý do",
        "vắng không lý do",
    ]
    assert book["Người dự"].cell(header + 5, 4).quotePrefix  # =Phạm Văn Dũng stays text


def test_the_official_files_from_a_report_with_rosters() -> None:
    roster = [
        RosterSite(
            "s0",
            "Xã Nga Thạnh",
            "commune",
            2,
            (RosterPerson("p1", "Nguyễn Văn An"), RosterPerson("p2", "Trần Thị Bình")),
        )
    ]
    events = [
        LogEvent(START, "session_start", 0),
        LogEvent(START, "join", 1, site="s0", conn="c1"),
        LogEvent(START, "checkin", 2, site="s0", fields={"person": "p1", "method": "qr"}),
        LogEvent(START, "absence", 3, site="s0", fields={"person": "p2", "reason": "Ốm"}),
        LogEvent(START + timedelta(minutes=30), "session_end", 4),
    ]
    made = attendance(events, roster)
    rows = csv_rows(to_csv(made, "vi", "Asia/Ho_Chi_Minh"))
    columns = [*COLUMNS, *PEOPLE_COUNT_COLUMNS]
    site = dict(zip(columns, rows[1], strict=True))
    assert [site[c] for c in PEOPLE_COUNT_COLUMNS[:3]] == ["1", "1", "0"]
    assert rows[3] == []  # the people after the totals
    assert [row[3:5] for row in rows[5:]] == [
        ["Nguyễn Văn An", "có mặt"],
        ["Trần Thị Bình", "vắng có lý do"],
    ]
    assert rows[6][7] == "Ốm"
    book = openpyxl.load_workbook(io.BytesIO(to_xlsx(made, "Sơ kết", "Asia/Ho_Chi_Minh")))
    assert book.sheetnames == ["Điểm danh", "Người dự"]
    assert to_csv(made) == to_csv(made, "en")  # and the default CSV has no people
    assert "Nguyễn" not in to_csv(made).decode("utf-8-sig")


def test_the_seal_ends_the_official_files_once_there_is_one() -> None:
    unsealed = report(["Xã Nga Thạnh"])
    assert csv_rows(to_csv(unsealed, "vi", "UTC"))[-1][0] == "Tổng cộng"
    book = openpyxl.load_workbook(io.BytesIO(to_xlsx(unsealed, "Sơ kết", "UTC")))
    assert book.sheetnames == ["Điểm danh"]
    # A signature that begins with "+", as base64 may: text, never a formula.
    sealed = dataclasses.replace(unsealed, seal=Seal("ab" * 32, 3, "+9sig/=="))
    rows = csv_rows(to_csv(sealed, "vi", "UTC"))
    assert rows[-3:] == [
        [],
        ["Niêm phong nhật ký", "Mã cuối chuỗi (SHA-256)", "Số sự kiện", "Chữ ký Ed25519"],
        ["Phiên None", "ab" * 32, "3", "'+9sig/=="],
    ]
    # The default CSV, the scripts' contract, stays as it was.
    assert to_csv(sealed) == to_csv(unsealed)
    book = openpyxl.load_workbook(io.BytesIO(to_xlsx(sealed, "Sơ kết", "UTC")))
    assert book.sheetnames == ["Điểm danh", "Niêm phong"]
    signature = book["Niêm phong"]["B6"]
    assert (signature.value, signature.data_type, signature.quotePrefix) == ("+9sig/==", "s", True)
    assert "ab" * 32 in book["Điểm danh"].oddFooter.center.text
