"""The data directory's lock: one server per data directory.

Two servers on one database would each close the other's connections as crash leftovers and
interleave their join logs, making the record false. `serve` and `demo` take an exclusive flock on
a file in the directory before anything touches the database, and hold it for the life of the
process; the kernel lets it go when the process dies, `kill -9` included, so no stale lock stays.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

LOCK_NAME = "diemcau.lock"


class DataDirInUse(Exception):
    def __init__(self, data_dir: Path, pid: int | None) -> None:
        holder = f"process {pid}" if pid is not None else "another process"
        super().__init__(
            f"the data directory {data_dir} is in use by another diemcau server ({holder});"
            " stop it first, or give this one another --data"
        )
        self.data_dir = data_dir
        self.pid = pid


class DataDirLock:
    """Held from `acquire` until `release` or the end of the process."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, data_dir: Path) -> DataDirLock:
        """Take the lock, writing our pid in it; DataDirInUse, having written nothing, if
        another process holds it."""
        fd = os.open(data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise DataDirInUse(data_dir, pid) from None
        except BaseException:
            os.close(fd)
            raise
        # The pid is for the message a second server prints; the flock is the lock.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(fd)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


def _read_pid(fd: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(os.pread(fd, 32, 0).decode().strip())
    return None
