"""Fuzzing the admin API and the record's endpoints through the real Starlette app: random
bodies (nesting, strings, numbers, dates, lone surrogates, bytes that are no JSON), random
path words, queries and tokens. Whatever comes in, the answer is never 5xx and nothing is
logged as an error (tests/fuzz.py says how to run the longer search)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import given, seed
from hypothesis import strategies as st
from starlette.applications import Starlette

from tests.fuzz import LONG_SEED, LoopCaller, failures, fuzz_settings, in_thread, long_examples

from .conftest import ADMIN_TOKEN, BASE_URL, admin_headers, create_session, put_sites


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    headers: dict[str, str]
    content: bytes
    query: dict[str, str]

    async def send(self, client: httpx.AsyncClient) -> httpx.Response:
        return await client.request(
            self.method, self.path, headers=self.headers, content=self.content, params=self.query
        )


# Values

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def rfc3339(draw: st.DrawFn) -> str:
    """Date-times shaped as the API takes them, with any year, month, day and offset."""
    year = draw(st.integers(0, 9999))
    month, day = draw(st.integers(0, 13)), draw(st.integers(0, 32))
    hour, minute, second = (
        draw(st.integers(0, 25)),
        draw(st.integers(0, 61)),
        draw(st.integers(0, 61)),
    )
    fraction = draw(st.sampled_from(["", ".5", ".123456", ".1234567891"]))
    offset = draw(
        st.sampled_from(["Z", "z", "+00:00", "+07:00", "-05:00", "+23:59", "-24:00", "+99:99", ""])
    )
    sep = draw(st.sampled_from(["T", "t", " "]))
    return (
        f"{year:04d}-{month:02d}-{day:02d}{sep}{hour:02d}:{minute:02d}:{second:02d}"
        f"{fraction}{offset}"
    )


times = st.one_of(rfc3339(), st.datetimes().map(lambda d: d.isoformat() + "Z"), json_values)
site_ids = st.one_of(
    st.sampled_from(["nga-thanh", "tan-loc", "ubnd", "host", "r", "-x", "A"]),
    st.from_regex(r"[a-z0-9][a-z0-9_-]{0,70}", fullmatch=True),
    st.text(max_size=20),
)
texts = st.one_of(st.text(max_size=250), st.sampled_from(["=1+1", "Xã Nga Thạnh", " ", "a\tb"]))

field_values = {
    "id": st.one_of(site_ids, json_values),
    "name": st.one_of(texts, json_values),
    "kind": st.one_of(texts, json_values),
    "expected": st.one_of(st.integers(-5, 2_000_000), json_values),
    "title": st.one_of(texts, json_values),
    "scheduled_start": times,
    "scheduled_end": times,
    "sites": st.one_of(st.lists(site_ids, max_size=6), json_values),
    "present": st.one_of(st.integers(-5, 2_000_000), json_values),
    "person": st.one_of(texts, json_values),
    "reason": st.one_of(texts, json_values),
}
objects = st.builds(
    lambda known, extra: {**extra, **known},
    st.fixed_dictionaries({}, optional=field_values),  # type: ignore[arg-type]
    st.dictionaries(st.text(max_size=8), json_values, max_size=2),
)


def _surrogate_escaped(value: Any, escape: str) -> bytes:
    text = json.dumps(value)
    return text.replace('"', f'"{escape}', 1).encode() if '"' in text else text.encode()


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    value = draw(st.one_of(objects, json_values))
    shape = draw(st.sampled_from(["json", "json", "json", "surrogate", "deep", "bytes", "csv"]))
    if shape == "json":
        return json.dumps(value, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    if shape == "surrogate":
        escape = draw(st.sampled_from(["\\ud800", "\\udfff", "\\udc00\\ud800", "\\ud83d\\ude00"]))
        return _surrogate_escaped(value, escape)
    if shape == "deep":
        depth = draw(st.integers(20, 1500))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        return (opener * depth + "1" + closer * depth).encode()
    if shape == "csv":
        rows = draw(
            st.lists(
                st.lists(st.one_of(texts, site_ids, st.integers().map(str)), max_size=5),
                max_size=6,
            )
        )
        header = draw(
            st.sampled_from(
                [
                    "id,name,kind,expected",
                    "\ufeffid,name,kind,expected",
                    "",
                    "site,name,code,position,unit",  # the rosters' (server/peoplecsv.py)
                ]
            )
        )
        return "\r\n".join([header, *(",".join(r) for r in rows)]).encode("utf-8", "surrogatepass")
    return draw(st.binary(max_size=200))


# Requests

ROUTES = [
    ("GET", "/api/sites"),
    ("POST", "/api/sites/import"),
    ("GET", "/api/sites/{site}"),
    ("PUT", "/api/sites/{site}"),
    ("DELETE", "/api/sites/{site}"),
    ("GET", "/api/sessions"),
    ("POST", "/api/sessions"),
    ("GET", "/api/sessions/{session}"),
    ("POST", "/api/sessions/{session}/start"),
    ("POST", "/api/sessions/{session}/end"),
    ("POST", "/api/sessions/{session}/cancel"),
    ("GET", "/api/sessions/{session}/sites"),
    ("GET", "/api/sessions/{session}/me"),
    ("GET", "/api/sessions/{session}/attendance"),
    ("GET", "/api/sessions/{session}/events"),
    ("POST", "/api/sessions/{session}/sites/{site}/headcount"),
    ("GET", "/api/attendance"),
    # The rosters (server/peopleapi.py).
    ("POST", "/api/rosters/import"),
    ("GET", "/api/sites/{site}/roster"),
    ("DELETE", "/api/sites/{site}/roster"),
    # Check-in (server/checkinapi.py): the random site word stands for a code or a person too.
    ("GET", "/api/sessions/{session}/sites/{site}/checkin"),
    ("GET", "/api/checkin/{site}"),
    ("POST", "/api/checkin/{site}"),
    ("GET", "/api/sessions/{session}/people"),
    ("GET", "/api/sessions/{session}/sites/{site}/people"),
    ("POST", "/api/sessions/{session}/sites/{site}/checkins"),
    ("POST", "/api/sessions/{session}/people/{site}/absence"),
    ("POST", "/api/sessions/{session}/people/{site}/absence/revoke"),
    ("POST", "/api/sessions/{session}/people/{site}/checkin/revoke"),
]
QUERY_VALUES = st.one_of(
    st.sampled_from(["json", "csv", "xlsx", "1", "true", "0", "-1", "nan", "inf", "1e309"]),
    st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", fullmatch=True),
    st.text(max_size=20),
)
QUERY_NAMES = [
    "format", "from", "to", "present_coverage", "late_after", "early_before", "gap_grace",
    "intervals", "attempts",
]  # fmt: skip
CONTENT_TYPES = ["application/json", "text/csv", "text/csv; charset=utf-8", "text/plain", ""]


@dataclass(frozen=True)
class Fixture:
    """The sessions and tokens the fuzzed calls may name."""

    sessions: list[str]
    tokens: list[str]


# The endpoints that read a body, with ids that exist: the body is what is fuzzed.
BODY_ROUTES = [
    ("PUT", "/api/sites/{site}"),
    ("POST", "/api/sites/import"),
    ("POST", "/api/rosters/import"),
    ("POST", "/api/sessions"),
    ("POST", "/api/sessions/{session}/sites/{site}/headcount"),
    ("POST", "/api/sessions/{session}/sites/{site}/checkins"),
]


@st.composite
def calls(draw: st.DrawFn, world: Fixture, bodies_only: bool = False) -> Call:
    """Any call (random path words, tokens, queries), or with `bodies_only` an admin's call
    to an endpoint that reads a body, on a session and a site that exist."""
    method, template = draw(st.sampled_from(BODY_ROUTES if bodies_only else ROUTES))
    known = st.sampled_from(world.sessions)
    session = draw(known if bodies_only else st.one_of(known, st.text(min_size=1, max_size=12)))
    site = draw(st.sampled_from(["nga-thanh", "tan-loc"]) if bodies_only else site_ids.filter(bool))
    path = template.format(session=quote(session, safe=""), site=quote(site, safe=""))
    token = world.tokens[0] if bodies_only else draw(st.sampled_from([*world.tokens, "nope", ""]))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    if content_type:
        headers["Content-Type"] = content_type
    content = draw(bodies()) if method in ("POST", "PUT") else b""
    query = draw(st.dictionaries(st.sampled_from(QUERY_NAMES), QUERY_VALUES, max_size=3))
    return Call(method, path, headers, content, query)


@pytest.fixture
async def fuzz_client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    # An exception in the app becomes the 500 it answers, for the test to see, not a raise.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client


@pytest.fixture
async def world(fuzz_client: httpx.AsyncClient) -> Fixture:
    await put_sites(fuzz_client)
    one = await create_session(fuzz_client, ["nga-thanh", "tan-loc"])
    two = await create_session(fuzz_client, ["ubnd"], title="Phiên hai")
    started = await fuzz_client.post(f"/api/sessions/{two['id']}/start", headers=admin_headers())
    assert started.status_code == 200
    tokens = [ADMIN_TOKEN, one["host"]["token"], *(i["token"] for i in one["invites"])]
    return Fixture([one["id"], two["id"]], tokens)


def search(client: httpx.AsyncClient, world: Fixture, examples: int, bodies_only: bool) -> Any:
    @fuzz_settings(examples)
    @given(call=calls(world, bodies_only))
    def check(call: Call, run: LoopCaller) -> None:
        response = run(call.send(client))
        assert response.status_code < 500, (call, response.status_code, response.text[:300])

    return check


async def run_search(
    client: httpx.AsyncClient,
    world: Fixture,
    caplog: pytest.LogCaptureFixture,
    examples: int,
    bodies_only: bool,
    seeded: bool = False,
) -> None:
    caplog.set_level(logging.INFO)
    check = search(client, world, examples, bodies_only)
    if seeded:
        check = seed(LONG_SEED)(check)
    await in_thread(lambda run: check(run=run))
    assert failures(caplog.records) == []
    # The app still answers as before.
    assert (await client.get("/api/sites", headers=admin_headers())).status_code == 200


@pytest.mark.parametrize("bodies_only", [True, False], ids=["bodies", "any_call"])
async def test_the_admin_api_never_answers_5xx(
    fuzz_client: httpx.AsyncClient,
    world: Fixture,
    caplog: pytest.LogCaptureFixture,
    bodies_only: bool,
) -> None:
    await run_search(fuzz_client, world, caplog, fuzz_settings().max_examples, bodies_only)


@pytest.mark.slow
@pytest.mark.parametrize("bodies_only", [True, False], ids=["bodies", "any_call"])
async def test_the_admin_api_never_answers_5xx_longer(
    fuzz_client: httpx.AsyncClient,
    world: Fixture,
    caplog: pytest.LogCaptureFixture,
    bodies_only: bool,
) -> None:
    await run_search(fuzz_client, world, caplog, long_examples(), bodies_only, seeded=True)
