"""server/errors.py: an unexpected failure is one compact log line with a request id and a
JSON 500 naming it, with CORS under the WHIP/WHEP prefixes; never a traceback per request."""

from __future__ import annotations

import logging

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from diemcau.server.errors import install_error_handlers

CORS = {"Access-Control-Allow-Origin": "*"}


async def fails(request: Request) -> Response:
    raise ValueError("a value\nnobody expected " + "x" * 500)


async def fails_otherwise(request: Request) -> Response:
    raise KeyError("other")


@pytest.fixture
def client() -> httpx.AsyncClient:
    app = Starlette(
        routes=[
            Route("/api/boom", fails),
            Route("/whip/boom", fails, methods=["POST"]),
            Route("/page/boom", fails_otherwise),
        ]
    )
    install_error_handlers(app, ("/api/", "/whip/"), ("/whip/",), CORS)
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")


def failure_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "diemcau.errors"]


async def test_a_failure_is_a_json_500_and_one_compact_line(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    answers = [await client.get("/api/boom") for _ in range(3)]
    for answer in answers:
        assert answer.status_code == 500
        body = answer.json()
        assert body["error"] == "internal_error"
        assert body["details"]["request_id"] in body["message"]
        assert "Traceback" not in answer.text and "nobody expected" not in answer.text
    ids = [a.json()["details"]["request_id"] for a in answers]
    assert len(set(ids)) == 3
    records = failure_lines(caplog)
    assert len(records) == 3  # one line each
    for record, request_id in zip(records, ids, strict=True):
        line = record.getMessage()
        assert request_id in line and "ValueError: a value nobody expected" in line
        assert "\n" not in line and len(line) < 300
    # The traceback once for this kind of failure, not per request.
    assert [r.exc_info is not None for r in records] == [True, False, False]
    # Nothing else logged it (Starlette's or uvicorn's handlers would, with a traceback).
    assert all(r.name == "diemcau.errors" for r in caplog.records if r.levelno >= logging.ERROR)


async def test_each_kind_gets_its_traceback_once_and_whip_keeps_cors(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    whip = await client.post("/whip/boom")
    assert whip.status_code == 500
    assert whip.headers["access-control-allow-origin"] == "*"
    page = await client.get("/page/boom")
    assert page.status_code == 500 and page.json()["error"] == "internal_error"
    assert "access-control-allow-origin" not in page.headers
    assert [r.exc_info is not None for r in failure_lines(caplog)] == [True, True]


async def test_debug_level_logs_every_traceback(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="diemcau.errors")
    for _ in range(2):
        assert (await client.get("/api/boom")).status_code == 500
    assert [r.exc_info is not None for r in failure_lines(caplog)] == [True, True]
