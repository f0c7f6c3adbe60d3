"""The sessions' recordings on disk: where they are, the API that lists and serves them, and the
retention that deletes them (docs/recordings.md).

The files are written by media/recorder.py under DATA/recordings/{session}/, one file a segment,
each with a JSON sidecar (id, started_at, and ended_at once closed). A file without ended_at is
being written, or was cut short by a crash (it plays up to its last keyframe).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ..media.recorder import Recorder, Recording, sidecar
from .auth import ADMIN_OR_HOST, authorize
from .config import Config
from .errors import ApiError
from .state import app_state, base_url

log = logging.getLogger("diemcau.recordings")

_ID = re.compile(r"^[0-9]{8}T[0-9]{6}-[0-9]+$")
_SUFFIXES = (".webm", ".mkv")
_MEDIA_TYPES = {".webm": "video/webm", ".mkv": "video/x-matroska"}


def add_recording_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("recordings (docs/recordings.md)")
    group.add_argument(
        "--no-record",
        dest="record",
        action="store_false",
        help="do not write each live session's program to a file (recorded by default)",
    )
    group.add_argument(
        "--recordings-keep-days",
        type=int,
        default=90,
        metavar="DAYS",
        help="delete recordings older than this many days (90; 0 keeps them)",
    )


def recording_from_args(args: argparse.Namespace, config: Config) -> Config:
    """The recording settings the flags give; ValueError says which flag is wrong."""
    if not 0 <= args.recordings_keep_days <= 36500:
        raise ValueError("--recordings-keep-days must be between 0 and 36500")
    return dataclasses.replace(
        config, record=args.record, recordings_keep_days=args.recordings_keep_days
    )


def directory(data_dir: Path, session_id: str | None = None) -> Path:
    root = data_dir / "recordings"
    return root if session_id is None else root / session_id


def recorders(
    data_dir: Path, on_finished: Callable[[Recording], None]
) -> Callable[[str], Recorder]:
    """The bridge's recorder for each session."""
    return lambda session_id: Recorder(session_id, directory(data_dir, session_id), on_finished)


def files(data_dir: Path, session_id: str) -> list[Path]:
    folder = directory(data_dir, session_id)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.suffix in _SUFFIXES and _ID.match(p.stem)]
    return sorted(found, key=lambda p: (p.stem.split("-")[0], int(p.stem.split("-")[1])))


def describe(path: Path) -> dict[str, Any]:
    """What its sidecar says, with the file's size now."""
    try:
        fields = json.loads(sidecar(path).read_text())
    except (OSError, ValueError):
        fields = {}
    return {
        "id": path.stem,
        "started_at": fields.get("started_at"),
        "ended_at": fields.get("ended_at"),
        "bytes": path.stat().st_size,
    }


def prune(data_dir: Path, keep_days: int, now: float | None = None) -> list[Path]:
    """Delete the recordings (and their sidecars) last written more than `keep_days` ago."""
    if keep_days <= 0:
        return []
    cutoff = (time.time() if now is None else now) - keep_days * 86400
    root = directory(data_dir)
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for folder in root.iterdir():
        for path in files(data_dir, folder.name):
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                sidecar(path).unlink(missing_ok=True)
                removed.append(path)
    if removed:
        log.info("deleted %d recordings older than %d days", len(removed), keep_days)
    return removed


def download_url(base: str, session_id: str, recording_id: str) -> str:
    return f"{base}/api/sessions/{session_id}/recordings/{recording_id}"


def routes() -> list[BaseRoute]:
    return [
        Route("/api/sessions/{session_id}/recordings", list_recordings, methods=["GET"]),
        Route(
            "/api/sessions/{session_id}/recordings/{recording_id}",
            get_recording,
            methods=["GET"],
        ),
    ]


async def list_recordings(request: Request) -> Response:
    session_id = request.path_params["session_id"]
    authorize(request, session_id, allow=ADMIN_OR_HOST)
    state = app_state(request)
    if state.store.get_session(session_id) is None:
        raise ApiError(404, "not_found", "There is no such session.")
    base = base_url(request)
    return JSONResponse(
        [
            {**describe(p), "url": download_url(base, session_id, p.stem)}
            for p in files(state.config.data_dir, session_id)
        ]
    )


async def get_recording(request: Request) -> Response:
    """The file, with Range requests (Starlette's FileResponse) for players that seek."""
    session_id = request.path_params["session_id"]
    recording_id = request.path_params["recording_id"]
    authorize(request, session_id, allow=ADMIN_OR_HOST)
    data_dir = app_state(request).config.data_dir
    for path in files(data_dir, session_id):
        if path.stem == recording_id:
            return FileResponse(path, media_type=_MEDIA_TYPES[path.suffix], filename=path.name)
    raise ApiError(404, "not_found", "There is no such recording.")
