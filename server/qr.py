"""QR codes for the office's link sheet: `POST /api/qr` (admin) turns texts into SVG images.

The links page draws each hall's join link as a QR code without fetching anything from
elsewhere (the pages' Content-Security-Policy allows `data:` images only); segno, which the
PDF sheet (server/linksheet.py) uses too, makes them here, so the browser needs no encoder.
"""

from __future__ import annotations

import segno
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .auth import ADMIN_ONLY, authorize
from .bodies import raise_problems, read_json_object, reject_unknown_fields
from .errors import ApiError

# A session's halls, with room to spare; each text is a link.
TEXTS_MAX = 500
TEXT_MAX = 2000


def routes() -> list[BaseRoute]:
    return [Route("/api/qr", make_qr, methods=["POST"])]


async def make_qr(request: Request) -> Response:
    """`{"texts": [...]}` → `{"svgs": [...]}`, one `data:image/svg+xml` URI each, in order."""
    authorize(request, None, allow=ADMIN_ONLY)
    body = await read_json_object(request)
    problems: dict[str, str] = {}
    reject_unknown_fields(body, {"texts"}, problems)
    texts = body.get("texts")
    if (
        not isinstance(texts, list)
        or len(texts) > TEXTS_MAX
        or not all(isinstance(t, str) and 0 < len(t) <= TEXT_MAX for t in texts)
    ):
        problems["texts"] = (
            f"must be a list of at most {TEXTS_MAX} texts of 1 to {TEXT_MAX} characters"
        )
    raise_problems(problems)
    assert isinstance(texts, list)
    try:
        svgs = [qr_data_uri(text) for text in texts]
    except segno.DataOverflowError:  # pragma: no cover - TEXT_MAX fits a version 40 code
        raise ApiError(422, "invalid_body", "A text is too long for a QR code.") from None
    return JSONResponse({"svgs": svgs})


def qr_data_uri(text: str) -> str:
    """`text` as a QR code, a `data:image/svg+xml` URI (also the join page's check-in code)."""
    return str(segno.make(text, error="m", micro=False).svg_data_uri(scale=4))
