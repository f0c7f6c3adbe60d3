"""The official report as a PDF, laid out as a party committee's document (the party's rules
on its documents' form: the committee top left with the number below, "ĐẢNG CỘNG SẢN VIỆT NAM"
top right with the place and date, the title, the body, the signature bottom right).

One per session, from the report's JSON (`report_json`): the totals and rates, a table of the
sites, and a table of each site's people when the sessions' rosters give them; its footer on
every page is the join log's sealed chain head (or says the log is not sealed yet), so that a
printed page names the record `diemcau verify` checks. One per period, from the period's JSON:
the figures per kind of conference, and the sessions. Drawn with fpdf2 in DejaVu Sans, shipped
in server/fonts/ (as the link sheet, server/linksheet.py), so Vietnamese needs nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from fpdf import FPDF
from fpdf.enums import MethodReturnValue, WrapMode

from . import reportterms as terms
from .letterhead import Letterhead
from .periodreport import kind_rows, period_title
from .reports import has_people, people_counts

_FONTS = resources.files("diemcau.server") / "fonts"
HEADING = "ĐẢNG CỘNG SẢN VIỆT NAM"
# A4 portrait, with the margins the party's rules give (top 20, bottom 20, left 30, right 15).
_LEFT, _RIGHT, _TOP, _BOTTOM = 30.0, 15.0, 20.0, 22.0
_WIDTH = 210.0 - _LEFT - _RIGHT
_HEAD_FILL = (221, 230, 240)
_PAD = 1.0  # inside a table's cells


class _Document(FPDF):
    """An A4 page in DejaVu, whose footer says where the record is and which page this is."""

    def __init__(self, footer_lines: Sequence[str]) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.footer_lines = list(footer_lines)
        self.set_margins(_LEFT, _TOP, _RIGHT)
        self.set_auto_page_break(True, margin=_BOTTOM + 4 * len(self.footer_lines))
        self.set_creator("diemcau")
        self.add_font("DejaVu", "", str(_FONTS / "DejaVuSans.ttf"))
        self.add_font("DejaVu", "B", str(_FONTS / "DejaVuSans-Bold.ttf"))
        self.add_font("DejaVu", "I", str(_FONTS / "DejaVuSans-Oblique.ttf"))
        self.alias_nb_pages()

    def footer(self) -> None:
        self.set_y(-(_BOTTOM - 4) - 3.5 * len(self.footer_lines))
        self.set_draw_color(150, 150, 150)
        self.line(_LEFT, self.get_y(), 210 - _RIGHT, self.get_y())
        self.set_font("DejaVu", "", 6.5)
        self.set_text_color(80, 80, 80)
        for line in self.footer_lines:
            self.multi_cell(
                _WIDTH, 3.5, line, align="L", wrapmode=WrapMode.CHAR, new_x="LMARGIN", new_y="NEXT"
            )
        self.cell(_WIDTH, 3.5, f"Trang {self.page_no()}/{{nb}}", align="R")
        self.set_text_color(0, 0, 0)


# -- the document's parts -----------------------------------------------------------------------


def _letterhead(pdf: FPDF, head: Letterhead, kind_code: str, today: date) -> None:
    """The two columns at the top: the committee and the number; the party and the date."""
    left_w, right_w = 70.0, _WIDTH - 70.0
    top = pdf.get_y()
    pdf.set_font("DejaVu", "", 10)
    if head.parent:
        pdf.multi_cell(left_w, 5, head.parent.upper(), align="C", new_x="LEFT", new_y="NEXT")
    pdf.set_font("DejaVu", "B", 10)
    pdf.multi_cell(
        left_w, 5, (head.committee or "…").upper(), align="C", new_x="LEFT", new_y="NEXT"
    )
    pdf.cell(left_w, 4, "*", align="C", new_x="LEFT", new_y="NEXT")
    pdf.set_font("DejaVu", "", 10)
    number = head.number or f"…-{kind_code}/…"
    pdf.cell(left_w, 5, f"Số {number}", align="C", new_x="LEFT", new_y="NEXT")
    left_bottom = pdf.get_y()
    pdf.set_xy(_LEFT + left_w, top)
    pdf.set_font("DejaVu", "B", 11)
    pdf.cell(right_w, 6, HEADING, align="C", new_x="LEFT", new_y="NEXT")
    line_y = pdf.get_y()
    heading_w = pdf.get_string_width(HEADING)
    middle = _LEFT + left_w + right_w / 2
    pdf.set_draw_color(0, 0, 0)
    pdf.line(middle - heading_w / 2, line_y, middle + heading_w / 2, line_y)
    pdf.set_xy(_LEFT + left_w, line_y + 4)
    pdf.set_font("DejaVu", "I", 10)
    place = f"{head.place}, " if head.place else ""
    dated = f"{place}ngày {today.day:02d} tháng {today.month} năm {today.year}"
    pdf.multi_cell(right_w, 5, dated, align="C")
    pdf.set_xy(_LEFT, max(left_bottom, pdf.get_y()) + 8)


def _title(pdf: FPDF, title: str, subtitle: str) -> None:
    pdf.set_font("DejaVu", "B", 14)
    pdf.cell(_WIDTH, 8, title, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "B", 11)
    pdf.multi_cell(_WIDTH, 6, subtitle, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_line_width(0.2)
    pdf.line(
        105 - 15 + (_LEFT - _RIGHT) / 2,
        pdf.get_y() + 1,
        105 + 15 + (_LEFT - _RIGHT) / 2,
        pdf.get_y() + 1,
    )
    pdf.ln(6)


def _section(pdf: FPDF, text: str) -> None:
    pdf.ln(2)
    pdf.set_font("DejaVu", "B", 11)
    pdf.multi_cell(_WIDTH, 6, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 10)


def _paragraph(pdf: FPDF, text: str) -> None:
    pdf.set_font("DejaVu", "", 10.5)
    pdf.multi_cell(_WIDTH, 5.5, text, new_x="LMARGIN", new_y="NEXT")


def _table(
    pdf: FPDF,
    headings: Sequence[str],
    rows: Sequence[Sequence[object]],
    widths: Sequence[float],
    size: float = 8.5,
    bold_last: bool = False,
) -> None:
    """A bordered table across the text's width (`widths` in proportion), its headings again
    at the top of each page it runs onto. Drawn cell by cell: a cell whose text fits on one
    line is one `cell`, and only the others are broken into lines, which is most of the cost
    (fpdf2's own table breaks every cell, twice: 4 s of CPU for 900 people)."""
    scale = _WIDTH / sum(widths)
    columns = [w * scale for w in widths]
    line = size * 0.45 + 0.6

    def lines_of(text: str, width: float) -> list[str]:
        if "\n" not in text and pdf.get_string_width(text) <= width - 2 * _PAD:
            return [text]
        broken = pdf.multi_cell(
            width - 2 * _PAD, line, text, dry_run=True, output=MethodReturnValue.LINES
        )
        assert isinstance(broken, list)
        return [str(part) for part in broken] or [""]

    def draw(values: Sequence[str], style: str, fill: bool) -> None:
        pdf.set_font("DejaVu", style, size)
        cells = [lines_of(v, w) for v, w in zip(values, columns, strict=True)]
        height = max(len(c) for c in cells) * line + 2 * _PAD
        if pdf.get_y() + height > pdf.page_break_trigger:
            pdf.add_page()
            if not fill:
                draw(list(headings), "B", True)
                pdf.set_font("DejaVu", style, size)
        x, y = pdf.l_margin, pdf.get_y()
        for cell_lines, width in zip(cells, columns, strict=True):
            pdf.rect(x, y, width, height, style="DF" if fill else "D")
            for n, text in enumerate(cell_lines):
                pdf.set_xy(x + _PAD, y + _PAD + n * line)
                pdf.cell(width - 2 * _PAD, line, text)
            x += width
        pdf.set_xy(pdf.l_margin, y + height)

    pdf.set_draw_color(0, 0, 0)
    pdf.set_line_width(0.2)
    pdf.set_fill_color(*_HEAD_FILL)
    draw([str(h) for h in headings], "B", True)
    for index, values in enumerate(rows):
        bold = bold_last and index == len(rows) - 1
        draw(["" if v is None else str(v) for v in values], "B" if bold else "", False)
    pdf.ln(3)


def _signature(pdf: FPDF, head: Letterhead) -> None:
    """Bottom right: on whose behalf, the signer's office, room to sign, the name. Bottom
    left: where it goes."""
    pdf.ln(4)
    if pdf.get_y() > 297 - _BOTTOM - 60:
        pdf.add_page()
    top = pdf.get_y()
    right_x, right_w = _LEFT + _WIDTH / 2, _WIDTH / 2
    pdf.set_font("DejaVu", "B", 10)
    pdf.cell(_WIDTH / 2, 5, "Nơi nhận:", new_x="LEFT", new_y="NEXT")
    pdf.set_font("DejaVu", "", 9)
    pdf.multi_cell(_WIDTH / 2, 4.5, "- Như trên,\n- Lưu Văn phòng.", new_x="LEFT", new_y="NEXT")
    pdf.set_xy(right_x, top)
    pdf.set_font("DejaVu", "B", 10.5)
    for line in (head.on_behalf, head.signer_title):
        if line:
            pdf.multi_cell(right_w, 5.5, line.upper(), align="C", new_x="LEFT", new_y="NEXT")
    pdf.set_font("DejaVu", "I", 9)
    pdf.cell(right_w, 5, "(Ký, ghi rõ họ tên)", align="C", new_x="LEFT", new_y="NEXT")
    pdf.ln(22)
    pdf.set_x(right_x)
    pdf.set_font("DejaVu", "B", 10.5)
    pdf.multi_cell(right_w, 5.5, head.signer_name or "", align="C")


def _chain_footer(chain: dict[str, Any] | None) -> list[str]:
    if not chain:
        return [
            "Sổ điểm danh chưa được niêm phong (hội nghị chưa kết thúc, hoặc chưa niêm phong): "
            "không có mã băm cuối để đối chiếu."
        ]
    return [
        f"Sổ điểm danh đã niêm phong: {chain['length']} sự kiện, "
        f"mã băm cuối (SHA-256) {chain['head']}",
        f"Chữ ký Ed25519 của máy chủ: {chain['signature']} · kiểm tra: diemcau verify",
    ]


def _when(window: dict[str, Any], zone: ZoneInfo) -> str:
    start, end = terms.local(window["start"], zone), terms.local(window["end"], zone)
    assert start is not None and end is not None
    if start.date() == end.date():
        return f"từ {start:%H:%M} đến {end:%H:%M} ngày {start:%d/%m/%Y}"
    return f"từ {start:%H:%M} ngày {start:%d/%m/%Y} đến {end:%H:%M} ngày {end:%d/%m/%Y}"


def _of(part: object, whole: object, rate: float | None) -> str:
    shown = terms.percent(rate)
    return f"{part}/{whole}" + (f" ({shown})" if shown else "")


def _count_rate(count: object, rate: float | None) -> str:
    shown = terms.percent(rate)
    return f"{count}" + (f" ({shown})" if shown else "")


# -- a session ----------------------------------------------------------------------------------


def people_totals(body: dict[str, Any]) -> dict[str, int] | None:
    """The people's totals: the report's own (issue 15's contract) or, without them, counted
    from the sites' people; None when the report knows nobody by name (no rosters)."""
    totals = body["totals"]
    if totals.get("people_expected"):
        keys = ("people_expected", "people_present", "people_excused", "people_unexcused")
        return {k: int(totals.get(k) or 0) for k in keys}
    if not has_people(body["sites"]):
        return None
    counted = [people_counts(site) for site in body["sites"]]
    return {
        "people_expected": sum(len(site.get("people") or ()) for site in body["sites"]),
        **{k: sum(c[k] or 0 for c in counted) for k in ("people_present", "people_excused")},
        "people_unexcused": sum(c["people_unexcused"] or 0 for c in counted),
    }


def session_pdf(
    body: dict[str, Any],
    kind: str,
    letterhead: Letterhead,
    timezone: str,
    now: datetime,
) -> bytes:
    """The PDF of one session's report (`report_json` with its `title`), of a `kind` of
    conference, under `letterhead`; dated the letterhead's day or `now`'s on `timezone`."""
    zone = ZoneInfo(timezone)
    title = body.get("title") or f"Phiên {body['session']}"
    pdf = _Document(_chain_footer(body.get("chain")))
    pdf.set_title(f"Báo cáo kết quả tham dự: {title}")
    pdf.add_page()
    _letterhead(pdf, letterhead, "BC", letterhead.day or now.astimezone(zone).date())
    _title(pdf, "BÁO CÁO", f"Kết quả tham dự {title}")
    totals = body["totals"]
    _paragraph(
        pdf,
        f"{terms.session_kind(kind)} “{title}” diễn ra {_when(body['window'], zone)} "
        f"(giờ {timezone}), với {totals['invited']} điểm cầu được mời. "
        "Số liệu lấy từ sổ điểm danh của hệ thống hội nghị trực tuyến"
        + (f" (phiên {body['session']})." if body.get("session") else "."),
    )
    _section(pdf, "I. KẾT QUẢ CHUNG")
    rows: list[list[object]] = [
        ["Điểm cầu được mời", totals["invited"]],
        ["Điểm cầu có mặt", totals["present"]],
        ["Điểm cầu có mặt một phần", totals["partial"]],
        ["Điểm cầu vắng", totals["absent"]],
        ["Tỷ lệ điểm cầu tham dự", terms.percent(totals["connected_rate"])],
        ["Số người dự kiến", totals["expected"]],
        [
            "Số người dự (điểm cầu báo cáo)",
            _count_rate(totals["headcount"], totals["participation_rate"]),
        ],
    ]
    people = people_totals(body)
    if people is not None:
        expected = people["people_expected"]

        def share(key: str) -> str:
            return _count_rate(people[key], people[key] / expected if expected else None)

        rows += [
            ["Số người theo danh sách", expected],
            ["Có mặt theo danh sách", share("people_present")],
            ["Vắng có lý do", share("people_excused")],
            ["Vắng không lý do", share("people_unexcused")],
        ]
    _table(pdf, ["Tiêu chí", "Kết quả"], rows, (3, 2), size=9.5)
    _section(pdf, "II. TỪNG ĐIỂM CẦU")
    _table(
        pdf,
        ["STT", "Điểm cầu", "Tình trạng", "Kết nối", "Số người dự", "Ghi chú"],
        [_site_row(index, site, zone) for index, site in enumerate(body["sites"], start=1)],
        (10, 40, 22, 32, 20, 36),
    )
    if people is not None:
        _section(pdf, "III. NGƯỜI DỰ TỪNG ĐIỂM CẦU")
        for index, site in enumerate(body["sites"], start=1):
            _site_people(pdf, index, site, zone)
    _signature(pdf, letterhead)
    return bytes(pdf.output())


def _site_row(index: int, site: dict[str, Any], zone: ZoneInfo) -> list[object]:
    first = terms.local(site["first_join"], zone)
    last = terms.local(site["last_leave"], zone)
    if first is None:
        connected = "không kết nối"
    else:
        until = f"{last:%H:%M}" if last is not None else "…"
        connected = f"{first:%H:%M}–{until}, {terms.percent(site['coverage'])} thời gian"
        if site["interruptions"]:
            connected += f", {site['interruptions']} lần gián đoạn"
    notes = []
    if site["late"]:
        notes.append("vào muộn")
    if site["left_early"]:
        notes.append("rời sớm")
    if site.get("cause"):
        cause = terms.cause(site["cause"])
        reason = terms.cause_reason(site.get("cause_reason"))
        notes.append(f"{cause} ({reason})" if reason else cause)
    if site.get("people_count") is not None:
        estimate = f"camera ước tính {site['people_count']} người"
        if site.get("people_count_disagrees"):
            estimate += ", lệch với số điểm danh"
        notes.append(estimate)
    headcount = site["headcount"]
    present = "" if headcount is None else f"{headcount}/{site['expected']}"
    status = terms.site_status(site["status"])
    return [
        index,
        f"{site['name']} ({terms.site_kind(site['kind'])})",
        status,
        connected,
        present,
        "; ".join(notes),
    ]


def _site_people(pdf: FPDF, index: int, site: dict[str, Any], zone: ZoneInfo) -> None:
    people = site.get("people") or []
    if not people:
        return
    counts = people_counts(site)
    summary = (
        f"{index}. {site['name']}: có mặt {counts['people_present']}/{len(people)}, vắng có lý do "
        f"{counts['people_excused']}, vắng không lý do {counts['people_unexcused']}"
    )
    if site.get("people_count") is not None:
        summary += f"; camera ước tính {site['people_count']} người"
    pdf.set_font("DejaVu", "B", 10)
    pdf.multi_cell(_WIDTH, 5.5, summary, new_x="LMARGIN", new_y="NEXT")
    rows = [
        [
            number,
            person.get("name") or "",
            terms.person_status(str(person.get("status"))),
            terms.local_text(person.get("checked_in_at"), zone),
            terms.method(person.get("method")),
            person.get("reason") or "",
        ]
        for number, person in enumerate(people, start=1)
    ]
    _table(
        pdf,
        ["STT", "Họ và tên", "Tình trạng", "Giờ điểm danh", "Cách", "Lý do"],
        rows,
        (10, 44, 30, 32, 20, 29),
    )


# -- a period -----------------------------------------------------------------------------------


def period_pdf(body: dict[str, Any], letterhead: Letterhead, now: datetime) -> bytes:
    """The PDF of a period's figures (the period's JSON), per kind of conference, then each
    session held."""
    zone = ZoneInfo(body["timezone"])
    held = body["totals"]["sessions_held"]
    pdf = _Document(
        [
            f"Tổng hợp từ sổ điểm danh của {held} hội nghị; sổ của từng hội nghị được niêm phong "
            "và kiểm tra được bằng diemcau verify (mã băm cuối in trên báo cáo của hội nghị đó)."
        ]
    )
    title = period_title(body)
    pdf.set_title(title)
    pdf.add_page()
    _letterhead(pdf, letterhead, "BC", letterhead.day or now.astimezone(zone).date())
    _title(pdf, "BÁO CÁO", title[len("Báo cáo ") :].capitalize())
    kinds = {k: row for k, row in zip(("key", "grassroots", "total"), kind_rows(body), strict=True)}
    sentences = []
    for key in ("key", "grassroots"):
        row = kinds[key]
        rate = row["people_rate"] if row["people_rate"] is not None else row["participation_rate"]
        shown = terms.percent(rate if isinstance(rate, float) else None) or "chưa có số liệu"
        sentences.append(f"{row['sessions']} {str(row['kind']).lower()}, tỷ lệ tham dự {shown}")
    _paragraph(
        pdf,
        f"Trong kỳ đã tổ chức {held} hội nghị trực tuyến: " + "; ".join(sentences) + ". "
        "Tỷ lệ tham dự là số người có mặt theo danh sách trên số người theo danh sách; hội "
        "nghị chưa có danh sách tính theo số người các điểm cầu báo cáo.",
    )
    _section(pdf, "I. THEO LOẠI HỘI NGHỊ")
    _table(
        pdf,
        [
            "Loại hội nghị",
            "Số hội nghị",
            "Điểm cầu tham dự",
            "Người dự (báo cáo)",
            "Có mặt theo danh sách",
            "Vắng có lý do",
            "Vắng không lý do",
        ],
        [
            [
                row["kind"],
                row["sessions"],
                _of(row["attended"], row["invited"], _float(row["connected_rate"])),
                _of(row["headcount"], row["expected"], _float(row["participation_rate"])),
                _of(row["people_present"], row["people_expected"], _float(row["people_rate"])),
                row["people_excused"],
                row["people_unexcused"],
            ]
            for row in kinds.values()
        ],
        (34, 14, 24, 26, 26, 19, 22),
        bold_last=True,
    )
    _section(pdf, "II. CÁC HỘI NGHỊ")
    kind_of = {i: k for k in ("key", "grassroots") for i in body["kinds"][k]["session_ids"]}
    _table(
        pdf,
        [
            "STT",
            "Ngày",
            "Hội nghị",
            "Loại",
            "Điểm cầu tham dự",
            "Người dự (báo cáo)",
            "Theo danh sách",
        ],
        [
            [
                number,
                terms.local_text(s["window"]["start"], zone)[:10],
                s["title"],
                terms.session_kind(kind_of.get(s["id"], "grassroots")),
                f"{s['present'] + s['partial']}/{s['invited']}",
                _of(s["headcount"], s["expected"], s["participation_rate"]),
                _of(s["people_present"], s["people_expected"], s.get("people_present_rate"))
                if s.get("people_expected")
                else "",
            ]
            for number, s in enumerate(body["sessions"], start=1)
        ],
        (10, 20, 44, 26, 18, 24, 24),
    )
    repeated = [s for s in body["sites"] if s["repeatedly_absent_or_partial"]]
    if repeated:
        _section(pdf, "III. ĐIỂM CẦU VẮNG HOẶC THAM DỰ KHÔNG ĐỦ TỪ HAI LẦN")
        _table(
            pdf,
            ["Điểm cầu", "Số hội nghị", "Vắng", "Có mặt một phần"],
            [[s["name"], s["sessions"], s["absent"], s["partial"]] for s in repeated],
            (70, 30, 30, 35),
        )
    _signature(pdf, letterhead)
    return bytes(pdf.output())


def _float(value: object) -> float | None:
    return value if isinstance(value, float) else None
