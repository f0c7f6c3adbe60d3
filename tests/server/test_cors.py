"""CORS on every answer under the WHIP/WHEP prefixes and on no other (server/cors.py); the
answers of the real endpoints are checked in test_whip_codes.py."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from diemcau.server.cors import CORS, CorsOnEveryAnswer, preflight


async def plain(request: Request) -> Response:
    return PlainTextResponse("x")


async def own_origin(request: Request) -> Response:
    return PlainTextResponse("x", headers={"Access-Control-Allow-Origin": "https://hall.example"})


def cors_app() -> Starlette:
    app = Starlette(
        routes=[Route("/whip/a", plain), Route("/whip/own", own_origin), Route("/api/a", plain)]
    )
    app.add_middleware(CorsOnEveryAnswer, prefixes=("/whip/",))
    return app


async def test_answers_under_the_prefixes_carry_cors_and_others_do_not() -> None:
    transport = httpx.ASGITransport(app=cors_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        for path in ("/whip/a", "/whip/nowhere"):  # a handler's answer and Starlette's 404
            headers = (await client.get(path)).headers
            assert {name: headers.get(name) for name in CORS} == CORS
        api = (await client.get("/api/a")).headers
        assert not any(name in api for name in CORS)
        # A handler's own value is kept, not overwritten.
        own = (await client.get("/whip/own")).headers
        assert own["Access-Control-Allow-Origin"] == "https://hall.example"


def test_a_preflight_names_the_methods_and_what_may_be_sent() -> None:
    assert preflight("GET, POST") == {
        "Access-Control-Allow-Methods": "GET, POST",
        "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
        "Access-Control-Max-Age": "86400",
    }
