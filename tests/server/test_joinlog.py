"""Reading the join log as JSON Lines, written from the specification: lenient per line, every
skipped line named by its number."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from diemcau.server.joinlog import read_jsonl, to_json, write_jsonl
from diemcau.server.store import Event

JOIN = '{"ts": "2026-03-05T00:59:40.120Z", "session": "s1", "type": "join", "site": "nga-thanh", "conn": "c7"}'  # noqa: E501
LEAVE = '{"ts": "2026-03-05T01:20:02.500Z", "session": "s1", "type": "leave", "site": "nga-thanh", "conn": "c7", "reason": "failed"}'  # noqa: E501
HEADCOUNT = '{"ts": "2026-03-05T01:00:05.000Z", "session": "s1", "type": "headcount", "site": "nga-thanh", "present": 43}'  # noqa: E501
START = '{"ts": "2026-03-05T01:00:00.000Z", "session": "s1", "type": "session_start"}'
SPEC_EXAMPLE = [JOIN, LEAVE, HEADCOUNT, START]


def test_the_specification_example() -> None:
    events, skipped = read_jsonl(SPEC_EXAMPLE)
    assert skipped == []
    assert [(e.type, e.ts, e.session, e.site, e.conn) for e in events] == [
        ("join", datetime(2026, 3, 5, 0, 59, 40, 120000, tzinfo=UTC), "s1", "nga-thanh", "c7"),
        ("leave", datetime(2026, 3, 5, 1, 20, 2, 500000, tzinfo=UTC), "s1", "nga-thanh", "c7"),
        ("headcount", datetime(2026, 3, 5, 1, 0, 5, tzinfo=UTC), "s1", "nga-thanh", None),
        ("session_start", datetime(2026, 3, 5, 1, 0, tzinfo=UTC), "s1", None, None),
    ]
    assert dict(events[1].fields) == {"reason": "failed"}
    assert dict(events[2].fields) == {"present": 43}
    assert dict(events[3].fields) == {}


def test_events_keep_the_order_of_the_file() -> None:
    # Ordering by ts is attendance's business; the index keeps ties stable.
    events, _ = read_jsonl(SPEC_EXAMPLE)
    indexes = [e.index for e in events]
    assert indexes == sorted(indexes)
    assert len(set(indexes)) == len(indexes)


def test_extra_fields_and_types_are_kept() -> None:
    line = json.dumps(
        {
            "ts": "2026-03-05T01:00:00Z",
            "session": "s1",
            "type": "ice_restart",
            "site": "nga-thanh",
            "conn": "c1",
            "ua": "Firefox",
            "stats": {"rtt_ms": 31, "lost": [0, 1]},
            "note": None,
        }
    )
    [event], skipped = read_jsonl([line])
    assert skipped == []
    assert event.type == "ice_restart"
    assert dict(event.fields) == {
        "ua": "Firefox",
        "stats": {"rtt_ms": 31, "lost": [0, 1]},
        "note": None,
    }


def test_a_line_without_session_site_or_conn() -> None:
    [event], _ = read_jsonl(['{"ts": "2026-03-05T01:00:00Z", "type": "session_start"}'])
    assert (event.session, event.site, event.conn) == (None, None, None)


@pytest.mark.parametrize(
    ("ts", "moment"),
    [
        ("2026-03-05T01:00:00Z", datetime(2026, 3, 5, 1, tzinfo=UTC)),
        ("2026-03-05T01:00:00.000Z", datetime(2026, 3, 5, 1, tzinfo=UTC)),
        ("2026-03-05T01:00:00.5+00:00", datetime(2026, 3, 5, 1, 0, 0, 500000, tzinfo=UTC)),
        ("2026-03-05T08:00:00+07:00", datetime(2026, 3, 5, 1, tzinfo=UTC)),
        ("2026-03-04T20:30:00-04:30", datetime(2026, 3, 5, 1, tzinfo=UTC)),
        ("2026-03-05t01:00:00z", datetime(2026, 3, 5, 1, tzinfo=UTC)),
    ],
)
def test_timestamps_with_a_time_zone(ts: str, moment: datetime) -> None:
    [event], skipped = read_jsonl([json.dumps({"ts": ts, "type": "join"})])
    assert skipped == []
    assert event.ts == moment
    assert event.ts.utcoffset() is not None


BAD_LINES = [
    ("not JSON", "hello"),
    ("a JSON array", '["2026-03-05T01:00:00Z", "join"]'),
    ("a JSON string", '"2026-03-05T01:00:00Z"'),
    ("a JSON number", "42"),
    ("JSON null", "null"),
    ("an object cut short", '{"ts": "2026-03-05T01:00:00Z", "type": "jo'),
    ("missing ts", '{"type": "join", "site": "nga-thanh"}'),
    ("ts null", '{"ts": null, "type": "join"}'),
    ("ts a number", '{"ts": 1772672400, "type": "join"}'),
    ("ts not a time", '{"ts": "yesterday", "type": "join"}'),
    ("ts not a date", '{"ts": "2026-02-30T01:00:00Z", "type": "join"}'),
    ("ts out of range", '{"ts": "2026-03-05T25:00:00Z", "type": "join"}'),
    ("ts naive", '{"ts": "2026-03-05T01:00:00", "type": "join"}'),
    ("ts naive, fraction", '{"ts": "2026-03-05T01:00:00.120", "type": "join"}'),
    ("ts a date only", '{"ts": "2026-03-05", "type": "join"}'),
    ("missing type", '{"ts": "2026-03-05T01:00:00Z", "site": "nga-thanh"}'),
    ("type null", '{"ts": "2026-03-05T01:00:00Z", "type": null}'),
    ("type empty", '{"ts": "2026-03-05T01:00:00Z", "type": ""}'),
]


@pytest.mark.parametrize("line", [c[1] for c in BAD_LINES], ids=[c[0] for c in BAD_LINES])
def test_a_bad_line_is_skipped_and_named(line: str) -> None:
    events, skipped = read_jsonl([START, line, JOIN])
    assert [e.type for e in events] == ["session_start", "join"]
    assert [s.number for s in skipped] == [2]
    assert skipped[0].reason


def test_skipped_lines_are_numbered_from_1_counting_blank_lines() -> None:
    lines = ["garbage", START, "", "   ", "[1]", JOIN, "\t", '{"ts": "2026-03-05T01:00:00"}']
    events, skipped = read_jsonl(lines)
    assert [e.type for e in events] == ["session_start", "join"]
    assert [s.number for s in skipped] == [1, 5, 8]


def test_blank_lines_are_neither_events_nor_skipped() -> None:
    assert read_jsonl(["", "\n", "  \r\n", "\t\n"]) == ([], [])
    assert read_jsonl([]) == ([], [])


def test_a_torn_last_line_is_skipped() -> None:
    text = "\n".join(SPEC_EXAMPLE) + "\n" + HEADCOUNT[:57]  # no newline: the write was cut
    events, skipped = read_jsonl(io.StringIO(text))
    assert len(events) == 4
    assert [s.number for s in skipped] == [5]


def test_a_torn_last_line_cut_inside_a_character_is_skipped() -> None:
    line = json.dumps(
        {"ts": "2026-03-05T01:00:00Z", "type": "chat", "text": "Ngã"}, ensure_ascii=False
    )
    data = (START + "\n" + line).encode()
    torn = data[: data.index("ã".encode()) + 1]  # half of a two-byte character
    events, skipped = read_jsonl(io.BytesIO(torn))
    assert [e.type for e in events] == ["session_start"]
    assert [s.number for s in skipped] == [2]


def test_bom_at_the_start_of_the_file() -> None:
    text = "\ufeff" + "\n".join(SPEC_EXAMPLE) + "\n"
    for lines in (io.StringIO(text), io.BytesIO(text.encode())):
        events, skipped = read_jsonl(lines)
        assert skipped == []
        assert [e.type for e in events] == ["join", "leave", "headcount", "session_start"]
        assert events[0].conn == "c7"


def test_bom_at_the_start_of_a_bad_first_line_still_skips_it() -> None:
    events, skipped = read_jsonl(["\ufeffnot json\n", START])
    assert [s.number for s in skipped] == [1]
    assert len(events) == 1


def test_crlf_line_ends() -> None:
    text = "\r\n".join(SPEC_EXAMPLE) + "\r\n\r\nnot json\r\n"
    for lines in (
        io.BytesIO(text.encode()),  # a file opened in binary: the "\r" stays
        text.split("\n"),
        text.splitlines(keepends=True),
        io.StringIO(text, newline=""),  # text mode without newline translation
    ):
        events, skipped = read_jsonl(lines)
        assert [e.type for e in events] == ["join", "leave", "headcount", "session_start"]
        assert [s.number for s in skipped] == [6]
        assert events[0].conn == "c7"
        assert dict(events[1].fields) == {"reason": "failed"}


def test_vietnamese_text() -> None:
    obj = {
        "ts": "2026-03-05T01:20:02.500Z",
        "session": "Họp giao ban tháng 3",
        "type": "leave",
        "site": "xã-ngã-thạnh",
        "conn": "c7",
        "reason": "failed",
        "note": "Mất kết nối ở Ủy ban nhân dân xã",
    }
    for line in (json.dumps(obj, ensure_ascii=False), json.dumps(obj)):  # UTF-8 and \u escapes
        for lines in ([line], [line.encode()]):
            [event], skipped = read_jsonl(lines)
            assert skipped == []
            assert (event.session, event.site) == ("Họp giao ban tháng 3", "xã-ngã-thạnh")
            assert event.fields["note"] == "Mất kết nối ở Ủy ban nhân dân xã"


# -- how a hall came in ------------------------------------------------------------------------

ROUTED_JOIN = '{"ts": "2026-03-05T00:59:40.120Z", "session": "s1", "type": "join", "site": "nga-thanh", "conn": "c7", "candidate": "relay", "protocol": "tcp", "address": "198.51.100.x"}'  # noqa: E501
ATTEMPT = '{"ts": "2026-03-05T00:59:10.000Z", "session": "s1", "type": "attempt_failed", "site": "nga-thanh", "conn": "c6", "reason": "ice_timeout", "offered": ["host"]}'  # noqa: E501


def test_the_route_and_failed_attempts_are_read() -> None:
    events, skipped = read_jsonl([START, ATTEMPT, ROUTED_JOIN, LEAVE])
    assert skipped == []
    assert [(e.type, e.conn) for e in events] == [
        ("session_start", None),
        ("attempt_failed", "c6"),
        ("join", "c7"),
        ("leave", "c7"),
    ]
    assert dict(events[1].fields) == {"reason": "ice_timeout", "offered": ["host"]}
    assert dict(events[2].fields) == {
        "candidate": "relay",
        "protocol": "tcp",
        "address": "198.51.100.x",
    }


def stored(type: str, **body: Any) -> Event:
    return Event(7, datetime(2026, 3, 5, 1, tzinfo=UTC), "s1", type, "nga-thanh", "c7", body)


@pytest.mark.parametrize(
    ("address", "exported"),
    [
        ("203.0.113.7", "203.0.113.x"),
        ("2001:db8:1:2::9", "2001:db8:1::x"),
        ("::ffff:203.0.113.7", "203.0.113.x"),
        # Never written by the server; hidden whole rather than exported raw.
        ("hall.example.vn", "x"),
        (None, "x"),
        (["203.0.113.7"], "x"),
    ],
)
def test_an_exported_address_is_masked(address: object, exported: str) -> None:
    event = stored("join", candidate="srflx", protocol="udp", address=address)
    assert to_json(event) == {
        "ts": "2026-03-05T01:00:00.000Z",
        "session": "s1",
        "type": "join",
        "site": "nga-thanh",
        "conn": "c7",
        "candidate": "srflx",
        "protocol": "udp",
        "address": exported,
    }
    assert event.body["address"] == address  # the event itself is left as it was


def test_events_without_an_address_are_exported_as_they_are() -> None:
    assert to_json(stored("leave", reason="failed"))["reason"] == "failed"
    assert "address" not in to_json(stored("join"))
    attempt = stored("attempt_failed", reason="dtls_failed", offered=["host", "srflx"])
    assert {k: v for k, v in to_json(attempt).items() if k in attempt.body} == attempt.body


def test_what_is_written_reads_back() -> None:
    events = [
        stored("join", candidate="relay", protocol="udp", address="198.51.100.20"),
        stored("attempt_failed", reason="ice_failed", offered=[]),
    ]
    read, skipped = read_jsonl(list(write_jsonl(events)))
    assert skipped == []
    assert [dict(e.fields) for e in read] == [
        {"candidate": "relay", "protocol": "udp", "address": "198.51.100.x"},
        {"reason": "ice_failed", "offered": []},
    ]


# -- properties ---------------------------------------------------------------------------------


# Text on one line, whose only white space is spaces and tabs.
one_line = st.text(
    st.characters(exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")) | st.sampled_from(' \t{}"')
)


@given(st.lists(one_line | st.sampled_from([*SPEC_EXAMPLE, *(c[1] for c in BAD_LINES)])))
def test_every_line_is_an_event_or_skipped_or_blank(lines: list[str]) -> None:
    events, skipped = read_jsonl(lines)
    non_blank = [n for n, line in enumerate(lines, start=1) if line.strip(" \t")]
    assert sorted([e.index for e in events] + [s.number for s in skipped]) == non_blank


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
ENVELOPE = {"ts", "session", "type", "site", "conn"}


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    st.text(min_size=1),
    st.dictionaries(st.text().filter(lambda k: k not in ENVELOPE), json_values, max_size=4),
)
def test_a_valid_line_reads_back(moment: datetime, kind: str, extra: dict[str, Any]) -> None:
    line = json.dumps({"ts": moment.isoformat(), "type": kind, "site": "nga-thanh", **extra})
    [event], skipped = read_jsonl([line])
    assert skipped == []
    assert (event.ts, event.type, event.site) == (moment, kind, "nga-thanh")
    assert dict(event.fields) == extra
