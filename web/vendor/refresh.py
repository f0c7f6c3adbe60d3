#!/usr/bin/env python3
"""Refreshes web/vendor/ from the npm registry: the few files the join page's camera count
(web/js/headcam.js) needs, at the versions and sha256 sums that manifest.json pins.

    python3 web/vendor/refresh.py            fetch, check every sum, write the files
    python3 web/vendor/refresh.py --check    only check the files already here (no network)
    python3 web/vendor/refresh.py --pin      after changing a version: write the new sums

It asks npm (`npm pack NAME@VERSION`, the ordinary client and its configured registry) for
each tarball, so nothing here names a host; the served pages never fetch anything from
outside at run time. A sum that differs stops it before any file is written.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "manifest.json"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch(name: str, version: str, into: Path) -> Path:
    """The package's tarball, as npm gives it."""
    out = subprocess.run(
        ["npm", "pack", "--silent", f"{name}@{version}", "--pack-destination", str(into)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return into / out[-1]


def read_members(tarball: Path, paths: list[str]) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    with tarfile.open(tarball) as archive:
        for path in paths:
            member = archive.extractfile(path)
            if member is None:
                raise SystemExit(f"{tarball.name}: no file {path}")
            found[path] = member.read()
    return found


def check_only(manifest: dict) -> int:
    wrong = []
    for package in manifest["packages"]:
        for entry in package["files"]:
            target = HERE / entry["to"]
            if not target.exists() or sha256(target.read_bytes()) != entry["sha256"]:
                wrong.append(entry["to"])
    for entry in manifest.get("kept", []):
        target = HERE / entry["to"]
        if not target.exists() or sha256(target.read_bytes()) != entry["sha256"]:
            wrong.append(entry["to"])
    for path in wrong:
        print(f"differs from manifest.json: {path}", file=sys.stderr)
    return 1 if wrong else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="check the files here, fetch nothing")
    mode.add_argument("--pin", action="store_true", help="write the fetched files' sums")
    args = parser.parse_args(argv)
    manifest = json.loads(MANIFEST.read_text())
    if args.check:
        return check_only(manifest)
    if shutil.which("npm") is None:
        raise SystemExit("npm is needed to fetch the packages")
    fetched: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for package in manifest["packages"]:
            tarball = fetch(package["name"], package["version"], Path(tmp))
            members = read_members(tarball, [e["from"] for e in package["files"]])
            for entry in package["files"]:
                data = members[entry["from"]]
                if args.pin:
                    entry["sha256"] = sha256(data)
                elif sha256(data) != entry["sha256"]:
                    raise SystemExit(
                        f"{package['name']}@{package['version']} {entry['from']}: sha256 "
                        f"{sha256(data)}, manifest.json says {entry['sha256']}; nothing written"
                    )
                fetched[entry["to"]] = data
    for path, data in fetched.items():
        target = HERE / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        print(f"{len(data):>9} {path}")
    if args.pin:
        MANIFEST.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return check_only(manifest)


if __name__ == "__main__":
    sys.exit(main())
