"""One server per data directory: a second one stops at once, plainly, having written nothing;
the lock of a process that died, `kill -9` included, is free again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from diemcau.server.dirlock import LOCK_NAME, DataDirInUse, DataDirLock


def test_a_second_holder_is_refused_with_the_first_ones_pid(tmp_path: Path) -> None:
    first = DataDirLock.acquire(tmp_path)
    try:
        assert (tmp_path / LOCK_NAME).read_text() == f"{os.getpid()}\n"
        with pytest.raises(DataDirInUse) as refused:
            DataDirLock.acquire(tmp_path)
        assert refused.value.pid == os.getpid()
        assert str(tmp_path) in str(refused.value)
        assert f"process {os.getpid()}" in str(refused.value)
    finally:
        first.release()
    DataDirLock.acquire(tmp_path).release()  # free once released


def test_the_lock_of_a_killed_process_is_free(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path;"
            " from diemcau.server.dirlock import DataDirLock;"
            f" DataDirLock.acquire(Path({str(tmp_path)!r})); print('held', flush=True);"
            " time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        with pytest.raises(DataDirInUse) as refused:
            DataDirLock.acquire(tmp_path)
        assert refused.value.pid == holder.pid
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    DataDirLock.acquire(tmp_path).release()


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_a_second_server_stops_at_once_and_writes_nothing(tmp_path: Path, command: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    lock = DataDirLock.acquire(data)  # as a running server holds it
    try:
        before = sorted(p.name for p in data.iterdir())
        done = subprocess.run(
            [sys.executable, "-m", "diemcau.server.cli", command, "--data", str(data)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        lock.release()
    assert done.returncode != 0
    assert done.stderr.strip() == (
        f"diemcau: the data directory {data} is in use by another diemcau server"
        f" (process {os.getpid()}); stop it first, or give this one another --data"
    )
    # No token, no database: it stopped before touching anything.
    assert sorted(p.name for p in data.iterdir()) == before == [LOCK_NAME]
    assert (data / LOCK_NAME).read_text() == f"{os.getpid()}\n"
