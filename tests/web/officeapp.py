"""The office pages' tests drive the real app (the fixtures are in tests/web/conftest.py):
every request of the page goes to Playwright's router, which hands it to the Starlette app in
this process (httpx's ASGI transport). The real handlers, store and page headers answer; no
socket is opened."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from playwright.async_api import Browser, Page, Request, Route
from starlette.applications import Starlette

from tests.server.conftest import ADMIN_TOKEN, BASE_URL

ORIGIN = BASE_URL
# Headers httpx has already undone (it hands over the decoded body).
HOP_HEADERS = {"content-encoding", "content-length", "transfer-encoding"}


@dataclass
class Opened:
    page: Page
    problems: list[str] = field(default_factory=list)


async def admin_call(app: Starlette, method: str, path: str, **kwargs: Any) -> Any:
    """One admin API call on `app`, as curl would make it; its JSON answer."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        response = await client.request(method, path, headers=headers, **kwargs)
    assert response.is_success, response.text
    return response.json()


async def open_page(browser: Browser, app: Starlette, url: str) -> Opened:
    """Opens ORIGIN + url in a fresh context served by `app`; `problems` gathers the page's
    errors (a refused request the page expects is logged by Chromium and left out)."""
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ORIGIN)

    async def handle(route: Route, request: Request) -> None:
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        response = await client.request(
            request.method, request.url, headers=headers, content=request.post_data_buffer
        )
        kept = {k: v for k, v in response.headers.items() if k.lower() not in HOP_HEADERS}
        await route.fulfill(status=response.status_code, headers=kept, body=response.content)

    context = await browser.new_context(locale="vi-VN", base_url=ORIGIN)
    await context.route(f"{ORIGIN}/**", handle)
    page = await context.new_page()
    opened = Opened(page)
    page.on("pageerror", lambda exc: opened.problems.append(f"error: {exc}"))

    def console(message: Any) -> None:
        if message.type == "error" and "Failed to load resource" not in message.text:
            opened.problems.append(f"console: {message.text}")

    page.on("console", console)
    await page.goto(ORIGIN + url)
    return opened
