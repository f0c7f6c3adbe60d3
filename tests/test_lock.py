"""requirements.lock pins every dependency pyproject.toml names (extras included) at a version
its specifier allows, and the environment the tests run in is the locked one (tests/run)."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
LOCKED_EXTRAS = ("test", "dev", "redis")


def pins() -> dict[str, str]:
    found = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        pinned = re.fullmatch(r"([A-Za-z0-9._-]+)==([A-Za-z0-9.+!-]+)", line)
        assert pinned, f"not an exact pin: {line!r}"
        found[canonicalize_name(pinned[1])] = pinned[2]
    return found


def requirements() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    named = list(project["dependencies"])
    for extra in LOCKED_EXTRAS:
        named += project["optional-dependencies"][extra]
    return [Requirement(text) for text in named]


def test_every_dependency_is_pinned_within_its_specifier() -> None:
    locked = pins()
    for requirement in requirements():
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement} is not in requirements.lock: run pip-compile"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"requirements.lock pins {name}=={locked[name]}, outside {requirement}"
        )


def test_the_tests_run_on_the_locked_versions() -> None:
    for name, version in pins().items():
        assert importlib.metadata.version(name) == version, f"{name}: run tests/run"
