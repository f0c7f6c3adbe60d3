"""What a pause costs: SRTP protect of 50 packets in a burst, after the CPU idled for a while.

    python benchmarks/idle_penalty.py

The bridge works in bursts: a publisher packet arrives about every 4 ms and is protected and sent
for each subscriber, then the process sleeps in epoll. On the shared VMs here the same calls cost
about twice as much right after a sleep of a few milliseconds as in a tight loop (caches, and the
host's handling of an idle virtual CPU), which is why the floor taken back to back is lower than
anything a forwarder in its real rhythm can reach. This prints µs of CPU per protect, the burst
preceded by a spin, by sleeps of growing length, and back to back. Local only: no network.
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Callable

from pylibsrtp import Policy, Session

BURST = 50  # subscribers
BURSTS = 600
HEADER = struct.Struct("!BBHII")
PAYLOAD = os.urandom(1188)


def _protects() -> list[Callable[[bytes], bytes]]:
    sessions = []
    for _ in range(BURST):
        policy = Policy(
            key=os.urandom(44),
            ssrc_type=Policy.SSRC_ANY_OUTBOUND,
            srtp_profile=Policy.SRTP_PROFILE_AEAD_AES_256_GCM,
        )
        policy.allow_repeat_tx = True
        sessions.append(Session(policy))
    return [s.protect for s in sessions]


def per_protect(pause: Callable[[], None]) -> float:
    protects = _protects()
    cpu = 0.0
    for seq in range(BURSTS):
        pause()
        start = time.process_time()
        for protect in protects:
            protect(HEADER.pack(0x80, 96, seq, seq * 3000, 0x1234) + PAYLOAD)
        cpu += time.process_time() - start
    return cpu / (BURSTS * BURST) * 1e6


def _spin(seconds: float) -> Callable[[], None]:
    def pause() -> None:
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            pass

    return pause


def _sleep(seconds: float) -> Callable[[], None]:
    return lambda: time.sleep(seconds)


def main() -> None:
    per_protect(lambda: None)  # warm up
    rows = [
        ("back to back", lambda: None),
        ("spin 3.8 ms", _spin(1 / 264)),
        ("sleep 0.1 ms", _sleep(0.0001)),
        ("sleep 1 ms", _sleep(0.001)),
        ("sleep 3.8 ms (the stream's packet interval)", _sleep(1 / 264)),
        ("sleep 20 ms", _sleep(0.02)),
    ]
    base = None
    print(f"{BURST} SRTP sessions (AES-256-GCM), 1,200-byte packets, {BURSTS} bursts each")
    for label, pause in rows:
        us = per_protect(pause)
        base = base or us
        print(f"  {label:45s} {us:5.2f} µs per protect  ({us / base:.2f}x)")


if __name__ == "__main__":
    main()
