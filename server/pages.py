"""The browser pages: the district console, the commune page, the attendance record, the
office's pages (sites, sessions), and the files they load.

The files come from the installed ``diemcau.web`` package, so a plain ``pip install .``
serves them without the repository. The pages hold no secret: the token travels in the
URL fragment, which never reaches the server, and the pages read it themselves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path, PurePosixPath

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

# Set here rather than guessed: some hosts map .js to text/plain, which browsers
# refuse for modules. Only the kinds listed are served (not __init__.py).
CONTENT_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    # The camera count's detector (web/vendor/): its WebAssembly, model weights, licences.
    ".wasm": "application/wasm",
    ".bin": "application/octet-stream",
    ".txt": "text/plain; charset=utf-8",
}

# Everything from this server; media may be a MediaStream (srcObject) or a blob.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "media-src 'self' blob: mediastream:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

COMMON_HEADERS = {
    "Cache-Control": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

PAGE_HEADERS = {**COMMON_HEADERS, "Content-Security-Policy": CONTENT_SECURITY_POLICY}

# The console and the commune page send their hall's camera and microphone (the commune's
# return feed); the attendance record and the office's pages only read, write and print.
CONSOLE_PERMISSIONS = "camera=(self), microphone=(self), fullscreen=(self), geolocation=()"
JOIN_PERMISSIONS = "camera=(self), microphone=(self), fullscreen=(self), geolocation=()"
ATTENDANCE_PERMISSIONS = "camera=(), microphone=(), fullscreen=(), geolocation=()"
OFFICE_PERMISSIONS = ATTENDANCE_PERMISSIONS


def web_directory() -> Path:
    """Where the installed ``diemcau.web`` package keeps its files."""
    root = resources.files("diemcau.web")
    if not isinstance(root, Path):
        raise RuntimeError("diemcau.web must be installed as files on disk, not inside an archive")
    return root


class WebFiles(StaticFiles):
    """The pages' scripts, styles, catalogs and images, with exact types and no caching."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        content_type = CONTENT_TYPES.get(PurePosixPath(path).suffix)
        if content_type is None:
            raise HTTPException(status_code=404)
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Content-Type"] = content_type
        response.headers.update(COMMON_HEADERS)
        return response


def _page(name: str, permissions: str) -> Callable[[Request], Awaitable[Response]]:
    headers = {**PAGE_HEADERS, "Permissions-Policy": permissions}

    async def page(request: Request) -> Response:
        return FileResponse(web_directory() / name, media_type="text/html", headers=headers)

    return page


# Each page's path, its file, and what the browser may let it use.
PAGES = [
    ("/console/{session}", "console.html", CONSOLE_PERMISSIONS),
    ("/join/{session}/{site}", "join.html", JOIN_PERMISSIONS),
    # One page for both views: a period (/attendance) and one session (/attendance/{session}).
    ("/attendance", "attendance.html", ATTENDANCE_PERMISSIONS),
    ("/attendance/{session}", "attendance.html", ATTENDANCE_PERMISSIONS),
    ("/office", "office.html", OFFICE_PERMISSIONS),
    ("/office/sessions", "officesessions.html", OFFICE_PERMISSIONS),
    ("/office/sessions/{session}/links", "officelinks.html", OFFICE_PERMISSIONS),
    # A phone in the hall, from the join page's QR code: the code is the credential.
    ("/checkin/{code}", "checkin.html", ATTENDANCE_PERMISSIONS),
]


def routes() -> list[BaseRoute]:
    return [
        *(Route(path, _page(name, allowed), methods=["GET"]) for path, name, allowed in PAGES),
        Mount("/static", app=WebFiles(directory=web_directory()), name="static"),
    ]
