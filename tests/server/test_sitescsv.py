"""The one parser of the sites CSV, read strictly (the admin API's import) and leniently (a
report's roster); tests/server/test_api.py and test_roster.py check each reading in use."""

from __future__ import annotations

import pytest

from diemcau.server.sitescsv import HEADER, CsvRow, SitesCsvError, parse_sites_csv, records
from diemcau.server.store import Site

FIRST = "id,name,kind,expected\n"


def test_both_readings_share_one_header() -> None:
    assert HEADER == ("id", "name", "kind", "expected")
    for strict in (True, False):
        assert records(FIRST.encode(), strict=strict) == []


@pytest.mark.parametrize(
    ("header", "strict_takes", "lenient_takes"),
    [
        ("id,name,kind,expected", True, True),
        (" id , name,kind ,expected", True, True),
        ("ID,Name,Kind,Expected", False, True),
        ("id,name,kind,expected,note", False, True),
        ("id,name,kind", False, False),
        ("id;name;kind;expected", False, False),
        ("", False, False),
    ],
)
def test_the_header(header: str, strict_takes: bool, lenient_takes: bool) -> None:
    data = f"{header}\nnga-thanh,Xã Nga Thạnh,commune,40\n".encode()
    for strict, takes in ((True, strict_takes), (False, lenient_takes)):
        if takes:
            assert [r.fields[0] for r in records(data, strict=strict)] == ["nga-thanh"]
        else:
            with pytest.raises(SitesCsvError) as refused:
                records(data, strict=strict)
            assert (refused.value.kind, refused.value.line) == ("header", 1)


def test_records_keep_their_lines_and_blank_ones_are_left_out() -> None:
    data = (FIRST + '\nnga-thanh,"Xã\nNga Thạnh",commune,40\n,,,\n  \ntan-loc,T,town,1\n').encode()
    strict = records(data, strict=True)
    # Strictly, a record of blank fields is a record (to be rejected), an empty line is not.
    assert [(r.line, r.last_line, r.fields[0]) for r in strict] == [
        (3, 4, "nga-thanh"),
        (5, 5, ""),
        (6, 6, "  "),
        (7, 7, "tan-loc"),
    ]
    lenient = records(data, strict=False)
    assert [(r.line, r.last_line, r.fields[0]) for r in lenient] == [
        (3, 4, "nga-thanh"),
        (7, 7, "tan-loc"),
    ]


def test_a_byte_order_mark_is_allowed_and_other_encodings_are_not() -> None:
    assert len(records(("\ufeff" + FIRST + "a,A,x,1\r\n").encode(), strict=True)) == 1
    with pytest.raises(SitesCsvError) as refused:
        records((FIRST + "a,A,x,1\nb,Xã,x,1\n").encode("latin-1"), strict=False)
    assert (refused.value.kind, refused.value.line) == ("encoding", 3)


def test_broken_quoting_is_refused_only_strictly() -> None:
    data = (FIRST + 'a,"A"x,x,1\n').encode()
    with pytest.raises(SitesCsvError) as refused:
        records(data, strict=True)
    assert (refused.value.kind, refused.value.line) == ("syntax", 2)
    assert refused.value.detail == "',' expected after '\"'"
    assert [r.fields for r in records(data, strict=False)] == [["a", "Ax", "x", "1"]]


def test_the_import_checks_each_record_by_the_api_s_rules() -> None:
    data = (
        FIRST
        + "nga-thanh, Xã Nga Thạnh ,commune,40\n"
        + "host,Host,x,1\n"
        + "nga-thanh,Again,commune,1\n"
        + "tan-loc,T,town\n"
        + "ubnd,U,agency,-1\n"
        + "xa-la,,commune,1\n"
    ).encode()
    assert parse_sites_csv(data) == [
        CsvRow(2, "nga-thanh", Site("nga-thanh", "Xã Nga Thạnh", "commune", 40)),
        CsvRow(
            3,
            "host",
            None,
            "id must be 1 to 64 lowercase letters, digits, '-' or '_',"
            " starting with a letter or digit, and not 'host' or 'r'",
        ),
        CsvRow(4, "nga-thanh", None, "duplicate of line 2"),
        CsvRow(5, "tan-loc", None, "expected 4 fields, found 3"),
        CsvRow(6, "ubnd", None, "expected must be a whole number from 0 to 1000000"),
        CsvRow(7, "xa-la", None, "name must be non-empty text of at most 200 characters"),
    ]
