"""Who may call what: the admin token, and the host and site tokens of each session.

Every token travels as `Authorization: Bearer <token>` and is never logged or echoed back.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from starlette.requests import Request

from ..signaling.tokens import hash_token, new_token
from .errors import ApiError
from .state import app_state
from .store import Store

log = logging.getLogger("diemcau.auth")

ADMIN_TOKEN_ENV = "DIEMCAU_ADMIN_TOKEN"
ADMIN_TOKEN_FILE = "admin_token"
# Shorter admin tokens are refused: this one opens everything.
MIN_ADMIN_TOKEN_LENGTH = 16
# What every 401 asks for (RFC 6750 section 3; RFC 9725 section 4.5).
CHALLENGE = 'Bearer realm="diemcau"'

Role = Literal["admin", "host", "site"]

# The usual `allow` sets.
ADMIN_ONLY: frozenset[str] = frozenset({"admin"})
ADMIN_OR_HOST: frozenset[str] = frozenset({"admin", "host"})
ANY_ROLE: frozenset[str] = frozenset({"admin", "host", "site"})


@dataclass(frozen=True)
class Grant:
    session_id: str | None
    role: Role
    site_id: str | None


def load_admin_token(
    data_dir: Path, given: str | None = None, source: str = "the settings"
) -> tuple[str, bool]:
    """The admin token and whether it was generated just now.

    `given` (from the settings: the environment, a file it names, a systemd credential, the
    --config file) or the environment wins; else the token kept in `data_dir/admin_token`; else
    a new one is written there, readable by the owner only.
    """
    if given is not None and given.strip():
        _check_admin_token(given.strip(), source)
        return given.strip(), False
    from_env = os.environ.get(ADMIN_TOKEN_ENV, "").strip()
    if from_env:
        _check_admin_token(from_env, ADMIN_TOKEN_ENV)
        return from_env, False
    path = Path(data_dir) / ADMIN_TOKEN_FILE
    try:
        kept = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        kept = ""
    if kept:
        _check_admin_token(kept, str(path))
        if path.stat().st_mode & 0o077:
            log.warning("%s is readable by others than its owner; chmod 600 it", path)
        return kept, False
    token = new_token()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # an empty leftover
    # Created 0600 from the start, so there is no moment at which others could read it.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(token + "\n")
    return token, True


def _check_admin_token(token: str, source: str) -> None:
    # Visible ASCII only: anything else cannot travel in a bearer header.
    if not re.fullmatch(rf"[\x21-\x7e]{{{MIN_ADMIN_TOKEN_LENGTH},}}", token):
        raise ValueError(
            f"the admin token from {source} must be at least {MIN_ADMIN_TOKEN_LENGTH}"
            " visible ASCII characters, without spaces"
        )


def bearer_token(request: Request) -> str:
    """The token of the Authorization header; 401 missing_token if there is none."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    # The scheme is case-insensitive (RFC 9110); a token never contains spaces.
    if scheme.lower() != "bearer" or not token or " " in token:
        raise ApiError(
            401,
            "missing_token",
            "This needs an 'Authorization: Bearer <token>' header.",
            headers={"WWW-Authenticate": CHALLENGE},
        )
    return token


def authorize(
    request: Request,
    session_id: str | None,
    *,
    allow: frozenset[str],
    site_id: str | None = None,
) -> Grant:
    """Check the request's bearer token for an action on `session_id` (None: not about one
    session, admin only) and, for per-site URLs, `site_id`.

    Raises ApiError: 401 missing_token / invalid_token; 403 forbidden_role, wrong_session,
    wrong_site, revoked; 404 not_found when the session (or the site's invite) does not exist,
    which only the admin gets to learn: other tokens get wrong_session first.
    """
    state = app_state(request)
    return authorize_token(
        state.store,
        state.admin_token,
        bearer_token(request),
        session_id,
        allow=allow,
        site_id=site_id,
    )


def authorize_token(
    store: Store,
    admin_token: str,
    token: str,
    session_id: str | None,
    *,
    allow: frozenset[str],
    site_id: str | None = None,
) -> Grant:
    """The same checks for a token that came another way than a header (the control channel's
    first message)."""
    # Bytes, because compare_digest refuses non-ASCII str and a header may hold any latin-1.
    if hmac.compare_digest(token.encode(), admin_token.encode()):
        if "admin" not in allow:
            raise _forbidden_role("admin")
        if session_id is not None:
            _require_session(store, session_id, site_id)
        return Grant(session_id, "admin", site_id)
    grant = store.token_grant(hash_token(token))
    if grant is None:
        raise ApiError(
            401,
            "invalid_token",
            "This token is not valid here.",
            headers={"WWW-Authenticate": f'{CHALLENGE}, error="invalid_token"'},
        )
    if grant.revoked:
        raise ApiError(403, "revoked", "This invitation has been withdrawn.")
    if session_id is None:
        raise _forbidden_role(grant.role)
    if grant.session_id != session_id:
        raise ApiError(403, "wrong_session", "This token belongs to another session.")
    if grant.role not in allow:
        raise _forbidden_role(grant.role)
    if grant.role == "site" and site_id is not None and grant.site_id != site_id:
        raise ApiError(403, "wrong_site", "This token belongs to another site of the session.")
    return Grant(grant.session_id, grant.role, grant.site_id)


def _forbidden_role(role: str) -> ApiError:
    return ApiError(403, "forbidden_role", f"A {role} token may not do this.")


def _require_session(store: Store, session_id: str, site_id: str | None) -> None:
    if store.get_session(session_id) is None:
        raise ApiError(404, "not_found", "There is no such session.")
    if site_id is not None and site_id not in {i.site_id for i in store.invites(session_id)}:
        raise ApiError(404, "not_found", "This site is not invited to the session.")
