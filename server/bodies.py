"""What a request brings in, read and checked: a body within its limit, a JSON object, and the
fields of the admin API's bodies.

Every reader answers bad input with an ApiError that changes nothing. The field readers add
what is wrong to `problems` (field name to the rule it breaks) and return None, so that a
handler checks every field and raise_problems lists them all in one 422 (docs/api.md, Errors).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from .errors import ApiError
from .state import app_state
from .times import parse_api_time

SITE_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# Path words of the district hall's own WHEP and WHIP addresses (/whep/{session}/host/...).
RESERVED_SITE_IDS = frozenset({"host", "r"})
NAME_MAX = 200
KIND_MAX = 40
TITLE_MAX = 200
# Far above any hall, far below SQLite's 64-bit limit.
EXPECTED_MAX = 1_000_000
# Times taken in, in UTC: four-digit years, and none before any meeting this records.
YEAR_MIN, YEAR_MAX = 1900, 9999

SITE_ID_RULE = (
    "must be 1 to 64 lowercase letters, digits, '-' or '_', starting with a letter or digit,"
    " and not 'host' or 'r'"
)
TIME_RULE = "must be an RFC 3339 date-time with an offset, e.g. 2025-03-01T08:00:00+07:00"
EXPECTED_RULE = f"must be a whole number from 0 to {EXPECTED_MAX}"

# Our bodies nest two levels at most; the limit leaves room for clients and still stops a
# body of 10,000 '[' before anything walks it recursively.
JSON_DEPTH_MAX = 32


# Bodies


def query_flag(request: Request, name: str) -> bool:
    """A yes/no query parameter: absent, 0 or false is no; 1 or true is yes; anything else is
    refused before anything is done (a typo must not turn a dry run into an import)."""
    value = request.query_params.get(name, "0").lower()
    if value not in ("0", "1", "false", "true"):
        raise ApiError(
            422, "invalid_query", f"'{name}' must be 1 or 0.", {"fields": {name: "must be 1 or 0"}}
        )
    return value in ("1", "true")


def media_type(request: Request) -> str:
    """The Content-Type's media type, lowercase, without parameters ("" when there is none)."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_body(request: Request) -> bytes:
    """The body, refused with 413 past config.max_body_bytes whether announced by
    Content-Length or only found while streaming."""
    limit = app_state(request).config.max_body_bytes
    too_large = ApiError(
        413, "body_too_large", f"The body is larger than {limit} bytes.", {"limit": limit}
    )
    length = request.headers.get("content-length")
    if length is not None and not length.isdigit():
        raise ApiError(400, "invalid_body", "The Content-Length header is not a number.")
    return await _read_at_most(request, limit, too_large)


async def read_text(request: Request, media: str, what: str, invalid: str, limit: int) -> str:
    """The body, which must be `what` sent as `media`, at most `limit` bytes of UTF-8;
    `invalid` the error code of a body that is not text."""
    if media_type(request) != media:
        raise ApiError(415, "unsupported_media_type", f"{what} must be sent as {media}.")
    too_large = ApiError(413, "body_too_large", f"{what} is at most {limit} bytes.")
    body = await _read_at_most(request, limit, too_large)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, invalid, f"{what} is not UTF-8 text.") from exc


async def _read_at_most(request: Request, limit: int, too_large: ApiError) -> bytes:
    # Refused as soon as it is known: from Content-Length, else while streaming.
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


async def read_json_object(request: Request) -> dict[str, Any]:
    return parse_json_object(await read_body(request))


def parse_json_object(body: bytes) -> dict[str, Any]:
    """A JSON object body, or ApiError 400: not UTF-8, not JSON, nested deeper than
    JSON_DEPTH_MAX, a lone surrogate escape in a string or key, or not an object. The size is
    bounded before (read_body's max_body_bytes)."""
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except RecursionError:
        # The C decoder recurses per level: thousands of '[' would otherwise be a 500.
        raise _too_deep() from None
    except ValueError:  # includes UnicodeDecodeError and JSONDecodeError
        raise ApiError(400, "invalid_body", "The body is not valid UTF-8 JSON.") from None
    _check_json_value(value)
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_body", "The body must be a JSON object.")
    return value


def _check_json_value(value: Any) -> None:
    """Iteratively (a deep value must not exhaust the stack here either): the depth, and no
    string that UTF-8 cannot carry ("\\ud800" parses, then fails in SQLite or a response)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if not _encodable(item):
                raise ApiError(
                    400,
                    "invalid_body",
                    "The body has a lone surrogate escape (\\ud800-\\udfff): not Unicode text.",
                )
            continue
        if isinstance(item, dict):
            children: list[Any] = [*item.keys(), *item.values()]
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > JSON_DEPTH_MAX:
            raise _too_deep()
        pending.extend((child, depth + 1) for child in children)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _too_deep() -> ApiError:
    return ApiError(
        400,
        "invalid_body",
        f"The body nests more than {JSON_DEPTH_MAX} levels of arrays and objects.",
        {"depth_limit": JSON_DEPTH_MAX},
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# Fields


def is_site_id(text: str) -> bool:
    return SITE_ID.fullmatch(text) is not None and text not in RESERVED_SITE_IDS


def reject_unknown_fields(
    body: Mapping[str, Any], known: set[str], problems: dict[str, str]
) -> None:
    # A misspelt optional field would otherwise be silently ignored ("site" for "sites").
    for field in body:
        if field not in known:
            problems[field] = "is not a known field"


def clean_text(text: str) -> str:
    # Trimmed, and NFC so that a name typed on a Mac (decomposed) equals the same name typed
    # on Windows.
    return unicodedata.normalize("NFC", text.strip())


def text_problem(text: str, limit: int) -> str | None:
    """What is wrong with a name or a title, already cleaned; None when nothing is."""
    if not text or len(text) > limit:
        return f"must be non-empty text of at most {limit} characters"
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        return "must not contain control characters"
    return None


def text_field(
    body: Mapping[str, Any], field: str, limit: int, problems: dict[str, str]
) -> str | None:
    value = body.get(field)
    if not isinstance(value, str):
        problems[field] = "is required" if value is None else "must be a string"
        return None
    text = clean_text(value)
    problem = text_problem(text, limit)
    if problem is not None:
        problems[field] = problem
        return None
    return text


def count_field(body: Mapping[str, Any], field: str, problems: dict[str, str]) -> int | None:
    value = body.get(field)
    # bool is an int to Python, not to the people who wrote the JSON.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= EXPECTED_MAX:
        problems[field] = "is required" if value is None else EXPECTED_RULE
        return None
    return value


def time_field(body: Mapping[str, Any], field: str, problems: dict[str, str]) -> datetime | None:
    value = body.get(field)
    if value is None:
        problems[field] = "is required"
        return None
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        # In UTC now, so that a year-1 time that cannot be stored fails here, not in the store.
        moment = parse_api_time(value).astimezone(UTC)
    except (ValueError, OverflowError):
        problems[field] = TIME_RULE
        return None
    # Stored times sort as text only with four-digit years; before 1900 is no meeting's time.
    if not YEAR_MIN <= moment.year <= YEAR_MAX:
        problems[field] = f"must be in the years {YEAR_MIN} to {YEAR_MAX} (in UTC)"
        return None
    return moment


def site_list_field(body: Mapping[str, Any], problems: dict[str, str]) -> list[str] | None:
    """The `sites` field: None when omitted (meaning every site)."""
    if "sites" not in body:
        return None
    value = body["sites"]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems["sites"] = "must be a list of site ids"
    elif not value:
        problems["sites"] = "must name at least one site"
    elif len(set(value)) != len(value):
        # Counted once, not list.count per item: a 1 MB list of ids stalled the loop for 16 s.
        duplicates = sorted(v for v, n in Counter(value).items() if n > 1)
        problems["sites"] = "names a site twice: " + ", ".join(duplicates)
    else:
        return value
    return None


async def read_count_body(request: Request, field: str) -> int:
    """A body that is exactly `{field: n}`, n a count (a headcount, the camera's count); else
    400, 413 or 422 as for every body, before anything is written."""
    body = await read_json_object(request)
    problems: dict[str, str] = {}
    reject_unknown_fields(body, {field}, problems)
    count = count_field(body, field, problems)
    raise_problems(problems)
    assert count is not None
    return count


def raise_problems(problems: Mapping[str, str]) -> None:
    if problems:
        raise ApiError(
            422,
            "invalid_body",
            "Some fields are missing or wrong: " + ", ".join(problems) + ".",
            {"fields": dict(problems)},
        )
