"""API errors and the one JSON shape they take: {"error": code, "message": ..., "details"?: ...}."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

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


def install_error_handlers(
    app: Starlette,
    json_prefixes: Sequence[str] = ("/api/",),
    cors_prefixes: Sequence[str] = (),
    cors_headers: Mapping[str, str] | None = None,
) -> None:
    """Turn every ApiError into its JSON response, and Starlette's own HTTP errors (404, 405)
    too for paths under `json_prefixes`; elsewhere those stay plain text. Every error under
    `cors_prefixes` carries `cors_headers`: a page on another origin must be able to read why
    it was refused (a bad token, an ended session, a codec), not see a network error."""
    cors = dict(cors_headers or {})

    def cors_for(request: Request) -> dict[str, str]:
        return cors if request.url.path.startswith(tuple(cors_prefixes)) else {}

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return exc.response({**cors_for(request), **exc.headers})

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        headers = {**cors_for(request), **(exc.headers or {})}
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

    async def server_error(request: Request, exc: Exception) -> Response:
        # ServerErrorMiddleware logs the traceback and re-raises; this only shapes the reply.
        failed = ApiError(500, "internal_error", "The server failed; see its log.")
        if request.url.path.startswith(tuple(json_prefixes)):
            return failed.response(cors_for(request))
        return PlainTextResponse(
            "Internal Server Error", status_code=500, headers=cors_for(request) or None
        )

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, server_error)
