"""What a process holds, read from /proc: resident memory and open file descriptors (the soak
in tests/media/test_soak.py and benchmarks/resources.py)."""

from __future__ import annotations

import os
from collections import Counter


def rss_kib(pid: int) -> int:
    """Resident memory (VmRSS), in KiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise ValueError(f"no VmRSS for process {pid}")


def descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def descriptor_kinds(pid: int) -> Counter[str]:
    """Open descriptors by what they are: socket, anon_inode:[eventpoll], a path..."""
    kinds: Counter[str] = Counter()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue  # closed meanwhile
        kinds[target.split(":[")[0] if target.startswith("socket:") else target] += 1
    return kinds
