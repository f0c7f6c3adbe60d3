"""The admin token on disk, and `authorize` on routes scoped to one site (as WHEP is)."""

from __future__ import annotations

import stat
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from diemcau.server.auth import (
    ADMIN_TOKEN_ENV,
    ANY_ROLE,
    authorize,
    load_admin_token,
)

from .auth_cases import check_auth
from .conftest import World, admin_headers, bearer

SITE_ONLY = frozenset({"site"})


@pytest.fixture(autouse=True)
def no_env_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ADMIN_TOKEN_ENV, raising=False)


def test_admin_token_is_generated_once_and_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "new" / "data"
    token, generated = load_admin_token(data_dir)
    assert generated
    assert len(token) >= 43
    path = data_dir / "admin_token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == token
    assert load_admin_token(data_dir) == (token, False)


def test_admin_token_from_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "admin_token").write_text("token-kept-in-the-file-0123456789\n")
    monkeypatch.setenv(ADMIN_TOKEN_ENV, " token-from-the-environment-42 ")
    assert load_admin_token(tmp_path) == ("token-from-the-environment-42", False)


def test_admin_token_kept_in_the_file(tmp_path: Path) -> None:
    (tmp_path / "admin_token").write_text("token-kept-in-the-file-0123456789\n")
    assert load_admin_token(tmp_path) == ("token-kept-in-the-file-0123456789", False)


@pytest.mark.parametrize("content", ["", "\n", "  "])
def test_empty_admin_token_file_is_replaced(tmp_path: Path, content: str) -> None:
    (tmp_path / "admin_token").write_text(content)
    token, generated = load_admin_token(tmp_path)
    assert generated and token
    assert (tmp_path / "admin_token").read_text().strip() == token


@pytest.mark.parametrize("weak", ["short", "has a space in it 12345", "ngàthạnh-0123456789"])
def test_weak_admin_token_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, weak: str
) -> None:
    monkeypatch.setenv(ADMIN_TOKEN_ENV, weak)
    with pytest.raises(ValueError, match=ADMIN_TOKEN_ENV) as raised:
        load_admin_token(tmp_path)
    assert weak not in str(raised.value)


@pytest.fixture
def probe(app: Starlette) -> Starlette:
    """Routes shaped like WHEP's: one session, one site in the path."""

    def endpoint(allow: frozenset[str]) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def handle(request: Request) -> JSONResponse:
            params = request.path_params
            grant = authorize(request, params["session"], allow=allow, site_id=params["site"])
            return JSONResponse(
                {"session": grant.session_id, "role": grant.role, "site": grant.site_id}
            )

        return handle

    app.router.routes.append(Route("/probe/site/{session}/{site}", endpoint(SITE_ONLY)))
    app.router.routes.append(Route("/probe/any/{session}/{site}", endpoint(ANY_ROLE)))
    return app


@pytest.mark.parametrize("allow", [SITE_ONLY, ANY_ROLE], ids=["site only", "any role"])
async def test_site_scoped_route(
    client: httpx.AsyncClient, world: World, probe: Starlette, allow: frozenset[str]
) -> None:
    prefix = "site" if allow == SITE_ONLY else "any"
    let_through = await check_auth(
        client,
        world,
        "GET",
        lambda s, site: f"/probe/{prefix}/{s}/{site}",
        allow=allow,
        site_scoped=True,
    )
    assert "other site" not in let_through
    assert "site" in let_through
    assert ("admin" in let_through) == (allow == ANY_ROLE)


async def test_grant_names_the_site(
    client: httpx.AsyncClient, world: World, probe: Starlette
) -> None:
    token = world.site(world.a, "tan-loc")
    response = await client.get(f"/probe/site/{world.a}/tan-loc", headers=bearer(token))
    assert response.json() == {"session": world.a, "role": "site", "site": "tan-loc"}


async def test_admin_on_a_site_not_invited_is_404(
    client: httpx.AsyncClient, world: World, probe: Starlette
) -> None:
    response = await client.get(f"/probe/any/{world.b}/tan-loc", headers=admin_headers())
    assert (response.status_code, response.json()["error"]) == (404, "not_found")
    invited = await client.get(f"/probe/any/{world.b}/nga-thanh", headers=admin_headers())
    assert invited.json() == {"session": world.b, "role": "admin", "site": "nga-thanh"}
