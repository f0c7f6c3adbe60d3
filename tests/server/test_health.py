"""/healthz (is everything this node depends on working) and /readyz (should traffic come
here): the database, Redis, the UDP port, and the service's start and stop."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from starlette.applications import Starlette

from diemcau.server.state import app_state
from tests.conftest import Server, start_server, stop_server
from tests.redisserver import start_redis


async def test_before_the_service_is_up_it_is_healthy_but_not_ready(
    client: httpx.AsyncClient,
) -> None:
    # httpx's ASGITransport runs no lifespan: the service never came up.
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "not_ready", "reason": "the service is starting"}


async def test_a_port_that_is_not_bound_fails_both(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    app_state(app).lifecycle.serving()  # up, yet its media port is not open
    for path in ("/healthz", "/readyz"):
        answer = await client.get(path)
        assert answer.status_code == 503
        assert answer.json()["reason"] == "the media UDP port is not bound"


async def test_stopping_is_not_ready(app: Starlette, client: httpx.AsyncClient) -> None:
    app_state(app).lifecycle.stopping()
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "not_ready", "reason": "the service is stopping"}
    assert (await client.get("/healthz")).status_code == 200


def test_a_served_node_is_healthy_and_ready(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        assert httpx.get(f"{server.base_url}/healthz").json() == {"status": "ok"}
        ready = httpx.get(f"{server.base_url}/readyz")
        assert ready.status_code == 200 and ready.json() == {"status": "ready"}
    finally:
        stop_server(server)


def wait_for_status(url: str, status: int) -> httpx.Response:
    deadline = time.monotonic() + 20
    while True:
        answer = httpx.get(url, timeout=5)
        if answer.status_code == status or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def test_redis_that_stops_answering_fails_healthz_not_readyz(tmp_path: Path) -> None:
    redis = start_redis(tmp_path)
    server = start_server(tmp_path / "data", options=("--redis-url", redis.url))
    try:
        assert httpx.get(f"{server.base_url}/healthz").json() == {"status": "ok"}
        redis.stop()
        failing = wait_for_status(f"{server.base_url}/healthz", 503)
        assert failing.status_code == 503
        assert failing.json()["status"] == "failing"
        assert "Redis" in failing.json()["reason"]
        # Halls still get the broadcast from this node: it stays in the proxy's rotation.
        assert httpx.get(f"{server.base_url}/readyz").status_code == 200
    finally:
        stop_server(server)
        redis.stop()
    assert "Traceback" not in server.log()


def test_redis_that_restarts_fails_healthz_while_down_and_passes_once_back(
    tmp_path: Path,
) -> None:
    redis = start_redis(tmp_path)
    server = start_server(tmp_path / "data", options=("--redis-url", redis.url))
    try:
        redis.stop()
        # The first 503 may come before the bus noticed (Redis's own error): the bus's, soon.
        deadline = time.monotonic() + 20
        while "the Redis bus is down" not in (reason := _reason(server.base_url)):
            assert time.monotonic() < deadline, reason
            time.sleep(0.2)
        assert "diemcau_redis_bus_up 0.0" in _metrics(server)
        redis = start_redis(tmp_path, port=redis.port)
        back = wait_for_status(f"{server.base_url}/healthz", 200)
        assert back.json() == {"status": "ok"}
        assert "diemcau_redis_bus_up 1.0" in _metrics(server)
    finally:
        stop_server(server)
        redis.stop()
    assert "Traceback" not in server.log()
    assert server.log().count("the Redis bus is down") == 1
    assert server.log().count("the Redis bus is back") == 1


def _reason(base_url: str) -> str:
    answer = httpx.get(f"{base_url}/healthz", timeout=5)
    return str(answer.json().get("reason", "")) if answer.status_code == 503 else ""


def _metrics(server: Server) -> str:
    with server.admin() as admin:
        return admin.get("/metrics").text
