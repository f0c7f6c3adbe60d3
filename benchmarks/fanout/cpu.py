"""CPU time of a process tree and of the whole machine, from /proc (Linux)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: fields start after the last ")".
    return text[text.rindex(")") + 2 :].split()


def tree_cpu_times(pid: int) -> tuple[float, float]:
    """(user, system) seconds of pid, its live descendants (all threads), its reaped children."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) is not None:
            parents[int(entry)] = int(fields[1])
    user = system = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        fields = _stat(current)
        if fields is None:
            continue
        # utime, stime, cutime, cstime: fields 14-17 of stat, 12-15 after the name.
        user += int(fields[11]) + int(fields[13])
        system += int(fields[12]) + int(fields[14])
        todo.extend(child for child, parent in parents.items() if parent == current)
    return user / TICK, system / TICK


def tree_cpu_seconds(pid: int) -> float:
    return sum(tree_cpu_times(pid))


@dataclass
class MachineTimes:
    busy: float
    steal: float
    total: float


def machine_times() -> MachineTimes:
    """Jiffies since boot over all CPUs: busy (not idle or iowait), stolen by the hypervisor."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields[:8]
    return MachineTimes(
        busy=user + nice + system + irq + softirq,
        steal=steal,
        total=user + nice + system + idle + iowait + irq + softirq + steal,
    )
