"""The A4 link sheet: its text read back from the PDF, and its QR code read back from the
rectangles drawn (no pure-Python QR decoder is at hand: the drawn modules are compared with the
matrix segno makes of the link)."""

from __future__ import annotations

import io
import re

import segno
from pypdf import PdfReader

from diemcau.server.linksheet import link_sheet

JOIN = "https://hop.example.vn/join/k7m2p9xq4a/nga-thanh#token=" + "A" * 43


def links(*sites: dict) -> dict:
    return {
        "session": "k7m2p9xq4a",
        "title": "Hội nghị quán triệt Nghị quyết",
        "state": "scheduled",
        "scheduled_start": "2025-03-01T01:00:00Z",
        "scheduled_end": "2025-03-01T04:00:00Z",
        "sites": list(sites),
    }


def site(site_id: str, name: str, url: str | None = JOIN, removed: bool = False) -> dict:
    return {"site": site_id, "name": name, "join_url": url, "removed": removed}


def test_each_hall_has_a_card_with_its_name_link_and_time() -> None:
    halls = [site(f"xa-{n}", f"Xã Nga Điền {n}") for n in range(7)]
    halls.append(site("cu", "Phường Cũ", url=None))
    halls.append(site("ra", "Xã Mời Ra", removed=True))
    pdf = PdfReader(io.BytesIO(link_sheet(links(*halls))))
    assert len(pdf.pages) == 2  # six cards a page
    assert [round(float(v)) for v in pdf.pages[0].mediabox[2:]] == [595, 842]  # A4 in points
    text = "\n".join(page.extract_text() for page in pdf.pages)
    for n in range(7):
        assert f"Xã Nga Điền {n}" in text
    assert "08:00–11:00, ngày 01/03/2025 (giờ Việt Nam)" in text
    assert "Hội nghị quán triệt Nghị quyết" in text
    assert JOIN in re.sub(r"\s", "", text)
    words = " ".join(text.split())  # a card wraps its lines where it must
    assert "hãy cấp lại liên kết" in words and "đã được mời ra khỏi hội nghị" in words


def test_the_qr_code_drawn_is_the_links() -> None:
    page = PdfReader(io.BytesIO(link_sheet(links(site("nga-thanh", "Xã Nga Thạnh"))))).pages[0]
    content = page.get_contents()
    assert content is not None
    stream = content.get_data().decode("latin-1")
    rects = [
        tuple(float(v) for v in m.groups())
        for m in re.finditer(r"([\d.]+) ([\d.]+) ([\d.]+) (-?[\d.]+) re f", stream)
    ]
    # Each rectangle is a run of dark modules in one row: rebuild the grid from them.
    height = abs(rects[0][3])
    left = min(r[0] for r in rects)
    top = max(r[1] for r in rects)
    matrix = segno.make(JOIN, error="m", micro=False).matrix
    drawn = [[False] * len(matrix) for _ in matrix]
    for x, y, width, _ in rects:
        row = round((top - y) / height)
        first = round((x - left) / height)
        for column in range(first, first + round(width / height)):
            drawn[row][column] = True
    assert drawn == [[bool(m) for m in row] for row in matrix]
