"""Modules stay small enough to read (issue 13): no Python module of the server, the media or the
signaling over 600 lines, no page module over 900. A module that must grow past them splits by
concept instead."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _over(pattern: str, limit: int) -> dict[str, int]:
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in ROOT.glob(pattern)}
    return {path: lines for path, lines in sizes.items() if lines > limit}


def test_no_python_module_over_600_lines() -> None:
    over: dict[str, int] = {}
    for folder in ("server", "media", "signaling"):
        over |= _over(f"{folder}/**/*.py", 600)
    assert over == {}


def test_no_page_module_over_900_lines() -> None:
    assert _over("web/js/*.js", 900) == {}
