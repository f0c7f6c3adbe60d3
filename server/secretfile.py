"""A secret file of the data directory (the link key, the seal key), made once, 0600."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def create_once(path: Path, content: bytes) -> bool:
    """Write `content` to `path` (0600) unless it exists. Written whole, then linked in place:
    a crash or a second process never leaves half a secret. False if another made it first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}"
    write_new(partial, content)
    try:
        os.link(partial, path)
    except FileExistsError:
        return False  # another process made it first: its secret is the one
    finally:
        partial.unlink()
    return True


def write_new(path: Path, content: bytes) -> None:
    """A new file at `path`, 0600 from the moment it exists, written whole and synced."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)
