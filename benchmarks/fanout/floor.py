"""The floor: what any forwarder pays per packet and per subscriber, measured in a process alone.

One packet = a 1,200-byte RTP packet with the next sequence number, protected by a pylibsrtp
session with the profile the bridge negotiated, and one `socket.sendto` to a sink in another
process on the namespace's other veth address. Two ways:

- tight: one destination, 20,000 packets back to back, CPU time (`time.process_time`) per batch,
  the median of five batches. This is the floor of the issue; also timed apart, the protection
  alone and the send alone.
- fan-out: one packet to all halls as it comes (the bridge's pattern before bursts), N=50:
  every 1/264 s (the stream's packet rate) one packet to each of 50 sockets with a session
  each, the receiving process asleep in between. The same
  two calls cost more here (cold caches after each sleep, a wake-up of the receiver per
  datagram): the floor of that access pattern, CPU time of the sends only.

Also the one-way delay of one UDP hop between two processes (the sink an asyncio endpoint, as
the bridge and the viewers are), since publisher -> bridge -> viewer crosses two such hops.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import resource
import socket
import statistics
import struct
import sys
import time
from typing import Any

from pylibsrtp import Policy, Session

SENDER = "10.77.0.1"
SINK = "10.77.0.2"
PACKET_SIZE = 1200
BATCH = 20_000
BATCHES = 5
FAN_OUT = 50
FAN_OUT_RATE = 264  # packets a second of the recording, video and sound
FAN_OUT_SECONDS = 4
PROFILES = {
    "SRTP_AEAD_AES_256_GCM": Policy.SRTP_PROFILE_AEAD_AES_256_GCM,
    "SRTP_AEAD_AES_128_GCM": Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
    "SRTP_AES128_CM_SHA1_80": Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
}
KEY_LENGTHS = {  # master key + salt
    "SRTP_AEAD_AES_256_GCM": 32 + 12,
    "SRTP_AEAD_AES_128_GCM": 16 + 12,
    "SRTP_AES128_CM_SHA1_80": 16 + 14,
}
HEADER = struct.Struct("!BBHII")
STAMP = b"STAMP"
STOP = b"STOP"


def _sink(sockets: int, results: Any) -> None:
    """Drain every socket; keep the one-way delay of stamped datagrams; report at STOP."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        delays: list[float] = []

        class Sink(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: Any) -> None:
                if data.startswith(STAMP):
                    delays.append(time.monotonic() - struct.unpack_from("!d", data, 5)[0])
                elif data == STOP and not done.done():
                    done.set_result(None)

        transports = [
            (await loop.create_datagram_endpoint(Sink, local_addr=(SINK, 0)))[0]
            for _ in range(sockets)
        ]
        results.send([t.get_extra_info("sockname")[1] for t in transports])
        await done
        for transport in transports:
            transport.close()
        results.send(delays)

    asyncio.run(main())


def _session(profile: str) -> Session:
    policy = Policy(
        key=os.urandom(KEY_LENGTHS[profile]),
        ssrc_type=Policy.SSRC_ANY_OUTBOUND,
        srtp_profile=PROFILES[profile],
    )
    policy.allow_repeat_tx = True
    return Session(policy)


def _sender() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((SENDER, 0))
    sock.setblocking(False)
    return sock


def _rusage() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def _batches(step: Any) -> tuple[float, float]:
    """Median µs of CPU per call of step(i) over the batches; and the share in the kernel."""
    per_packet = []
    # One batch unmeasured first: the first thousands of calls in a fresh process ran up to
    # 50% slower here (caches, the CPU's clock), which would flatter every ratio to the floor.
    for seq in range(BATCH):
        step(seq)
    seq = BATCH
    user0, system0 = _rusage()
    for _ in range(BATCHES):
        start = time.process_time()
        for _ in range(BATCH):
            step(seq)
            seq += 1
        per_packet.append((time.process_time() - start) / BATCH * 1e6)
    user1, system1 = _rusage()
    kernel = (system1 - system0) / max(user1 - user0 + system1 - system0, 1e-9)
    return statistics.median(per_packet), kernel


def _send(sock: socket.socket, data: bytes, addr: tuple[str, int]) -> None:
    try:
        sock.sendto(data, addr)
    except BlockingIOError:
        pass  # the sink fell behind: the bridge drops too


def measure(profile: str) -> dict[str, Any]:
    ours, theirs = multiprocessing.Pipe()
    sink = multiprocessing.get_context("fork").Process(target=_sink, args=(1 + FAN_OUT, theirs))
    sink.start()
    ports = ours.recv()
    addr = (SINK, ports[0])
    sock = _sender()
    header = bytearray(HEADER.size)
    payload = os.urandom(PACKET_SIZE - HEADER.size)
    session = _session(profile)
    protect, pack_into = session.protect, HEADER.pack_into

    def full(seq: int) -> None:
        pack_into(header, 0, 0x80, 96, seq & 0xFFFF, seq * 3000 & 0xFFFFFFFF, 0x1234)
        _send(sock, protect(bytes(header) + payload), addr)

    protect_only = _session(profile).protect

    def protect_alone(seq: int) -> None:
        pack_into(header, 0, 0x80, 96, seq & 0xFFFF, seq * 3000 & 0xFFFFFFFF, 0x5678)
        protect_only(bytes(header) + payload)

    ready = protect(HEADER.pack(0x80, 96, 1, 1, 0x9ABC) + payload)

    def send_alone(seq: int) -> None:
        _send(sock, ready, addr)

    floor, kernel = _batches(full)
    result: dict[str, Any] = {
        "profile": profile,
        "floor_us": floor,
        "floor_kernel": kernel,
        "protect_us": _batches(protect_alone)[0],
        "sendto_us": _batches(send_alone)[0],
    }
    result.update(_fan_out(profile, payload, ports[1:]))

    # One UDP hop, process to asyncio process: 1,000 stamped packets, 2 ms apart.
    time.sleep(0.2)
    for _ in range(1000):
        _send(sock, STAMP + struct.pack("!d", time.monotonic()) + payload[:1000], addr)
        time.sleep(0.002)
    sock.sendto(STOP, addr)
    delays = sorted(ours.recv())
    sink.join()
    sock.close()
    if delays:
        result["hop_p50_us"] = delays[len(delays) // 2] * 1e6
        result["hop_p99_us"] = delays[int(len(delays) * 0.99)] * 1e6
    return result


def _fan_out(profile: str, payload: bytes, ports: list[int]) -> dict[str, Any]:
    """One packet to every subscriber as it comes, FAN_OUT_RATE times a second."""
    targets = [(_sender(), _session(profile).protect, (SINK, port)) for port in ports]
    pack = HEADER.pack
    cpu = 0.0
    packets = 0
    user = system = 0.0
    seq = 0
    next_burst = time.monotonic()
    deadline = next_burst + FAN_OUT_SECONDS
    while next_burst < deadline:
        delay = next_burst - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        next_burst += 1 / FAN_OUT_RATE
        user0, system0 = _rusage()
        start = time.process_time()
        for sock, protect, addr in targets:
            _send(
                sock,
                protect(pack(0x80, 96, seq & 0xFFFF, seq * 3000 & 0xFFFFFFFF, 0x1234) + payload),
                addr,
            )
        cpu += time.process_time() - start
        user1, system1 = _rusage()
        user += user1 - user0
        system += system1 - system0
        packets += len(targets)
        seq += 1
    for sock, _, _ in targets:
        sock.close()
    return {
        "fan_out_us": cpu / packets * 1e6,
        "fan_out_kernel": system / max(user + system, 1e-9),
        "fan_out_n": len(targets),
    }


def main(profile: str) -> None:
    json.dump(measure(profile), sys.stdout)
    sys.stdout.write("\n")
