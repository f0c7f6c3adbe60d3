"""web/vendor/: the camera count's detector, shipped in the package at pinned versions. The files
here are the ones manifest.json pins (refresh.py --check, no network), each package with its
licence, and a changed byte is found."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

VENDOR = Path(__file__).resolve().parents[2] / "web" / "vendor"


def manifest() -> dict:
    return json.loads((VENDOR / "manifest.json").read_text("utf-8"))


def check(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(folder / "refresh.py"), "--check"], capture_output=True, text=True
    )


def test_the_vendored_files_are_the_pinned_ones() -> None:
    result = check(VENDOR)
    assert result.returncode == 0, result.stderr
    pinned = {e["to"] for p in manifest()["packages"] for e in p["files"]}
    pinned |= {e["to"] for e in manifest()["kept"]}
    on_disk = {
        p.relative_to(VENDOR).as_posix()
        for p in VENDOR.rglob("*")
        if p.is_file()
        and p.name not in {"manifest.json", "refresh.py"}
        and "__pycache__" not in p.parts
    }
    assert on_disk == pinned  # nothing unpinned slipped in


def test_each_package_ships_with_its_licence() -> None:
    for package in manifest()["packages"]:
        folder = package["files"][0]["to"].split("/")[0]
        licence = (VENDOR / folder / "LICENSE.txt").read_text("utf-8")
        assert {"MIT": "MIT License", "Apache-2.0": "Apache License"}[package["license"]] in licence
        assert all(e["sha256"] and len(e["sha256"]) == 64 for e in package["files"])


def test_a_changed_file_is_found(tmp_path: Path) -> None:
    copy = tmp_path / "vendor"
    shutil.copytree(VENDOR, copy)
    model = copy / "human" / "models" / "blazeface.bin"
    data = bytearray(model.read_bytes())
    data[1000] ^= 0xFF
    model.write_bytes(bytes(data))
    result = check(copy)
    assert result.returncode == 1
    assert result.stderr.strip() == "differs from manifest.json: human/models/blazeface.bin"
