"""The named time formats and their parsers: each reads back what it writes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from diemcau.server.times import (
    api_time,
    db_time,
    db_time_or_none,
    file_time,
    local_time,
    log_time,
    parse_api_time,
    parse_day,
    parse_db_time,
    parse_db_time_or_none,
    parse_log_time,
)

HANOI = timezone(timedelta(hours=7))
WHOLE = datetime(2026, 3, 1, 8, 0, tzinfo=HANOI)
FRACTION = datetime(2026, 3, 1, 8, 0, 0, 123456, tzinfo=HANOI)


@pytest.mark.parametrize(
    ("moment", "api", "log"),
    [
        (WHOLE, "2026-03-01T01:00:00Z", "2026-03-01T01:00:00.000Z"),
        (FRACTION, "2026-03-01T01:00:00.123Z", "2026-03-01T01:00:00.123Z"),
        (None, None, None),
    ],
)
def test_api_and_log_formats(moment: datetime | None, api: str | None, log: str | None) -> None:
    assert (api_time(moment), log_time(moment)) == (api, log)


def test_the_database_format_is_the_log_format_and_reads_back() -> None:
    assert db_time(FRACTION) == log_time(FRACTION)
    assert parse_db_time(db_time(WHOLE)) == WHOLE
    assert (db_time_or_none(None), parse_db_time_or_none(None)) == (None, None)
    with pytest.raises(ValueError, match="timezone-aware"):
        db_time(datetime(2026, 3, 1, 8, 0))


@pytest.mark.parametrize(
    "text",
    ["2026-03-01T08:00:00+07:00", "2026-03-01t01:00:00z", "2026-03-01 01:00:00.5Z"],
)
def test_api_times_read_with_any_offset(text: str) -> None:
    assert parse_api_time(text).astimezone(UTC).replace(microsecond=0) == WHOLE


@pytest.mark.parametrize("text", ["2026-03-01T08:00:00", "20260301T010000Z", "2026-03-01", ""])
def test_api_times_need_rfc_3339_with_an_offset(text: str) -> None:
    with pytest.raises(ValueError):
        parse_api_time(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-01T01:00:00.000Z", WHOLE),
        ("2026-03-01t01:00:00z", WHOLE),
        ("2026-03-01T08:00:00+07:00", WHOLE),
        ("2026-03-01T01:00:00", None),  # no zone
        ("2026-03-01", None),
        (20260301, None),
        (None, None),
    ],
)
def test_log_times_read_leniently_but_need_a_zone(value: object, expected: object) -> None:
    assert parse_log_time(value) == expected


def test_local_times_are_the_zones_wall_clock_to_the_millisecond() -> None:
    local = local_time(FRACTION, ZoneInfo("Asia/Ho_Chi_Minh"))
    assert local == datetime(2026, 3, 1, 8, 0, 0, 123000)
    assert local_time(None, ZoneInfo("UTC")) is None


def test_days_are_yyyy_mm_dd_only() -> None:
    assert parse_day("2026-01-31") == date(2026, 1, 31)
    for text in ["20260131", "2026-W05-6", "2026-1-31"]:
        with pytest.raises(ValueError):
            parse_day(text)


def test_file_names_take_basic_iso_8601_in_utc() -> None:
    assert file_time(FRACTION) == "20260301T010000Z"
