"""API errors and the one JSON shape they take: {"error": code, "message": ..., "details"?: ...}."""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import traceback
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("diemcau.errors")

# Codes for the HTTP errors Starlette raises itself (no route, wrong method).
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


class ApiError(Exception):
    """An error the client can act on.

    `code` is a stable snake_case word for programs, `message` an English sentence for people;
    neither may carry a token or anything else secret.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        # Sent with the error: Allow on a 405, CORS on WHIP/WHEP.
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body

    def response(self, headers: Mapping[str, str] | None = None) -> JSONResponse:
        merged = {**self.headers, **(headers or {})}
        return JSONResponse(self.body(), status_code=self.status, headers=merged or None)


async def send_error(
    send: Send,
    error: ApiError,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """An ApiError's JSON answer, straight onto ASGI `send`: for middleware that answers before
    (or instead of) the application."""
    body = json.dumps(error.body()).encode()
    start = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in error.headers.items()),
        *headers,
    ]
    await send({"type": "http.response.start", "status": error.status, "headers": start})
    await send({"type": "http.response.body", "body": body})


def install_error_handlers(
    app: Starlette,
    json_prefixes: Sequence[str] = ("/api/",),
    cors_prefixes: Sequence[str] = (),
    cors_headers: Mapping[str, str] | None = None,
) -> None:
    """Turn every ApiError into its JSON response, and Starlette's own HTTP errors (404, 405)
    too for paths under `json_prefixes`; elsewhere those stay plain text. A 500 under
    `cors_prefixes` carries `cors_headers` (Unexpected answers outside the app's middleware,
    which gives every other answer there its CORS): a page on another origin must be able to
    read why it was refused, not see a network error."""
    cors = dict(cors_headers or {})

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return exc.response()

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        headers = dict(exc.headers or {})
        if not request.url.path.startswith(tuple(json_prefixes)):
            if exc.status_code in {204, 304}:
                return Response(status_code=exc.status_code, headers=headers)
            return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=headers)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = {
            404: "There is nothing at this address.",
            405: f"This address does not accept {request.method}.",
        }.get(exc.status_code, str(exc.detail))
        # Keep Starlette's headers: a 405 carries Allow.
        return ApiError(exc.status_code, code, message, headers=headers).response()

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(HTTPException, http_error)
    # Outermost of the application's middleware: nothing unexpected gets past it to Starlette's
    # and uvicorn's handlers, which would log a whole traceback for every such request.
    app.add_middleware(Unexpected, cors_prefixes=tuple(cors_prefixes), cors_headers=cors)


class Unexpected:
    """ASGI middleware for errors nobody expected: one compact log line with a request id (the
    traceback once per kind of failure, and at debug level always), and a JSON 500 naming that
    id. Anyone can reach a failure, authenticated or not: its log must stay small."""

    def __init__(
        self, app: ASGIApp, cors_prefixes: tuple[str, ...], cors_headers: Mapping[str, str]
    ) -> None:
        self.app = app
        self.cors_prefixes = cors_prefixes
        self.cors = [(k.lower().encode(), v.encode()) for k, v in cors_headers.items()]
        # Kinds (exception type and the line that raised it) whose traceback has been logged.
        self._told: set[tuple[str, str, int | None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] in ("http.response.start", "websocket.accept"):
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except ClientDisconnect:
            log.debug("%s %s: the client went away", scope.get("method", "WS"), scope["path"])
        except Exception as exc:  # everything else: logged once, compactly
            request_id = secrets.token_hex(6)
            self._log(request_id, scope, exc)
            with contextlib.suppress(Exception):  # the client may be gone too
                await self._answer(scope, send, started, request_id)

    def _log(self, request_id: str, scope: Scope, exc: Exception) -> None:
        frames = traceback.extract_tb(exc.__traceback__)
        where = (frames[-1].filename, frames[-1].lineno) if frames else ("?", None)
        kind = (type(exc).__qualname__, *where)
        first = kind not in self._told and len(self._told) < 1000
        self._told.add(kind)
        message = str(exc).replace("\n", " ")[:200]
        log.error(
            "request %s: %s %s failed: %s: %s%s",
            request_id,
            scope.get("method", "WS"),
            scope["path"],
            type(exc).__name__,
            message,
            "" if first or log.isEnabledFor(logging.DEBUG) else " (traceback logged before)",
            exc_info=exc if first or log.isEnabledFor(logging.DEBUG) else None,
        )

    async def _answer(self, scope: Scope, send: Send, started: bool, request_id: str) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1011, "reason": request_id})
            return
        if started:
            return  # the answer is under way: the connection closes unfinished
        failed = ApiError(
            500,
            "internal_error",
            f"The server failed; its log names request {request_id}.",
            {"request_id": request_id},
        )
        cors = self.cors if scope["path"].startswith(self.cors_prefixes) else []
        await send_error(send, failed, cors)
