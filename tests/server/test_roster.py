"""The roster of an offline report: the sites CSV, read leniently, its problems reported."""

from __future__ import annotations

import pytest

from diemcau.server.attendance import RosterSite
from diemcau.server.roster import RosterError, read_roster

HEADER = "id,name,kind,expected\n"


def roster(text: str, bom: bool = False) -> tuple[list[RosterSite], list[str]]:
    return read_roster((("\ufeff" if bom else "") + text).encode("utf-8"))


def test_sites_in_file_order() -> None:
    sites, problems = roster(
        HEADER + "tan-loc,Thị trấn Tân Lộc,town,25\nnga-thanh,Xã Nga Thạnh,commune,40\n"
    )
    assert sites == [
        RosterSite("tan-loc", "Thị trấn Tân Lộc", "town", 25),
        RosterSite("nga-thanh", "Xã Nga Thạnh", "commune", 40),
    ]
    assert problems == []


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n",
        "nga-thanh,Xã Nga Thạnh,commune,40\n",  # no header: the first site is not one
        "id,name,kind\nnga-thanh,Xã Nga Thạnh,commune\n",
        "id;name;kind;expected\n",  # a semicolon CSV, as some Excel locales save
        "site,name,kind,expected\n",
    ],
    ids=["empty", "blank line", "no header", "three columns", "semicolons", "other name"],
)
def test_the_header_is_required(text: str) -> None:
    with pytest.raises(RosterError, match="id,name,kind,expected"):
        roster(text)


@pytest.mark.parametrize(
    "header",
    [
        HEADER,
        "ID,Name,Kind,Expected\n",
        " id , name , kind , expected \n",
        "id,name,kind,expected,note\n",
    ],
    ids=["plain", "capitalised", "spaced", "extra column"],
)
def test_header_variants_that_are_accepted(header: str) -> None:
    sites, problems = roster(header + "nga-thanh,Xã Nga Thạnh,commune,40\n")
    assert [s.id for s in sites] == ["nga-thanh"]
    assert problems == []


def test_a_byte_order_mark_is_allowed() -> None:
    # Excel's "CSV UTF-8" begins with one; the first header cell must still read "id".
    sites, problems = roster(HEADER + "nga-thanh,Xã Nga Thạnh,commune,40\r\n", bom=True)
    assert sites == [RosterSite("nga-thanh", "Xã Nga Thạnh", "commune", 40)]
    assert problems == []


def test_not_utf8_is_refused() -> None:
    # "Xã" as Windows-1252 saves it: a lone 0xE3 byte.
    data = (HEADER + "nga-thanh,Xã Nga Thanh,commune,40\n").encode("latin-1")
    with pytest.raises(RosterError, match="UTF-8"):
        read_roster(data)


def test_blank_lines_are_skipped_and_lines_keep_their_numbers() -> None:
    text = HEADER + "\nnga-thanh,Xã Nga Thạnh,commune,40\n,,,\n  \nnga-thanh,Trùng,commune,1\n\n"
    sites, problems = roster(text)
    assert [s.id for s in sites] == ["nga-thanh"]
    assert problems == ["line 6: nga-thanh is listed twice; the first is kept"]


def test_duplicate_ids_keep_the_first() -> None:
    text = (
        HEADER + "nga-thanh,Xã Nga Thạnh,commune,40\ntan-loc,Tân Lộc,town,25\nnga-thanh,Khác,x,1\n"
    )
    sites, problems = roster(text)
    assert sites == [
        RosterSite("nga-thanh", "Xã Nga Thạnh", "commune", 40),
        RosterSite("tan-loc", "Tân Lộc", "town", 25),
    ]
    assert problems == ["line 4: nga-thanh is listed twice; the first is kept"]


def test_empty_expected_is_not_known() -> None:
    sites, problems = roster(HEADER + "nga-thanh,Xã Nga Thạnh,commune,\nubnd,UBND huyện,agency\n")
    assert [s.expected for s in sites] == [None, None]
    assert problems == []


@pytest.mark.parametrize("expected", ["abc", "-3", "4.5", "1e3", "bốn"])
def test_bad_expected_is_a_problem_and_the_site_stays_with_none(expected: str) -> None:
    sites, problems = roster(HEADER + f"nga-thanh,Xã Nga Thạnh,commune,{expected}\n")
    assert sites == [RosterSite("nga-thanh", "Xã Nga Thạnh", "commune", None)]
    assert problems == [f"line 2: expected {expected!r} is not a count"]


def test_zero_expected_is_a_count() -> None:
    sites, _ = roster(HEADER + "nga-thanh,Xã Nga Thạnh,commune,0\n")
    assert sites[0].expected == 0


def test_a_line_without_id_is_left_out() -> None:
    sites, problems = roster(HEADER + ",Xã Nga Thạnh,commune,40\ntan-loc,Tân Lộc,town,25\n")
    assert [s.id for s in sites] == ["tan-loc"]
    assert problems == ["line 2: no id"]


def test_missing_name_falls_back_to_the_id() -> None:
    sites, _ = roster(HEADER + "nga-thanh\n")
    assert sites == [RosterSite("nga-thanh", "nga-thanh", "", None)]


def test_quoted_names_with_commas_and_quotes() -> None:
    text = (
        HEADER
        + '"nga-thanh","Xã Nga Thạnh, huyện Nga Sơn",commune,"40"\n'
        + 'ubnd,"Văn phòng ""UBND"" huyện",agency,12\n'
    )
    sites, problems = roster(text)
    assert sites == [
        RosterSite("nga-thanh", "Xã Nga Thạnh, huyện Nga Sơn", "commune", 40),
        RosterSite("ubnd", 'Văn phòng "UBND" huyện', "agency", 12),
    ]
    assert problems == []


def test_fields_are_trimmed_and_vietnamese_is_kept() -> None:
    sites, _ = roster(HEADER + "  tan-loc , Thị trấn Tân Lộc ,  thị trấn , 25 \n")
    assert sites == [RosterSite("tan-loc", "Thị trấn Tân Lộc", "thị trấn", 25)]
