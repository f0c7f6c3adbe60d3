"""The attendance report as files: CSV (UTF-8 with BOM) and XLSX, for clerks' spreadsheets.

The default CSV is a public contract read by scripts: English values, RFC 3339 UTC, the same
bytes as ever. Its official variant (`lang="vi"`) and the XLSX are for people: Vietnamese
headers and values, times on the district's clock, and, when the sessions' rosters give people,
each site's counts of them and a table of the people (server/reportterms.py holds the words).
Both end with the session's seal, its join log's signed chain head, once it is sealed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Sequence
from typing import Any, Literal, TypeGuard
from zoneinfo import ZoneInfo

from . import reportterms as terms
from .attendance import Report, report_json, site_json, totals_json

Language = Literal["en", "vi"]
LANGUAGES: tuple[Language, ...] = ("en", "vi")

# The default CSV's columns: a public contract scripts read, kept as they were before issue 15.
CSV_COLUMNS = (
    "site",
    "name",
    "kind",
    "expected",
    "status",
    "late",
    "left_early",
    "first_join",
    "last_leave",
    "connected_seconds",
    "coverage",
    "interruptions",
    "longest_outage_seconds",
    "headcount",
    "headcount_rate",
)
# The official files' site columns: the contract's, and why an absent or late hall missed time.
COLUMNS = (*CSV_COLUMNS, "cause", "cause_reason")
# Beside them in the official files when the report has people: each site's people by standing,
# and the camera's estimate (issue 15's contract fields, counted from `people`).
PEOPLE_COUNT_COLUMNS = ("people_present", "people_excused", "people_unexcused", "people_count")
# The people's table: one row a person, in the sites' order and each roster's.
PEOPLE_COLUMNS = (
    "site",
    "site_name",
    "person",
    "name",
    "status",
    "checked_in_at",
    "method",
    "reason",
)
TOTAL_ROW_ID = "TOTAL"
TOTAL_ROW_VI = "Tổng cộng"
TIME_COLUMNS = ("first_join", "last_leave", "checked_in_at")
RATE_COLUMNS = ("coverage", "headcount_rate")
# The seal's footer (the report's `chain`, docs/attendance.md): what `diemcau verify` checks.
SEAL_HEADERS_VI = ("Niêm phong nhật ký", "Mã cuối chuỗi (SHA-256)", "Số sự kiện", "Chữ ký Ed25519")

# A spreadsheet program runs a cell that begins with one of these as a formula (tab and CR after
# trimming them): a site named =HYPERLINK(...) would run in the clerk's Excel (OWASP's list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def is_formula_like(value: object) -> TypeGuard[str]:
    """Text a spreadsheet would read as a formula; numbers, negative ones too, never are."""
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def _csv_cell(value: object) -> object:
    # CSV has no cell types: the apostrophe is the one prefix every spreadsheet reads as "text".
    value = _cell(value)
    return "'" + value if is_formula_like(value) else value


def _totals_row(t: dict[str, Any], sites: list[dict[str, Any]]) -> dict[str, object]:
    """The totals in the site columns: counts by status, sums, and the two rates."""
    return {
        "site": TOTAL_ROW_ID,
        "name": f"{t['invited']} invited",
        "kind": "",
        "expected": t["expected"],
        "status": f"present {t['present']}, partial {t['partial']}, absent {t['absent']}",
        "late": sum(1 for s in sites if s["late"]),
        "left_early": sum(1 for s in sites if s["left_early"]),
        "first_join": "",
        "last_leave": "",
        "connected_seconds": "",
        # Of the invited sites, the share that connected at all.
        "coverage": t["connected_rate"],
        "interruptions": sum(s["interruptions"] for s in sites),
        "longest_outage_seconds": max((s["longest_outage_seconds"] for s in sites), default=0),
        "headcount": t["headcount"],
        # People present of people expected: the participation rate.
        "headcount_rate": t["participation_rate"],
        "cause": "",
        "cause_reason": "",
    }


# -- the official files' rows -------------------------------------------------------------------


def has_people(sites: Sequence[dict[str, Any]]) -> bool:
    """Whether the report knows people by name (some site has a roster)."""
    return any(site.get("people") for site in sites)


def people_counts(site: dict[str, Any]) -> dict[str, int | None]:
    """A site's people by standing: present (late ones too), excused, absent without a reason;
    and the camera's estimate, or None."""
    standings = [person.get("status") for person in site.get("people") or ()]
    return {
        "people_present": sum(1 for s in standings if s in ("present", "late")),
        "people_excused": standings.count("excused"),
        "people_unexcused": standings.count("absent"),
        "people_count": site.get("people_count"),
    }


def official_site_rows(body: dict[str, Any]) -> tuple[list[str], list[dict[str, object]]]:
    """The site table of the official files, from the report's JSON (`report_json`): its
    columns, then a row a site and the totals' row, in Vietnamese values, with times left as
    the report's (RFC 3339 UTC) for the file to put on its clock."""
    sites: list[dict[str, Any]] = body["sites"]
    people = has_people(sites)
    columns = [*COLUMNS, *(PEOPLE_COUNT_COLUMNS if people else ())]
    rows: list[dict[str, object]] = []
    for site in sites:
        row: dict[str, object] = {c: site.get(c) for c in COLUMNS}
        row["kind"] = terms.site_kind(site["kind"])
        row["status"] = terms.site_status(site["status"])
        row["late"] = terms.yes_no(site["late"])
        row["left_early"] = terms.yes_no(site["left_early"])
        row["cause"] = terms.cause(site.get("cause"))
        row["cause_reason"] = terms.cause_reason(site.get("cause_reason"))
        if people:
            row.update(people_counts(site))
        rows.append(row)
    t = body["totals"]
    total = _totals_row(t, sites)
    total["site"] = TOTAL_ROW_VI
    total["name"] = f"{t['invited']} điểm cầu được mời"
    total["status"] = f"có mặt {t['present']}, có mặt một phần {t['partial']}, vắng {t['absent']}"
    if people:
        counted = [people_counts(site) for site in sites]
        for column in PEOPLE_COUNT_COLUMNS[:3]:
            total[column] = sum(c[column] or 0 for c in counted)
        total["people_count"] = sum(c["people_count"] or 0 for c in counted)
    rows.append(total)
    return columns, rows


def official_people_rows(body: dict[str, Any]) -> list[dict[str, object]]:
    """The people's table: a row a person, in Vietnamese values, times as the report's."""
    rows: list[dict[str, object]] = []
    for site in body["sites"]:
        for person in site.get("people") or ():
            rows.append(
                {
                    "site": site["site"],
                    "site_name": site["name"],
                    "person": person.get("id"),
                    "name": person.get("name"),
                    "status": terms.person_status(str(person.get("status"))),
                    "checked_in_at": person.get("checked_in_at"),
                    "method": terms.method(person.get("method")),
                    "reason": person.get("reason"),
                }
            )
    return rows


# -- CSV ----------------------------------------------------------------------------------------


def to_csv(report: Report, lang: Language = "en", timezone: str = "Asia/Ho_Chi_Minh") -> bytes:
    """The CSV; `lang="vi"` the official one (its times on `timezone`'s clock)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if lang == "vi":
        official_csv(writer, report_json(report), ZoneInfo(timezone))
    else:
        sites = [site_json(s) for s in report.sites]
        writer.writerow(CSV_COLUMNS)
        for site in sites:
            writer.writerow([_csv_cell(site[c]) for c in CSV_COLUMNS])
        totals = _totals_row(totals_json(report.totals), sites)
        writer.writerow([_csv_cell(totals[c]) for c in CSV_COLUMNS])
    # The BOM makes Excel read the file as UTF-8, so Vietnamese names show as written.
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def official_csv(writer: Any, body: dict[str, Any], zone: ZoneInfo) -> None:
    """The official CSV's tables, from the report's JSON, into a csv writer."""

    def write(
        columns: Sequence[str], rows: list[dict[str, object]], headers: dict[str, str]
    ) -> None:
        writer.writerow([headers[c] for c in columns])
        for row in rows:
            writer.writerow(
                [
                    _csv_cell(terms.local_text(row[c], zone) if c in TIME_COLUMNS else row[c])
                    for c in columns
                ]
            )

    columns, rows = official_site_rows(body)
    write(columns, rows, HEADERS_VI)
    people = official_people_rows(body)
    if people:
        # The people after one empty line: a second table in the same file, as a clerk's
        # spreadsheet shows it (scripts read the default CSV, which has none).
        writer.writerow([])
        write(PEOPLE_COLUMNS, people, HEADERS_VI_PEOPLE)
    seal = seal_row(body)
    if seal is not None:  # the footer, after one empty line too
        writer.writerow([])
        writer.writerow(SEAL_HEADERS_VI)
        writer.writerow([_csv_cell(value) for value in seal])


def seal_row(body: dict[str, Any]) -> list[object] | None:
    """The session's seal as a row under SEAL_HEADERS_VI; None while live or unsealed."""
    chain = body.get("chain")
    if not chain:
        return None
    return [f"Phiên {body['session']}", chain["head"], chain["length"], chain["signature"]]


HEADERS_VI = {
    "site": "Mã điểm cầu",
    "name": "Tên điểm cầu",
    "kind": "Loại",
    "expected": "Số người dự kiến",
    "status": "Tình trạng",
    "late": "Vào muộn",
    "left_early": "Rời sớm",
    "first_join": "Kết nối đầu tiên",
    "last_leave": "Ngắt kết nối cuối",
    "connected_seconds": "Thời gian kết nối (giây)",
    "coverage": "Tỷ lệ thời gian",
    "interruptions": "Số lần gián đoạn",
    "longest_outage_seconds": "Gián đoạn dài nhất (giây)",
    "headcount": "Số người dự",
    "headcount_rate": "Tỷ lệ người dự",
    "cause": "Nguyên nhân vắng, muộn",
    "cause_reason": "Lý do kỹ thuật",
    "people_present": "Có mặt (theo danh sách)",
    "people_excused": "Vắng có lý do",
    "people_unexcused": "Vắng không lý do",
    "people_count": "Camera ước tính",
    "site_name": "Tên điểm cầu",
    "person": "Mã người dự",
    "checked_in_at": "Giờ điểm danh",
    "method": "Cách điểm danh",
    "reason": "Lý do",
}
HEADERS_VI_PEOPLE = {**HEADERS_VI, "name": "Họ và tên"}


# -- XLSX ---------------------------------------------------------------------------------------


def to_xlsx(report: Report, title: str, timezone: str) -> bytes:
    return official_xlsx(report_json(report), title, timezone)


def official_xlsx(body: dict[str, Any], title: str, timezone: str) -> bytes:
    """The XLSX from the report's JSON: the site table, and the people's sheet when it has
    people."""
    from openpyxl import Workbook

    zone = ZoneInfo(timezone)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Điểm danh"
    window = body["window"]
    sheet.append([title])
    sheet.append(
        [
            f"Phiên {body['session']}",
            f"Bắt đầu {terms.local_text(window['start'], zone)}",
            f"Kết thúc {terms.local_text(window['end'], zone)}",
            f"Giờ {timezone}",
        ]
    )
    sheet.append([])
    columns, rows = official_site_rows(body)
    table(sheet, columns, rows, HEADERS_VI, zone, total_row=True)
    people = official_people_rows(body)
    if people:
        people_sheet = book.create_sheet("Người dự")
        people_sheet.append([title])
        people_sheet.append([f"Phiên {body['session']}", f"Giờ {timezone}"])
        people_sheet.append([])
        table(people_sheet, PEOPLE_COLUMNS, people, HEADERS_VI_PEOPLE, zone, total_row=False)
    seal = seal_row(body)
    if seal is not None:
        seal_sheet(book, sheet, title, seal)
    return save(book)


def seal_sheet(book: Any, sheet: Any, title: str, seal: list[object]) -> None:
    """The seal: the chain head on every printed page of the site sheet (its footer), and the
    whole seal, signature too, on a sheet of its own."""
    from openpyxl.styles import Font

    _, head, length, _ = seal
    sheet.oddFooter.center.text = f"Niêm phong nhật ký: {head} ({length} sự kiện)"
    sheet.oddFooter.center.size = 8
    sealed = book.create_sheet("Niêm phong")
    sealed.append([title])
    sealed.append([])
    for label, value in zip(SEAL_HEADERS_VI, seal, strict=True):
        sealed.append([label, value])
    sealed.append(["Kiểm tra", "diemcau verify --events joinlog.jsonl --key pub (GET /api/keys)"])
    for cell in sealed["A"]:
        cell.font = Font(bold=True)
    for line in sealed.iter_rows():
        for cell in line:
            if is_formula_like(cell.value):  # a signature may begin with + (base64)
                cell.data_type = "s"
                cell.quotePrefix = True
    sealed.column_dimensions["A"].width = 26
    sealed.column_dimensions["B"].width = 92


def table(
    sheet: Any,
    columns: Sequence[str],
    rows: list[dict[str, object]],
    headers: dict[str, str],
    zone: ZoneInfo,
    total_row: bool,
    percent: Collection[str] = RATE_COLUMNS,
    times: Collection[str] = TIME_COLUMNS,
) -> None:
    """One table of an official sheet: a bold header, the rows with the `times` columns as
    dates on the zone's clock (from the report's RFC 3339) and the `percent` ones as
    percentages, a bold last row if it is the totals."""
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    sheet.append([headers[c] for c in columns])
    header_row = sheet.max_row
    for cell in sheet[header_row]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDE6F0")
    for row in rows:
        sheet.append([_cell(terms.local(row[c], zone) if c in times else row[c]) for c in columns])
    if total_row:
        for cell in sheet[sheet.max_row]:
            cell.font = Font(bold=True)
    for line in sheet.iter_rows():
        for cell in line:
            if is_formula_like(cell.value):
                # openpyxl makes any text that begins with "=" a formula: a string cell instead,
                # with Excel's quote prefix so that editing it keeps it text. The value is as
                # written: no apostrophe in the clerk's data.
                cell.data_type = "s"
                cell.quotePrefix = True
    for index, column in enumerate(columns, start=1):
        letter = get_column_letter(index)
        if column in percent:
            for cell in sheet[letter][header_row:]:
                cell.number_format = "0.0%"
        if column in times:
            for cell in sheet[letter][header_row:]:
                cell.number_format = "dd/mm/yyyy hh:mm:ss"
        wide = column in ("name", "status", "site_name", "reason")
        sheet.column_dimensions[letter].width = 24 if wide else 16
    sheet.freeze_panes = sheet.cell(row=header_row + 1, column=1)


def save(book: Any) -> bytes:
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
