"""The Dockerfile and deploy/compose.yaml name files that exist, and the image gets every
package pyproject.toml installs (no docker here to build it: this is what can be checked)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_dockerfile_copies_what_the_package_is_made_of() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim-bookworm$", dockerfile, re.M)  # Debian's
    copied = set()
    for line in re.findall(r"^COPY (.+)$", dockerfile, re.M):
        *sources, _ = line.split()
        for source in sources:
            assert (REPO / source).exists(), f"COPY {source}: no such file"
            copied.add(source)
    package_dirs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-dir"
    ]
    assert set(package_dirs.values()) <= copied
    assert {"requirements.lock", "pyproject.toml", "README.md"} <= copied
    assert "-c requirements.lock" in dockerfile
    assert "playwright install" not in dockerfile  # no browser download


def test_compose_runs_on_the_host_network_with_the_example_settings() -> None:
    compose = (REPO / "deploy" / "compose.yaml").read_text()
    assert re.search(r"^\s+network_mode: host$", compose, re.M)
    assert "./diemcau.toml:/etc/diemcau/diemcau.toml:ro" in compose
    assert (REPO / "deploy" / "diemcau.toml").is_file()
    assert "DIEMCAU_ADMIN_TOKEN_FILE" in compose
