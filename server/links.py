"""A session's links: shown again to the admin at any time, re-issued, a removal undone.

A token is never stored: the store keeps its SHA-256 hash (signaling/tokens.py). To show a link
again the server mints it again: a token is HMAC-SHA256(link key, session, who, generation),
with the link key a random secret in the data directory (`links.key`, 0600) that never enters
the database. A stolen database (or its backup) thus still holds no usable credential; the
data directory with its key does, as it already holds the admin token file. Re-issuing a hall's
link moves its invite to the next generation: the old token's hash is gone at that commit.

Tokens of sessions created before this (random, generation NULL) cannot be shown again: their
entries say so, and a re-issue gives the hall a link that can. docs/api.md says why this and
not encrypted tokens (the admin token may be generated at each start, so no key can come from it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ..signaling.tokens import hash_token
from .auth import ADMIN_ONLY, authorize
from .errors import ApiError
from .secretfile import create_once
from .sessionkind import DEFAULT_KIND, SessionKind
from .state import AppState, app_state, base_url
from .store import Invite, Session, Store, new_session_id
from .times import api_time

log = logging.getLogger("diemcau.links")

KEY_NAME = "links.key"
_KEY_BYTES = 32
# The generation every token of a session starts at.
FIRST_GENERATION = 0


class LinkKeyError(Exception):
    pass


class LinkKey:
    """The secret tokens are minted from; the same key mints the same token again."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) != _KEY_BYTES:
            raise LinkKeyError(f"a link key has {_KEY_BYTES} bytes, not {len(secret)}")
        self._secret = secret

    @classmethod
    def load_or_create(cls, data_dir: Path) -> LinkKey:
        """The data directory's key, made on first use (written whole, then linked in place, so
        a crash or a second process never leaves a half key that would change every link)."""
        path = data_dir / KEY_NAME
        key = cls.load(data_dir)
        if key is not None:
            return key
        if create_once(path, secrets.token_bytes(_KEY_BYTES).hex().encode() + b"\n"):
            log.info("made the link key %s", path)
        key = cls.load(data_dir)
        assert key is not None
        return key

    @classmethod
    def load(cls, data_dir: Path) -> LinkKey | None:
        path = data_dir / KEY_NAME
        try:
            text = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise LinkKeyError(f"cannot read the link key {path}: {exc}") from None
        try:
            return cls(bytes.fromhex(text))
        except (ValueError, LinkKeyError) as exc:
            raise LinkKeyError(f"the link key {path} is damaged ({exc})") from None

    def derived(self, purpose: str) -> bytes:
        """A key of its own for another use of this secret (the check-in codes, server/checkin.py),
        so that no MAC of one use can pass for the other's."""
        return hmac.new(self._secret, f"diemcau key\0{purpose}".encode(), hashlib.sha256).digest()

    def _token(self, session_id: str, who: str, generation: int) -> str:
        message = f"diemcau link\0{session_id}\0{who}\0{generation}".encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        # The shape of new_token(): 32 bytes, URL-safe base64 without padding.
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def host_token(self, session_id: str, generation: int) -> str:
        return self._token(session_id, "host", generation)

    def site_token(self, session_id: str, site_id: str, generation: int) -> str:
        return self._token(session_id, f"site:{site_id}", generation)

    def shown_host_token(self, session_id: str, stored: tuple[str, int | None]) -> str | None:
        """The host token again, if this key minted the one stored; else None."""
        token_hash, generation = stored
        if generation is None:
            return None
        token = self.host_token(session_id, generation)
        return token if hmac.compare_digest(hash_token(token), token_hash) else None

    def shown_site_token(self, session_id: str, invite: Invite, token_hash: str) -> str | None:
        """A hall's token again, if this key minted the one stored (a key replaced since, or a
        random token of before, cannot be shown); else None."""
        if invite.token_generation is None:
            return None
        token = self.site_token(session_id, invite.site_id, invite.token_generation)
        return token if hmac.compare_digest(hash_token(token), token_hash) else None


def create_session_with_links(
    store: Store,
    key: LinkKey,
    *,
    title: str,
    scheduled_start: datetime,
    scheduled_end: datetime,
    site_ids: Sequence[str],
    now: datetime,
    kind: SessionKind = DEFAULT_KIND,
) -> tuple[Session, str, dict[str, str]]:
    """Create a session whose tokens `key` can mint again: (session, host token, site tokens).
    Raises UnknownSites, creating nothing. For a writer's thread, or a local store."""
    while True:
        session_id = new_session_id()
        host_token = key.host_token(session_id, FIRST_GENERATION)
        tokens = {s: key.site_token(session_id, s, FIRST_GENERATION) for s in site_ids}
        try:
            session = store.create_session(
                title=title,
                scheduled_start=scheduled_start,
                scheduled_end=scheduled_end,
                host_token_hash=hash_token(host_token),
                invite_token_hashes={s: hash_token(t) for s, t in tokens.items()},
                now=now,
                session_id=session_id,
                token_generation=FIRST_GENERATION,
                kind=kind,
            )
        except sqlite3.IntegrityError:
            if store.get_session(session_id) is None:
                raise
            continue  # one chance in 2**50: that id was taken
        return session, host_token, tokens


# What a session's links are, for the API and the CLI alike


class SessionLinks:
    """The absolute URLs of one session. Tokens go in the fragment of page links, so that they
    never reach a server log or a Referer header."""

    def __init__(self, base: str, session_id: str) -> None:
        self.base = base
        self.session_id = session_id
        self.whip = f"{base}/whip/{session_id}"

    def console(self, host_token: str) -> str:
        return f"{self.base}/console/{self.session_id}#token={host_token}"

    def attendance(self, host_token: str) -> str:
        return f"{self.base}/attendance/{self.session_id}#token={host_token}"

    def join(self, site_id: str, site_token: str) -> str:
        return f"{self.base}/join/{self.session_id}/{site_id}#token={site_token}"

    def whep(self, site_id: str) -> str:
        return f"{self.base}/whep/{self.session_id}/{site_id}"


def site_link_json(
    store: Store, key: LinkKey, links: SessionLinks, invite: Invite
) -> dict[str, Any]:
    token_hash = store.invite_token_hash(invite.session_id, invite.site_id)
    token = (
        None if token_hash is None else key.shown_site_token(links.session_id, invite, token_hash)
    )
    return {
        "site": invite.site_id,
        "name": invite.site_name,
        "kind": invite.site_kind,
        "expected": invite.expected,
        "removed": invite.revoked_at is not None,
        "generation": invite.token_generation,
        # None: a token this server cannot mint again; re-issue the hall's link to show one.
        "token": token,
        "join_url": None if token is None else links.join(invite.site_id, token),
    }


def session_links_json(store: Store, key: LinkKey, base: str, session: Session) -> dict[str, Any]:
    links = SessionLinks(base, session.id)
    stored = store.host_token(session.id)
    host_token = None if stored is None else key.shown_host_token(session.id, stored)
    return {
        "session": session.id,
        "title": session.title,
        "state": session.state.value,
        "scheduled_start": _rfc3339(session.scheduled_start),
        "scheduled_end": _rfc3339(session.scheduled_end),
        "console_url": None if host_token is None else links.console(host_token),
        "attendance_url": None if host_token is None else links.attendance(host_token),
        "whip_url": links.whip,
        "sites": [site_link_json(store, key, links, i) for i in store.invites(session.id)],
    }


def _rfc3339(moment: datetime) -> str:
    value = api_time(moment)
    assert value is not None
    return value


# The admin API


def routes() -> list[BaseRoute]:
    return [
        Route("/api/sessions/{session_id}/links", list_links, methods=["GET"]),
        Route("/api/sessions/{session_id}/sites/{site_id}/reissue", reissue, methods=["POST"]),
        Route("/api/sessions/{session_id}/sites/{site_id}/restore", restore, methods=["POST"]),
        Route("/api/sessions/{session_id}/host/reissue", reissue_host, methods=["POST"]),
    ]


async def list_links(request: Request) -> Response:
    authorize(request, None, allow=ADMIN_ONLY)
    state = app_state(request)
    session = _session(state, request.path_params["session_id"])
    return JSONResponse(session_links_json(state.store, state.link_key, base_url(request), session))


async def reissue(request: Request) -> Response:
    """A new token for a hall; the old one is refused from this commit on. The meeting service
    closes the hall's open pages (told why over the control channel) and media connections."""
    authorize(request, None, allow=ADMIN_ONLY)
    state = app_state(request)
    session, invite = _live_invite(state, request)
    key = state.link_key

    def token_hash_of(generation: int) -> str:
        return hash_token(key.site_token(session.id, invite.site_id, generation))

    generation = await state.meeting.reissue_link(session.id, invite.site_id, token_hash_of)
    if generation is None:  # pragma: no cover - the invite was read just before
        raise _no_such_invite()
    log.info("session %s: site %s's link re-issued", session.id, invite.site_id)
    return _site_answer(request, state, session, invite.site_id)


async def reissue_host(request: Request) -> Response:
    """A new host token: new console and attendance links, the old ones refused from the commit
    on and their pages closed. Answers the session's links as GET /links does."""
    authorize(request, None, allow=ADMIN_ONLY)
    state = app_state(request)
    session = _session(state, request.path_params["session_id"])
    if session.ended_at is not None:
        raise ApiError(409, "session_ended", "This session has ended; its links are closed.")
    key = state.link_key

    def token_hash_of(generation: int) -> str:
        return hash_token(key.host_token(session.id, generation))

    await state.meeting.reissue_host_link(session.id, token_hash_of)
    log.info("session %s: the host's link re-issued", session.id)
    return JSONResponse(session_links_json(state.store, key, base_url(request), session))


async def restore(request: Request) -> Response:
    """Undo a removal: the hall's link (the same one) works again."""
    authorize(request, None, allow=ADMIN_ONLY)
    state = app_state(request)
    session, invite = _live_invite(state, request)
    if not await state.meeting.restore_site(session.id, invite.site_id):
        raise ApiError(409, "not_removed", "This hall was not removed from the session.")
    log.info("session %s: site %s restored", session.id, invite.site_id)
    return _site_answer(request, state, session, invite.site_id)


# Plumbing


def _site_answer(request: Request, state: AppState, session: Session, site_id: str) -> Response:
    invite = next(i for i in state.store.invites(session.id) if i.site_id == site_id)
    links = SessionLinks(base_url(request), session.id)
    return JSONResponse(site_link_json(state.store, state.link_key, links, invite))


def _session(state: AppState, session_id: str) -> Session:
    session = state.store.get_session(session_id)
    if session is None:
        raise ApiError(404, "not_found", "There is no such session.")
    return session


def _live_invite(state: AppState, request: Request) -> tuple[Session, Invite]:
    session = _session(state, request.path_params["session_id"])
    site_id = request.path_params["site_id"]
    invite = next((i for i in state.store.invites(session.id) if i.site_id == site_id), None)
    if invite is None:
        raise _no_such_invite()
    if session.ended_at is not None:
        raise ApiError(409, "session_ended", "This session has ended; its links are closed.")
    return session, invite


def _no_such_invite() -> ApiError:
    return ApiError(404, "not_found", "This site is not invited to the session.")
