"""Shared fixtures: a real `diemcau serve` process, and the private network namespace check."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings

IN_NETNS = bool(os.environ.get("DIEMCAU_NETNS"))

# Tests check correctness, never wall-clock time: Hypothesis's per-example deadline and its
# "generation is slow" check fail on a loaded 2-core machine though nothing is wrong.
settings.register_profile("diemcau", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("diemcau")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Media between real peers must stay inside the namespace tests/netns-run creates.
    if IN_NETNS:
        return
    skip = pytest.mark.skip(reason="needs the private network namespace: run tests/run as root")
    for item in items:
        if "netns" in item.keywords or "browser" in item.keywords:
            item.add_marker(skip)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    base_url: str
    admin_token: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def admin(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.admin_token}"},
            timeout=10,
        )

    def create_session(self, sites: list[dict[str, Any]], title: str = "Hội nghị thử") -> Any:
        with self.admin() as client:
            for site in sites:
                body = {
                    "name": site["name"],
                    "kind": site.get("kind", "commune"),
                    "expected": site.get("expected", 30),
                }
                client.put(f"/api/sites/{site['id']}", json=body).raise_for_status()
            response = client.post(
                "/api/sessions",
                json={
                    "title": title,
                    "scheduled_start": "2026-03-05T01:00:00Z",
                    "scheduled_end": "2026-03-05T03:00:00Z",
                    "sites": [s["id"] for s in sites],
                },
            )
            response.raise_for_status()
            return response.json()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(
    data_dir: Path,
    port: int | None = None,
    token: str | None = None,
    options: tuple[str, ...] = (),
) -> Server:
    """`diemcau serve` on `data_dir`, with more of its `options` if given."""
    port = port or free_port()
    token = token or secrets.token_urlsafe(32)
    log_path = data_dir.parent / f"server-{port}.log"
    env = {**os.environ, "DIEMCAU_ADMIN_TOKEN": token}
    log_file = log_path.open("ab")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "diemcau.server.cli",
            "serve",
            "--port",
            str(port),
            "--data",
            str(data_dir),
            # Several servers run at once in the suite: each its own media port.
            "--udp-port",
            "0",
            *options,
        ],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env=env,
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log_path.read_text()}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return Server(base_url, token, data_dir, process, log_path)
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("server did not answer /healthz within 30 s")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("server") / "data")
    yield running
    stop_server(running)
