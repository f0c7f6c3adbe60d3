"""The official report's words: the report's values as a party committee's office writes them in
Vietnamese, and its times on the district's wall clock. Shared by the Vietnamese CSV, the XLSX
and the PDFs, so that the three say the same thing the same way.

The JSON and the default CSV keep the report's own values (`present`, `yes`, RFC 3339 UTC):
those are read by scripts (docs/attendance.md, Outputs).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from .sessionkind import KIND_LABELS_VI
from .times import local_time, parse_log_time

# A site's status over the session's window (server/attendance/rules.py).
SITE_STATUS_VI: Final = {
    "present": "có mặt",
    "partial": "có mặt một phần",
    "absent": "vắng",
}
# A person's standing (issue 15's contract): late is present, after the window's start; absent
# is without a reason ("không lý do"), excused with one.
PERSON_STATUS_VI: Final = {
    "present": "có mặt",
    "late": "có mặt (đến muộn)",
    "absent": "vắng không lý do",
    "excused": "vắng có lý do",
}
# Why an absent or late hall missed time (server/attendance/outage.py), and the log's reason.
CAUSE_VI: Final = {
    "never_opened": "không mở đường dẫn",
    "opened_late": "mở trang muộn",
    "media_failed": "đã mở trang, không kết nối được hình và tiếng",
    "network_lost": "đã kết nối, bị mất mạng",
}
CAUSE_REASON_VI: Final = {
    "ice_timeout": "không tìm được đường kết nối (hết thời gian chờ)",
    "ice_failed": "mọi đường kết nối đều lỗi",
    "dtls_failed": "lỗi bắt tay mã hóa (DTLS)",
    "failed": "mạng của điểm cầu mất tín hiệu",
    "server_shutdown": "máy chủ dừng",
}
METHOD_VI: Final = {"qr": "quét mã QR", "clerk": "thư ký điểm danh"}
# The site kinds the pages know (web/i18n); a kind of the district's own is written as it is.
SITE_KIND_VI: Final = {
    "commune": "Xã",
    "ward": "Phường",
    "town": "Thị trấn",
    "district": "Huyện",
    "agency": "Cơ quan",
}
YES_NO_VI: Final = {True: "có", False: "không"}
# Day first, as Vietnamese dates are written; the zone is said beside the table.
LOCAL_FORMAT: Final = "%d/%m/%Y %H:%M:%S"


def site_status(status: str) -> str:
    return SITE_STATUS_VI.get(status, status)


def person_status(status: str) -> str:
    return PERSON_STATUS_VI.get(status, status)


def method(value: str | None) -> str:
    return "" if value is None else METHOD_VI.get(value, value)


def cause(value: str | None) -> str:
    return "" if value is None else CAUSE_VI.get(value, value)


def cause_reason(value: str | None) -> str:
    return "" if value is None else CAUSE_REASON_VI.get(value, value)


def site_kind(kind: str) -> str:
    return SITE_KIND_VI.get(kind, kind)


def session_kind(kind: str) -> str:
    return KIND_LABELS_VI.get(kind, kind)


def yes_no(value: bool) -> str:
    return YES_NO_VI[bool(value)]


def local(text: object, zone: ZoneInfo) -> datetime | None:
    """A report time (RFC 3339 UTC, as the JSON has it) on the zone's wall clock, naive;
    None for none."""
    return local_time(parse_log_time(text), zone)


def local_text(text: object, zone: ZoneInfo) -> str:
    moment = local(text, zone)
    return "" if moment is None else f"{moment:{LOCAL_FORMAT}}"


def percent(rate: float | None) -> str:
    """A rate as the office writes it: 97,5% (a decimal comma); an empty cell for none."""
    if rate is None:
        return ""
    return f"{rate * 100:.1f}%".replace(".", ",")
