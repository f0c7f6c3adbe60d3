"""CORS on WHIP and WHEP: browsers on other origins (a WHIP test page, a vendor player) may
publish or play, so every answer under those prefixes carries CORS, errors too."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# On every answer (server/app.py gives them to the error handlers as well).
CORS = {
    "Access-Control-Allow-Origin": "*",
    # Allow and Access-Control-Allow-Methods too: some clients read an OPTIONS answer to learn
    # whether PATCH (trickle) is there.
    "Access-Control-Expose-Headers": (
        "Location, Accept-Post, Link, ETag, WWW-Authenticate, Allow, Access-Control-Allow-Methods"
    ),
}


def preflight(methods: str) -> dict[str, str]:
    """What an OPTIONS answer adds to CORS (which CorsOnEveryAnswer puts on every answer)."""
    return {
        "Access-Control-Allow-Methods": methods,
        "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
        "Access-Control-Max-Age": "86400",
    }


class CorsOnEveryAnswer:
    """ASGI middleware: every answer under `prefixes` carries CORS, the one place that puts them
    there: the handlers' answers, errors and Starlette's trailing-slash redirects alike (only
    errors.Unexpected, outside it, adds them to its 500s itself)."""

    def __init__(self, app: ASGIApp, prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith(self.prefixes):
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in CORS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_cors)
