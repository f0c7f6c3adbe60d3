"""A session's link sheet: an A4 PDF, one card per hall (its name, a QR code of its join link,
the link, the session's time), to print and stick on each hall's PC.

Drawn with fpdf2 in DejaVu Sans (Vietnamese glyphs), shipped in server/fonts/ with its licence so
that `pip install .` alone makes it. The QR code (segno) is drawn as vector rectangles: no
image library, and it stays sharp at any print size.
"""

from __future__ import annotations

from datetime import datetime
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import segno
from fpdf import FPDF
from fpdf.enums import WrapMode

# Times on the sheet are the halls' own (docs/attendance.md: the reports' zone too).
ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
_FONTS = resources.files("diemcau.server") / "fonts"

# A4 in millimetres, cut into 2 x 3 cards.
_PAGE_W, _PAGE_H, _MARGIN = 210.0, 297.0, 10.0
_COLUMNS, _ROWS = 2, 3
_CARD_W = (_PAGE_W - 2 * _MARGIN) / _COLUMNS
_CARD_H = (_PAGE_H - 2 * _MARGIN) / _ROWS
_PAD = 5.0
_QR_SIZE = 48.0


def link_sheet(links: dict[str, Any]) -> bytes:
    """The PDF of `links` (the answer of GET /api/sessions/{id}/links)."""
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_title(f"{links['title']}: liên kết các điểm cầu")
    pdf.set_creator("diemcau")
    pdf.add_font("DejaVu", "", str(_FONTS / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(_FONTS / "DejaVuSans-Bold.ttf"))
    when = _when(links["scheduled_start"], links["scheduled_end"])
    for index, site in enumerate(links["sites"]):
        slot = index % (_COLUMNS * _ROWS)
        if slot == 0:
            pdf.add_page()
        x = _MARGIN + (slot % _COLUMNS) * _CARD_W
        y = _MARGIN + (slot // _COLUMNS) * _CARD_H
        _card(pdf, x, y, links["title"], when, site)
    if not links["sites"]:
        pdf.add_page()
    return bytes(pdf.output())


def _card(pdf: FPDF, x: float, y: float, title: str, when: str, site: dict[str, Any]) -> None:
    pdf.set_draw_color(150, 150, 150)
    pdf.set_line_width(0.2)
    pdf.set_dash_pattern(dash=2, gap=1.5)  # a cutting line
    pdf.rect(x, y, _CARD_W, _CARD_H)
    pdf.set_dash_pattern()
    inner = _CARD_W - 2 * _PAD
    pdf.set_xy(x + _PAD, y + _PAD)
    pdf.set_font("DejaVu", "B", 13)
    pdf.multi_cell(inner, 6, site["name"], align="C", new_x="LEFT", new_y="NEXT")
    pdf.set_font("DejaVu", "", 8.5)
    pdf.multi_cell(inner, 4, title, align="C", new_x="LEFT", new_y="NEXT")
    pdf.multi_cell(inner, 4, when, align="C", new_x="LEFT", new_y="NEXT")
    top = pdf.get_y() + 2
    url = site.get("join_url")
    if url and not site.get("removed"):
        _qr(pdf, url, x + (_CARD_W - _QR_SIZE) / 2, top, _QR_SIZE)
        pdf.set_xy(x + _PAD, top + _QR_SIZE + 2)
        pdf.set_font("DejaVu", "", 6.5)
        pdf.multi_cell(inner, 3, url, align="C", wrapmode=WrapMode.CHAR)
    else:
        why = (
            "Điểm cầu này đã được mời ra khỏi hội nghị."
            if site.get("removed")
            else "Liên kết không hiển thị lại được: hãy cấp lại liên kết (diemcau session reissue)."
        )
        pdf.set_xy(x + _PAD, top + 10)
        pdf.set_font("DejaVu", "B", 10)
        pdf.multi_cell(inner, 5, why, align="C")


def _qr(pdf: FPDF, data: str, x: float, y: float, size: float) -> None:
    """The QR code of `data`, with its quiet zone, as one filled rectangle per run of dark
    modules in a row."""
    matrix = segno.make(data, error="m", micro=False).matrix
    quiet = 2
    module = size / (len(matrix) + 2 * quiet)
    pdf.set_fill_color(0, 0, 0)
    for r, row in enumerate(matrix):
        c = 0
        while c < len(row):
            if not row[c]:
                c += 1
                continue
            start = c
            while c < len(row) and row[c]:
                c += 1
            pdf.rect(
                x + (quiet + start) * module,
                y + (quiet + r) * module,
                (c - start) * module,
                module,
                style="F",
            )


def _when(start: str, end: str) -> str:
    begin = datetime.fromisoformat(start).astimezone(ZONE)
    finish = datetime.fromisoformat(end).astimezone(ZONE)
    day = f"{begin:%d/%m/%Y}"
    if finish.date() == begin.date():
        return f"{begin:%H:%M}–{finish:%H:%M}, ngày {day} (giờ Việt Nam)"
    return f"{begin:%H:%M} ngày {day} – {finish:%H:%M} ngày {finish:%d/%m/%Y} (giờ Việt Nam)"
