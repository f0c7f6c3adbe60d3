"""A period's figures as an XLSX for the office: per kind of conference (key cadres', grassroots)
the counts and the rates a year-end report quotes, then the sessions and the sites. Built from
the period's JSON (`GET /api/attendance`), in the official files' words (server/reportterms.py).
"""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from . import reportterms as terms
from .reports import TOTAL_ROW_VI, save, table
from .sessionkind import DEFAULT_KIND, KINDS

# Per kind of conference: sessions, halls, people by headcount and, with rosters, by name.
KIND_COLUMNS = (
    "kind",
    "sessions",
    "invited",
    "attended",
    "connected_rate",
    "expected",
    "headcount",
    "participation_rate",
    "people_expected",
    "people_present",
    "people_excused",
    "people_unexcused",
    "people_rate",
)
SESSION_COLUMNS = (
    "id",
    "title",
    "kind",
    "start",
    "end",
    "invited",
    "present",
    "partial",
    "absent",
    "expected",
    "headcount",
    "participation_rate",
    "connected_rate",
    "people_expected",
    "people_present",
    "people_present_rate",
)
SITE_COLUMNS = (
    "site",
    "name",
    "kind",
    "sessions",
    "present",
    "partial",
    "absent",
    "average_coverage",
    "repeatedly_absent_or_partial",
)
HEADERS_VI = {
    "kind": "Loại",
    "sessions": "Số hội nghị",
    "invited": "Lượt điểm cầu được mời",
    "attended": "Lượt điểm cầu tham dự",
    "connected_rate": "Tỷ lệ điểm cầu tham dự",
    "expected": "Số người dự kiến",
    "headcount": "Số người dự (báo cáo)",
    "participation_rate": "Tỷ lệ người dự (báo cáo)",
    "people_expected": "Số người theo danh sách",
    "people_present": "Có mặt theo danh sách",
    "people_excused": "Vắng có lý do",
    "people_unexcused": "Vắng không lý do",
    "people_rate": "Tỷ lệ có mặt theo danh sách",
    "people_present_rate": "Tỷ lệ có mặt theo danh sách",
    "id": "Mã hội nghị",
    "title": "Tên hội nghị",
    "start": "Bắt đầu",
    "end": "Kết thúc",
    "present": "Có mặt",
    "partial": "Có mặt một phần",
    "absent": "Vắng",
    "site": "Mã điểm cầu",
    "name": "Tên điểm cầu",
    "average_coverage": "Tỷ lệ thời gian trung bình",
    "repeatedly_absent_or_partial": "Vắng, thiếu từ hai lần",
}
PERCENT_COLUMNS = {
    "connected_rate",
    "participation_rate",
    "people_rate",
    "people_present_rate",
    "average_coverage",
}


def period_title(body: dict[str, Any]) -> str:
    first, last = (date.fromisoformat(body[k]) for k in ("from", "to"))
    return f"Báo cáo tham dự hội nghị từ ngày {first:%d/%m/%Y} đến ngày {last:%d/%m/%Y}"


def kind_rows(body: dict[str, Any]) -> list[dict[str, object]]:
    """A row per kind of conference, then the totals' row (sums, and the rates over them)."""
    rows: list[dict[str, object]] = []
    for kind in KINDS:
        figures = body["kinds"][kind]
        rows.append({**{c: figures.get(c) for c in KIND_COLUMNS}, "kind": terms.session_kind(kind)})
    total: dict[str, object] = {"kind": TOTAL_ROW_VI}
    for column in KIND_COLUMNS[1:]:
        if column not in PERCENT_COLUMNS:
            total[column] = sum(int(body["kinds"][k].get(column) or 0) for k in KINDS)
    total["connected_rate"] = _ratio(total["attended"], total["invited"])
    total["participation_rate"] = _ratio(total["headcount"], total["expected"])
    total["people_rate"] = _ratio(total["people_present"], total["people_expected"])
    rows.append(total)
    return rows


def _ratio(part: object, whole: object) -> float | None:
    assert isinstance(part, int) and isinstance(whole, int)
    return round(part / whole, 6) if whole else None


def session_rows(body: dict[str, Any]) -> list[dict[str, object]]:
    kind_of = {i: kind for kind in KINDS for i in body["kinds"][kind]["session_ids"]}
    return [
        {
            **{c: s.get(c) for c in SESSION_COLUMNS},
            "kind": terms.session_kind(kind_of.get(s["id"], DEFAULT_KIND)),
            "start": s["window"]["start"],
            "end": s["window"]["end"],
        }
        for s in body["sessions"]
    ]


def site_rows(body: dict[str, Any]) -> list[dict[str, object]]:
    return [
        {
            **{c: s.get(c) for c in SITE_COLUMNS},
            "kind": terms.site_kind(s["kind"]),
            "repeatedly_absent_or_partial": terms.yes_no(s["repeatedly_absent_or_partial"]),
        }
        for s in body["sites"]
    ]


def period_xlsx(body: dict[str, Any]) -> bytes:
    """The XLSX of a period's JSON: a summary sheet per kind, the sessions, the sites."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    zone = ZoneInfo(body["timezone"])
    book = Workbook()
    summary = book.active
    assert summary is not None
    summary.title = "Tổng hợp"
    summary.append([period_title(body)])
    summary["A1"].font = Font(bold=True, size=14)
    summary.append([f"Giờ {body['timezone']}", f"{body['totals']['sessions_held']} hội nghị"])
    summary.append([])
    table(
        summary,
        KIND_COLUMNS,
        kind_rows(body),
        HEADERS_VI,
        zone,
        total_row=True,
        percent=PERCENT_COLUMNS,
    )
    sessions = book.create_sheet("Hội nghị")
    table(
        sessions,
        SESSION_COLUMNS,
        session_rows(body),
        HEADERS_VI,
        zone,
        total_row=False,
        percent=PERCENT_COLUMNS,
        times=("start", "end"),
    )
    sites = book.create_sheet("Điểm cầu")
    table(
        sites,
        SITE_COLUMNS,
        site_rows(body),
        HEADERS_VI,
        zone,
        total_row=False,
        percent=PERCENT_COLUMNS,
    )
    return save(book)
