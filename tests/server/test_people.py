"""A person's stable id and the keys their name is matched by (server/people.py)."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from diemcau.server.people import ID_PREFIX, name_key, new_person, person_id, search_key


def test_an_id_follows_the_code_when_there_is_one() -> None:
    a = person_id("nga-thanh", "Nguyễn Văn A", "38.001234")
    # The name spelt otherwise, the same code: the same person.
    assert person_id("nga-thanh", "NGUYỄN VĂN  A", "38.001234") == a
    assert person_id("nga-thanh", "Nguyễn Văn Anh", "38.001234") == a
    assert person_id("nga-thanh", "Nguyễn Văn A", "38.009999") != a
    # The same code at another site is another person of the record.
    assert person_id("tan-loc", "Nguyễn Văn A", "38.001234") != a


def test_without_a_code_an_id_follows_the_name_with_its_diacritics() -> None:
    a = person_id("nga-thanh", "Nguyễn Văn A", None)
    assert person_id("nga-thanh", "  nguyễn   văn a ", None) == a
    # Typed on a Mac (decomposed) or on Windows (composed): one person.
    assert person_id("nga-thanh", unicodedata.normalize("NFD", "Nguyễn Văn A"), None) == a
    # One mark apart: two people.
    assert person_id("nga-thanh", "Nguyễn Vân A", None) != a
    assert person_id("nga-thanh", "Nguyễn Văn A", "38.001234") != a


def test_an_id_is_short_and_fits_a_url_path() -> None:
    pid = person_id("nga-thanh", "Lê Thị Bình", None)
    assert pid.startswith(ID_PREFIX) and len(pid) == len(ID_PREFIX) + 16
    assert pid[len(ID_PREFIX) :].isalnum() and pid == pid.lower()


def test_search_key_drops_diacritics_and_case() -> None:
    assert search_key("Nguyễn Văn A") == "nguyen van a"
    assert search_key("Đỗ Thị Đào") == "do thi dao"
    assert search_key("nguyen van a") in search_key("Ông Nguyễn Văn A, Bí thư")
    assert name_key("Đỗ  Thị Đào ") == "đỗ thị đào"


def test_an_empty_code_is_no_code() -> None:
    person = new_person("nga-thanh", "Trần Văn Cường", "", "Đảng viên", "Chi bộ 1")
    assert person.code is None
    assert person.id == person_id("nga-thanh", "Trần Văn Cường", None)


@given(st.text(max_size=40), st.text(max_size=40))
def test_ids_are_stable_under_spacing_case_and_normal_form(name: str, other: str) -> None:
    respelt = "  " + unicodedata.normalize("NFD", name.upper()) + " "
    if name_key(respelt) == name_key(name):  # upper() can change some letters for good
        assert person_id("s", respelt, None) == person_id("s", name, None)
    if name_key(name) != name_key(other):
        assert person_id("s", name, None) != person_id("s", other, None)
