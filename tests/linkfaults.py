"""Faults on the links between peers, made for real inside the test's namespace (tests/netns-run):
loss and a cut with nftables, a slow line with tc. Peers in one namespace talk over loopback, so
each acts on what is sent to the given UDP ports (a peer's candidate ports, `candidate_ports`),
and a cut on what they send too."""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator

import pytest

TABLE = "diemcau_loss"
CUT_TABLE = "diemcau_cut"


def candidate_ports(sdp: str) -> set[int]:
    return {int(m.group(1)) for m in re.finditer(r"a=candidate:\S+ \d+ udp \d+ \S+ (\d+)", sdp)}


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


@contextlib.contextmanager
def loss() -> Iterator[Callable[[set[int], int], None]]:
    """drop(ports, percent): lose that share of UDP packets sent to those ports.

    The output hook sees a segmented send (media/seams: a run of one frame's packets to one
    hall) as one packet, so a drop there loses the whole run: burstier than a link's loss."""
    if shutil.which("nft") is None:
        pytest.skip("nftables is not installed (tests/run installs it)")
    _run("nft", "add", "table", "inet", TABLE)
    _run("nft", "add", "chain", "inet", TABLE, "out", "{ type filter hook output priority 0; }")

    def drop(ports: set[int], percent: int) -> None:
        for port in sorted(ports):
            _run(
                *("nft", "add", "rule", "inet", TABLE, "out", "udp", "dport", str(port)),
                *("numgen", "random", "mod", "100", "<", str(percent), "drop"),
            )

    try:
        yield drop
    finally:
        _run("nft", "delete", "table", "inet", TABLE)


@contextlib.contextmanager
def cut() -> Iterator[Callable[[set[int]], None]]:
    """cut(ports): every UDP packet to or from those ports dropped, both ways, as when a hall's
    network goes: not a packet of its own reaches the server either (a close it sends, say)."""
    if shutil.which("nft") is None:
        pytest.skip("nftables is not installed (tests/run installs it)")
    _run("nft", "add", "table", "inet", CUT_TABLE)
    _run("nft", "add", "chain", "inet", CUT_TABLE, "out", "{ type filter hook output priority 0; }")

    def drop(ports: set[int]) -> None:
        for port in sorted(ports):
            for way in ("dport", "sport"):
                _run("nft", "add", "rule", "inet", CUT_TABLE, "out", "udp", way, str(port), "drop")

    try:
        yield drop
    finally:
        _run("nft", "delete", "table", "inet", CUT_TABLE)


@contextlib.contextmanager
def throttle(rate: str = "32kbit") -> Iterator[Callable[[set[int]], None]]:
    """slow(ports): what is sent to those UDP ports leaves loopback at `rate` (an htb class),
    the rest as fast as ever; the queue it makes holds the sender's socket buffer."""
    if shutil.which("tc") is None:
        pytest.skip("tc (iproute2) is not installed")
    lo = ("dev", "lo")
    _run("tc", "qdisc", "add", *lo, "root", "handle", "1:", "htb", "default", "10")
    _run("tc", "class", "add", *lo, "parent", "1:", "classid", "1:10", "htb", "rate", "10gbit")
    _run("tc", "class", "add", *lo, "parent", "1:", "classid", "1:20", "htb", "rate", rate)

    def slow(ports: set[int]) -> None:
        for port in sorted(ports):
            _run(
                *("tc", "filter", "add", *lo, "parent", "1:", "protocol", "ip", "prio", "1"),
                *("u32", "match", "ip", "protocol", "17", "0xff"),
                *("match", "ip", "dport", str(port), "0xffff", "flowid", "1:20"),
            )

    try:
        yield slow
    finally:
        _run("tc", "qdisc", "del", *lo, "root")
