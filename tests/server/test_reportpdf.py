"""The official report's PDF: its text read back (pypdf) has the heading, the committee, the
number, place and date, every site, the totals, the people and the chain head; each page
rendered by poppler's pdftoppm has ink where the heading is, and is not blank."""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from diemcau.server.attendance import (
    HeldSession,
    LogEvent,
    RosterSite,
    attendance,
    period_summary,
    report_json,
)
from diemcau.server.attendance.people import RosterPerson
from diemcau.server.letterhead import Letterhead
from diemcau.server.reportpdf import HEADING, period_pdf, session_pdf

from .test_reports import report, with_people

NOW = datetime(2026, 3, 5, 4, 0, tzinfo=UTC)  # 11:00 in Hà Nội
LETTERHEAD = Letterhead(
    committee="Huyện ủy Nga Sơn",
    parent="Đảng bộ tỉnh Thanh Hóa",
    place="Nga Sơn",
    number="12-BC/HU",
    on_behalf="T/M Ban Thường vụ",
    signer_title="Phó Bí thư",
    signer_name="Nguyễn Văn Bình",
)
SEAL = {"head": "9f" * 32, "length": 42, "signature": "c2lnbmF0dXJl" * 7}


def text_of(pdf: bytes) -> str:
    """The PDF's text, with runs of whitespace as one space (lines wrap where they must)."""
    pages = PdfReader(io.BytesIO(pdf)).pages
    return " ".join(" ".join(page.extract_text().split()) for page in pages)


def session_body(people: bool = True) -> dict[str, Any]:
    made = report(["Xã Nga Thạnh", "Phường Ba Đình"])
    body = with_people(made) if people else report_json(made)
    body["title"] = "Hội nghị cán bộ chủ chốt quý I"
    body["chain"] = SEAL
    return body


def test_a_sessions_pdf_reads_as_the_committees_report() -> None:
    text = text_of(session_pdf(session_body(), "key", LETTERHEAD, "Asia/Ho_Chi_Minh", NOW))
    for part in [
        HEADING,
        "ĐẢNG BỘ TỈNH THANH HÓA",
        "HUYỆN ỦY NGA SƠN",
        "Số 12-BC/HU",
        "Nga Sơn, ngày 05 tháng 3 năm 2026",  # NOW on the district's clock
        "BÁO CÁO",
        "Hội nghị cán bộ chủ chốt quý I",
        "từ 08:00 đến 08:30 ngày 05/03/2026",
        # Every site, its standing and its people.
        "Xã Nga Thạnh",
        "Phường Ba Đình",
        "Nguyễn Văn An",
        "Hoàng Thị Em",
        "vắng có lý do",
        "Ốm, có giấy",
        "camera ước tính 3 người",
        "camera ước tính 3 người, lệch với số điểm danh",
        # The totals and rates.
        "Điểm cầu được mời 2",
        "Tỷ lệ điểm cầu tham dự 50,0%",
        "Số người dự kiến 20",
        "Có mặt theo danh sách 2 (40,0%)",
        "Vắng có lý do 1 (20,0%)",
        "Vắng không lý do 2 (40,0%)",
        # The signature block, and the chain head in the footer.
        "T/M BAN THƯỜNG VỤ",
        "PHÓ BÍ THƯ",
        "Nguyễn Văn Bình",
        "42 sự kiện",
        "Trang 1/",
    ]:
        assert part in text, part
    assert SEAL["head"] in text.replace(" ", "")


def test_without_rosters_a_seal_or_settings_the_pdf_still_reads() -> None:
    body = session_body(people=False)
    body["chain"] = None
    text = text_of(session_pdf(body, "grassroots", Letterhead(), "Asia/Ho_Chi_Minh", NOW))
    assert HEADING in text and "Số …-BC/…" in text and "ngày 05 tháng 3 năm 2026" in text
    assert "Hội nghị cấp cơ sở" in text and "Xã Nga Thạnh" in text and "Phường Ba Đình" in text
    assert "Sổ điểm danh chưa được niêm phong" in text
    assert "NGƯỜI DỰ TỪNG ĐIỂM CẦU" not in text and "theo danh sách" not in text


def test_a_long_session_flows_onto_pages_each_with_the_footer() -> None:
    made = report([f"Xã Nga {n:02d}" for n in range(60)])
    body = report_json(made, title="Hội nghị tổng kết năm")
    body["chain"] = SEAL
    pdf = session_pdf(body, "grassroots", LETTERHEAD, "Asia/Ho_Chi_Minh", NOW)
    pages = PdfReader(io.BytesIO(pdf)).pages
    assert len(pages) >= 3
    for number, page in enumerate(pages, start=1):
        words = " ".join(page.extract_text().split())
        assert f"Trang {number}/{len(pages)}" in words and "42 sự kiện" in words
    text = text_of(pdf)
    assert all(f"Xã Nga {n:02d}" in text for n in range(60))


def period_body() -> dict[str, Any]:
    """A period's JSON as period_summary makes it: a key cadres' conference (98 of 100 people
    reported) and a grassroots one (89 of 100); Thị trấn Tân Lộc absent from both."""
    people = (RosterPerson("p1", "Nguyễn Văn An"), RosterPerson("p2", "Trần Thị Bình"))
    roster = [
        RosterSite("nga-thanh", "Xã Nga Thạnh", "commune", 50, people),
        RosterSite("nga-son", "Xã Nga Sơn", "commune", 50),
        RosterSite("tan-loc", "Thị trấn Tân Lộc", "town", 0),
    ]

    def held(id: str, title: str, kind: str, day: int, heads: tuple[int, int]) -> HeldSession:
        start = datetime(2026, 3, day, 1, 0, tzinfo=UTC)
        events = [LogEvent(start, "session_start", 0)]
        for n, (site, present) in enumerate(zip(("nga-thanh", "nga-son"), heads, strict=True)):
            events.append(LogEvent(start, "join", 1 + n, site=site, conn=f"c{n}"))
            events.append(
                LogEvent(start, "headcount", 3 + n, site=site, fields={"present": present})
            )
        checkin = {"person": "p1", "method": "qr"}  # one of Nga Thạnh's two people, each time
        events.append(LogEvent(start, "checkin", 5, site="nga-thanh", fields=checkin))
        events.append(LogEvent(start + timedelta(hours=1), "session_end", 9))
        return HeldSession(id, title, False, attendance(events, roster), kind)

    summary = period_summary(
        [
            held("k1", "Hội nghị cán bộ chủ chốt quý I", "key", 5, (49, 49)),
            held("g1", "Hội nghị quán triệt Nghị quyết", "grassroots", 12, (45, 44)),
        ]
    )
    return {"from": "2026-01-01", "to": "2026-12-31", "timezone": "Asia/Ho_Chi_Minh", **summary}


def test_a_periods_pdf_gives_the_rate_of_each_kind_of_conference() -> None:
    text = text_of(period_pdf(period_body(), LETTERHEAD, NOW))
    for part in [
        HEADING,
        "HUYỆN ỦY NGA SƠN",
        "từ ngày 01/01/2026 đến ngày 31/12/2026",
        # The rate by name where the halls have rosters: 1 of Nga Thạnh's 2 each time.
        "1 hội nghị cán bộ chủ chốt, tỷ lệ tham dự 50,0%",
        "1 hội nghị cấp cơ sở, tỷ lệ tham dự 50,0%",
        "98/100 (98,0%)",
        "187/200 (93,5%)",  # the totals' row
        "4/6 (66,7%)",  # halls: Tân Lộc absent twice
        "1/2 (50,0%)",  # by name, where there is a roster
        "Hội nghị quán triệt Nghị quyết",
        "05/03/2026",
        "Thị trấn Tân Lộc",
        "PHÓ BÍ THƯ",
    ]:
        assert part in text, part


def ink(pdf: bytes, tmp_path: Path) -> list[list[float]]:
    """Each page rendered by pdftoppm in grey at 40 dpi: the share of dark pixels in each of
    its ten horizontal bands, top to bottom."""
    source = tmp_path / "report.pdf"
    source.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-gray", "-r", "40", str(source), str(tmp_path / "page")],
        check=True,
        timeout=60,
    )
    bands = []
    for path in sorted(tmp_path.glob("page-*.pgm")):
        data = path.read_bytes()
        magic, width, height, depth, pixels = data.split(maxsplit=4)
        assert (magic, depth) == (b"P5", b"255")
        w, h = int(width), int(height)
        rows = [pixels[y * w : (y + 1) * w] for y in range(h)]
        step = h // 10
        bands.append(
            [
                sum(1 for row in rows[b * step : (b + 1) * step] for v in row if v < 128)
                / (w * step)
                for b in range(10)
            ]
        )
    return bands


@pytest.mark.skipif(
    shutil.which("pdftoppm") is None, reason="poppler-utils (tests/run installs it)"
)
def test_every_page_renders_with_ink_and_the_heading_at_the_top(tmp_path: Path) -> None:
    pdf = session_pdf(session_body(), "key", LETTERHEAD, "Asia/Ho_Chi_Minh", NOW)
    pages = ink(pdf, tmp_path)
    assert len(pages) == len(PdfReader(io.BytesIO(pdf)).pages)
    for bands in pages:
        assert sum(bands) / 10 > 0.001  # not blank (a last page may hold only the signature)
    first = pages[0]
    assert first[0] > 0.01  # the letterhead is drawn at the top
    assert (tmp_path / "period").mkdir() is None
    period = ink(period_pdf(period_body(), LETTERHEAD, NOW), tmp_path / "period")
    assert period and all(sum(bands) / 10 > 0.001 for bands in period)
    assert sum(period[0]) / 10 > 0.01
