"""Every way a bearer token can be right or wrong, as one table, for any route.

Reuse for a new route (WHIP, WHEP, ...):

    await check_auth(client, world, "POST", lambda s, site: f"/whep/{s}/{site}",
                     allow=frozenset({"site"}), site_scoped=True)

`path(session_id, site_id)` builds the URL for session `a` and site nga-thanh (or for a session
that does not exist). Denied cases must answer the given status and error code; allowed ones
anything but 401/403 (the route's own checks, such as the body, come after the token's).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from .conftest import ADMIN_TOKEN, World

SITE = "nga-thanh"
OTHER_SITE = "tan-loc"
REVOKED_SITE = "ubnd"
MISSING_SESSION = "no-such-session"

PathFor = Callable[[str, str], str]


@dataclass(frozen=True)
class AuthCase:
    name: str
    # The Authorization header, from the world; None = no header at all.
    header: Callable[[World], str | None]
    # The role this token has on the target, or None if it never gets that far.
    role: str | None
    status: int | None = None  # for role None: the fixed answer
    error: str | None = None
    session: str = "a"  # "a", or "missing" for a session that does not exist


# Answers that do not depend on the route.
FIXED = [
    AuthCase("no header", lambda w: None, None, 401, "missing_token"),
    AuthCase("basic scheme", lambda w: f"Basic {w.host_a}", None, 401, "missing_token"),
    AuthCase("bearer without token", lambda w: "Bearer ", None, 401, "missing_token"),
    AuthCase("token with a space", lambda w: f"Bearer {w.host_a} x", None, 401, "missing_token"),
    AuthCase("unknown token", lambda w: "Bearer not-a-token-of-ours", None, 401, "invalid_token"),
    AuthCase("non-ASCII token", lambda w: "Bearer ngàthạnh", None, 401, "invalid_token"),
    AuthCase(
        "revoked site token", lambda w: f"Bearer {w.site(w.a, REVOKED_SITE)}", None, 403, "revoked"
    ),
]

# Tokens that are valid somewhere; the answer depends on the route.
ROLES = [
    AuthCase("admin", lambda w: f"Bearer {ADMIN_TOKEN}", "admin"),
    AuthCase("lowercase scheme", lambda w: f"bearer {ADMIN_TOKEN}", "admin"),
    AuthCase("host", lambda w: f"Bearer {w.host_a}", "host"),
    AuthCase("site", lambda w: f"Bearer {w.site(w.a, SITE)}", "site"),
    AuthCase("other site", lambda w: f"Bearer {w.site(w.a, OTHER_SITE)}", "other_site"),
    AuthCase("host of another session", lambda w: f"Bearer {w.host_b}", "other_session"),
    AuthCase("site of another session", lambda w: f"Bearer {w.site(w.b, SITE)}", "other_session"),
    AuthCase(
        "admin, missing session", lambda w: f"Bearer {ADMIN_TOKEN}", "admin", session="missing"
    ),
    AuthCase(
        "host, missing session", lambda w: f"Bearer {w.host_a}", "other_session", session="missing"
    ),
]


def expected(
    case: AuthCase, allow: frozenset[str], session_scoped: bool, site_scoped: bool
) -> tuple[int | None, str | None]:
    """(status, error) for a denied case, (None, None) when the token is let through."""
    if case.role is None:
        return case.status, case.error
    role = "site" if case.role == "other_site" else case.role
    if case.role == "other_session" and session_scoped:
        return 403, "wrong_session"
    if role not in allow or (not session_scoped and role != "admin"):
        return 403, "forbidden_role"
    if case.role == "other_site" and site_scoped:
        return 403, "wrong_site"
    if case.session == "missing":
        return 404, "not_found"
    return None, None


async def check_auth(
    client: httpx.AsyncClient,
    world: World,
    method: str,
    path: PathFor,
    *,
    allow: frozenset[str],
    session_scoped: bool = True,
    site_scoped: bool = False,
    **request: Any,
) -> list[str]:
    """Run the table against one route; returns the names of the cases that were let through."""
    request = dict(request)
    fixed_headers = request.pop("headers", {})  # a Content-Type, say
    let_through = []
    for case in FIXED + ROLES:
        if case.session == "missing" and not session_scoped:
            continue
        session = world.a if case.session == "a" else MISSING_SESSION
        header = case.header(world)
        # Bytes: httpx refuses non-ASCII str headers, a real client may send anything.
        headers = dict(fixed_headers)
        if header is not None:
            headers["Authorization"] = header.encode()
        response = await client.request(method, path(session, SITE), headers=headers, **request)
        status, error = expected(case, allow, session_scoped, site_scoped)
        if status is None:
            assert response.status_code not in (401, 403), (case.name, response.text)
            let_through.append(case.name)
        else:
            answer = (response.status_code, response.json().get("error"))
            assert answer == (status, error), case.name
            for token in [*world.site_tokens.values(), world.host_a, world.host_b, ADMIN_TOKEN]:
                assert token not in response.text, case.name
    return let_through
