"""The readers of request bodies and their fields, without a server: the rules and the exact
problems they name (tests/server/test_api.py checks the same through HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from diemcau.server.bodies import (
    EXPECTED_RULE,
    JSON_DEPTH_MAX,
    TIME_RULE,
    count_field,
    is_site_id,
    parse_json_object,
    raise_problems,
    reject_unknown_fields,
    site_list_field,
    text_field,
    time_field,
)
from diemcau.server.errors import ApiError

NOT_JSON = "The body is not valid UTF-8 JSON."
SURROGATE = "The body has a lone surrogate escape (\\ud800-\\udfff): not Unicode text."
TOO_DEEP = f"The body nests more than {JSON_DEPTH_MAX} levels of arrays and objects."


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\xff{}", NOT_JSON),
        (b"{", NOT_JSON),
        (b'{"a": NaN}', NOT_JSON),
        (b"[]", "The body must be a JSON object."),
        (b'{"a": "\\ud800"}', SURROGATE),
        (b'{"\\udfff": 1}', SURROGATE),
        (b"[" * 100_000, TOO_DEEP),
    ],
    ids=["not utf-8", "not json", "nan", "array", "surrogate", "surrogate key", "deep"],
)
def test_a_body_that_is_no_json_object_is_a_400(body: bytes, message: str) -> None:
    with pytest.raises(ApiError) as refused:
        parse_json_object(body)
    assert (refused.value.status, refused.value.code, refused.value.message) == (
        400,
        "invalid_body",
        message,
    )


def nested(levels: int) -> bytes:
    """An object holding `levels` arrays, one in the other: levels + 1 deep."""
    return b'{"a": ' + b"[" * levels + b"]" * levels + b"}"


def test_an_object_nested_to_the_limit_is_taken() -> None:
    assert set(parse_json_object(nested(JSON_DEPTH_MAX - 1))) == {"a"}
    with pytest.raises(ApiError) as refused:
        parse_json_object(nested(JSON_DEPTH_MAX))
    assert refused.value.details == {"depth_limit": JSON_DEPTH_MAX}


@pytest.mark.parametrize(
    ("value", "problem", "read"),
    [
        (None, "is required", None),
        (12, "must be a string", None),
        ("  ", "must be non-empty text of at most 10 characters", None),
        ("x" * 11, "must be non-empty text of at most 10 characters", None),
        ("a\x07b", "must not contain control characters", None),
        (" Nga Tha\u0323nh ", None, "Nga Thạnh"),  # trimmed, and NFC
    ],
)
def test_text_fields(value: Any, problem: str | None, read: str | None) -> None:
    problems: dict[str, str] = {}
    body = {} if value is None else {"name": value}
    assert text_field(body, "name", 10, problems) == read
    assert problems == ({} if problem is None else {"name": problem})


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (None, "is required"),
        (True, EXPECTED_RULE),
        (-1, EXPECTED_RULE),
        (1.5, EXPECTED_RULE),
        (1_000_001, EXPECTED_RULE),
        (0, None),
        (1_000_000, None),
    ],
)
def test_count_fields(value: Any, problem: str | None) -> None:
    problems: dict[str, str] = {}
    read = count_field({"present": value}, "present", problems)
    assert problems == ({} if problem is None else {"present": problem})
    assert read == (value if problem is None else None)


@pytest.mark.parametrize(
    ("value", "problem", "read"),
    [
        ("2026-03-05T08:00:00+07:00", None, datetime(2026, 3, 5, 1, tzinfo=UTC)),
        ("2026-03-05 01:00:00z", None, datetime(2026, 3, 5, 1, tzinfo=UTC)),
        ("2026-03-05T08:00:00", TIME_RULE, None),  # no offset
        (20260305, TIME_RULE, None),
        ("1899-12-31T23:00:00Z", "must be in the years 1900 to 9999 (in UTC)", None),
        ("0001-01-01T00:00:00+01:00", TIME_RULE, None),  # before year 1 in UTC
    ],
)
def test_time_fields(value: Any, problem: str | None, read: datetime | None) -> None:
    problems: dict[str, str] = {}
    assert time_field({"at": value}, "at", problems) == read
    assert problems == ({} if problem is None else {"at": problem})


@pytest.mark.parametrize(
    ("body", "problem", "read"),
    [
        ({}, None, None),  # omitted: every site
        ({"sites": "a"}, "must be a list of site ids", None),
        ({"sites": ["a", 1]}, "must be a list of site ids", None),
        ({"sites": []}, "must name at least one site", None),
        ({"sites": ["b", "a", "b", "a", "c"]}, "names a site twice: a, b", None),
        ({"sites": ["b", "a"]}, None, ["b", "a"]),
    ],
)
def test_site_lists(body: dict[str, Any], problem: str | None, read: list[str] | None) -> None:
    problems: dict[str, str] = {}
    assert site_list_field(body, problems) == read
    assert problems == ({} if problem is None else {"sites": problem})


def test_site_ids() -> None:
    assert [is_site_id(t) for t in ("nga-thanh", "x_1", "9", "a" * 64)] == [True] * 4
    assert [is_site_id(t) for t in ("", "-a", "Nga", "a" * 65, "host", "r", "a b")] == [False] * 7


def test_every_problem_is_named_at_once_in_the_order_found() -> None:
    problems: dict[str, str] = {}
    body = {"titel": "x", "sites": []}
    reject_unknown_fields(body, {"title", "sites"}, problems)
    text_field(body, "title", 10, problems)
    site_list_field(body, problems)
    with pytest.raises(ApiError) as refused:
        raise_problems(problems)
    assert refused.value.status == 422
    assert refused.value.message == "Some fields are missing or wrong: titel, title, sites."
    assert refused.value.details == {
        "fields": {
            "titel": "is not a known field",
            "title": "is required",
            "sites": "must name at least one site",
        }
    }
    raise_problems({})  # nothing wrong: nothing raised
