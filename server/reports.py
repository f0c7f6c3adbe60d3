"""The attendance report as files: CSV (UTF-8 with BOM) and XLSX, for clerks' spreadsheets."""

from __future__ import annotations

import csv
import io
from typing import Any, TypeGuard
from zoneinfo import ZoneInfo

from .attendance import Report, site_json, totals_json
from .times import local_time

COLUMNS = (
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
    "cause",
    "cause_reason",
)
TOTAL_ROW_ID = "TOTAL"

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


def _totals_row(report: Report, sites: list[dict[str, Any]]) -> dict[str, object]:
    """The totals in the site columns: counts by status, sums, and the two rates."""
    t = totals_json(report.totals)
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


def to_csv(report: Report) -> bytes:
    sites = [site_json(s) for s in report.sites]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for site in sites:
        writer.writerow([_csv_cell(site[c]) for c in COLUMNS])
    totals = _totals_row(report, sites)
    writer.writerow([_csv_cell(totals[c]) for c in COLUMNS])
    # The BOM makes Excel read the file as UTF-8, so Vietnamese names show as written.
    return ("\ufeff" + out.getvalue()).encode("utf-8")


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
}


def to_xlsx(report: Report, title: str, timezone: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    zone = ZoneInfo(timezone)
    sites = [site_json(s) for s in report.sites]
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Điểm danh"
    start = local_time(report.window_start, zone)
    end = local_time(report.window_end, zone)
    sheet.append([title])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append(
        [
            f"Phiên {report.session}",
            f"Bắt đầu {start:%d/%m/%Y %H:%M:%S}",
            f"Kết thúc {end:%d/%m/%Y %H:%M:%S}",
            f"Giờ {timezone}",
        ]
    )
    sheet.append([])
    sheet.append([HEADERS_VI[c] for c in COLUMNS])
    header_row = sheet.max_row
    for cell in sheet[header_row]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDE6F0")
    for s, site in zip(report.sites, sites, strict=True):
        times = {"first_join": s.first_join, "last_leave": s.last_leave}
        sheet.append(
            [_cell(local_time(times[c], zone) if c in times else site[c]) for c in COLUMNS]
        )
    totals = _totals_row(report, sites)
    sheet.append([_cell(totals[c]) for c in COLUMNS])
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    for row in sheet.iter_rows():
        for cell in row:
            if is_formula_like(cell.value):
                # openpyxl makes any text that begins with "=" a formula: a string cell instead,
                # with Excel's quote prefix so that editing it keeps it text. The value is as
                # written: no apostrophe in the clerk's data.
                cell.data_type = "s"
                cell.quotePrefix = True
    for index, column in enumerate(COLUMNS, start=1):
        letter = get_column_letter(index)
        if column in ("coverage", "headcount_rate"):
            for cell in sheet[letter][header_row:]:
                cell.number_format = "0.0%"
        if column in ("first_join", "last_leave"):
            for cell in sheet[letter][header_row:]:
                cell.number_format = "dd/mm/yyyy hh:mm:ss"
        sheet.column_dimensions[letter].width = 22 if column in ("name", "status") else 16
    sheet.freeze_panes = sheet.cell(row=header_row + 1, column=1)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
