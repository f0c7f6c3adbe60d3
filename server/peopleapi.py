"""The admin API of the people: a rosters CSV imported (`POST /api/rosters/import`), a site's
roster listed or removed (`/api/sites/{site_id}/roster`). docs/api.md, Rosters."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from .api import route
from .auth import ADMIN_ONLY, authorize
from .bodies import media_type, query_flag, read_body
from .errors import ApiError
from .people import Person
from .peoplecsv import parse_rosters_csv
from .state import app_state
from .store import Store, UnknownSites

log = logging.getLogger("diemcau.api")

RESULTS = ("created", "updated", "unchanged", "rejected")


def routes() -> list[BaseRoute]:
    return [
        route("/api/rosters/import", POST=import_rosters),
        route("/api/sites/{site_id}/roster", GET=get_roster, DELETE=delete_roster),
    ]


async def import_rosters(request: Request) -> Response:
    """Replace the rosters of the sites a CSV names. A site with a rejected line keeps its
    roster (server/peoplecsv.py); a file that cannot be read at all changes nothing. With
    ?dry_run=1 the same answer says what would happen, and nothing is written."""
    authorize(request, None, allow=ADMIN_ONLY)
    dry_run = query_flag(request, "dry_run")
    if media_type(request) != "text/csv":
        raise ApiError(
            415, "unsupported_media_type", "Send the rosters as 'Content-Type: text/csv'."
        )
    state = app_state(request)
    known = {site.id for site in state.store.list_sites()}
    rows = parse_rosters_csv(await read_body(request), known)
    rosters: dict[str, list[Person]] = {}
    for row in rows:
        if row.person is not None:
            rosters.setdefault(row.site, []).append(row.person)
    if dry_run:
        changes = state.store.preview_rosters(rosters)
    else:
        try:
            changes = await state.writer.run(Store.put_rosters, rosters, datetime.now(UTC))
        except UnknownSites as exc:  # deleted between the reading and the writing
            raise ApiError(
                409,
                "unknown_sites",
                "Some of the sites were deleted meanwhile: " + ", ".join(exc.site_ids) + ".",
                {"sites": exc.site_ids},
            ) from None
    applied = {change.site_id: iter(change.results) for change in changes}
    lines: list[dict[str, Any]] = []
    for row in rows:
        if row.person is None:
            lines.append(
                {
                    "line": row.line,
                    "site": row.site,
                    "name": row.name,
                    "result": "rejected",
                    "error": row.error,
                }
            )
        else:
            lines.append(
                {
                    "line": row.line,
                    "site": row.site,
                    "id": row.person.id,
                    "name": row.person.name,
                    "result": next(applied[row.site]),
                }
            )
    counted = Counter(line["result"] for line in lines)
    counts = {result: counted[result] for result in RESULTS}
    sites = [{"site": c.site_id, "people": len(c.results), "removed": c.removed} for c in changes]
    removed = sum(c.removed for c in changes)
    if not dry_run:
        log.info("rosters imported: %s, %d removed, %d sites", counts, removed, len(sites))
    return JSONResponse(
        {**counts, "removed": removed, "dry_run": dry_run, "sites": sites, "lines": lines}
    )


async def get_roster(request: Request) -> Response:
    authorize(request, None, allow=ADMIN_ONLY)
    store = app_state(request).store
    site_id = _known_site(store, request)
    return JSONResponse(
        {"site": site_id, "people": [person_json(p) for p in store.site_people(site_id)]}
    )


async def delete_roster(request: Request) -> Response:
    """Remove a site's roster: its expected is the site's own again. Sessions keep theirs."""
    authorize(request, None, allow=ADMIN_ONLY)
    state = app_state(request)
    site_id = _known_site(state.store, request)
    removed = await state.writer.run(Store.delete_roster, site_id)
    log.info("site %s: roster of %d removed", site_id, removed)
    return Response(status_code=204)


def person_json(person: Person) -> dict[str, Any]:
    return {
        "id": person.id,
        "name": person.name,
        "code": person.code,
        "position": person.position,
        "unit": person.unit,
    }


def _known_site(store: Store, request: Request) -> str:
    site_id: str = request.path_params["site_id"]
    if store.get_site(site_id) is None:
        raise ApiError(404, "not_found", "There is no such site.")
    return site_id
