"""What the bridge pays per forwarded packet, against the floor and aiortc's own ways to fan out.

    sudo .venv/bin/python benchmarks/forwarding.py [--subscribers 0,1,10,50,100] [--window 10]

Needs root: it re-executes itself inside tests/netns-run, a private network namespace, so that
every packet stays on the namespace's own addresses (10.77.0.1 and 10.77.0.2). In one run, on
one machine, it measures:

- the floor: SRTP protection plus one UDP send of a 1,200-byte packet, in a process alone;
- diemcau: `diemcau serve` as a subprocess, one WHIP publisher of pre-encoded 720p30 VP8 at about
  1.8 Mbps and Opus (benchmarks/fanout/recording.py, made once and cached), and N light WHEP
  viewers spread over two processes (benchmarks/fanout/viewers.py), for each N in turn;
- aiortc's stock sender path (frames reassembled, not decoded, then packetized again per
  subscriber) and aiortc's MediaRelay (decoded once, encoded again per subscriber), at small N,
  behind the same WHIP/WHEP peers (benchmarks/fanout/relay.py);

and prints one table: per N, the server's CPU seconds per second (its process tree, from /proc),
µs of CPU per packet forwarded to a subscriber, its ratio to the floor and to MediaRelay,
subscribers per core, loss per subscriber (sequence gaps), and the delay from the publisher's
send to a subscriber's receive (p50, p99). With py-spy installed it also profiles the bridge
at N=50 and prints where the time goes. A figure, not a test: docs/performance.md has a run.
"""

from __future__ import annotations

import argparse
import collections
import importlib.metadata
import json
import os
import platform
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from fanout import recording
from fanout.control import Child, call_all
from fanout.cpu import machine_times, tree_cpu_seconds, tree_cpu_times

ROOT = Path(__file__).resolve().parent.parent
NETNS_RUN = ROOT / "tests" / "netns-run"
SCRIPT = Path(__file__).resolve()
# Delay is matched by payload: the naive relays send other payloads than the publisher's.
NO_DELAY = {"aiortc MediaRelay": "- (re-encoded)", "aiortc stock sender": "- (re-packetized)"}


@dataclass
class Row:
    path: str
    n: int
    seconds: float
    server_cpu: float  # CPU seconds of the server's process tree in the window
    server_system: float  # of which in the kernel (sendto, recvfrom, epoll)
    forwarded: int  # packets sent to subscribers (from the sequence numbers they received)
    received: int
    loss_mean: float
    loss_max: float
    # Publisher's sendto to the kernel's receive stamp at the subscriber's socket: the bridge's
    # part, whatever the subscriber processes were doing; then to the subscriber reading it.
    delay_p50_ms: float | None = None
    delay_p99_ms: float | None = None
    read_p50_ms: float | None = None
    read_p99_ms: float | None = None
    matched: float | None = None  # arrivals whose payload is one the publisher sent
    bridge_sent: int | None = None  # the bridge's own count (GET /api/sessions/{id}/sites)
    viewers_cpu: float = 0.0
    publisher_cpu: float = 0.0
    machine_busy: float = 0.0  # all CPUs, every process of the machine, 0..1
    steal: float = 0.0
    bad: int = 0  # failed SRTP authentication, or not the SSRC and payload type announced
    bad_kinds: list[dict[str, int]] = field(default_factory=list)  # per viewer that had any

    @property
    def cpu_rate(self) -> float:
        return self.server_cpu / self.seconds

    @property
    def us_per_packet(self) -> float | None:
        return self.server_cpu / self.forwarded * 1e6 if self.forwarded else None


@dataclass
class Run:
    machine: dict[str, Any]
    floors: list[dict[str, Any]] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    profile: dict[str, Any] | None = None


# -- processes -----------------------------------------------------------------------------------


def _role_argv(*args: str) -> list[str]:
    return [sys.executable, str(SCRIPT), "--role", *args]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not answer /healthz within 30 s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _floor(out: Path, profile: str) -> dict[str, Any]:
    result = subprocess.run(
        _role_argv("floor", "--srtp-profile", profile), capture_output=True, text=True, check=True
    )
    floor: dict[str, Any] = json.loads(result.stdout)
    return floor


# -- one measured window -------------------------------------------------------------------------


def _percentile(sorted_values: np.ndarray, q: float) -> float:
    return float(sorted_values[min(int(len(sorted_values) * q), len(sorted_values) - 1)])


def _delays(
    publisher_log: Path, arrival_logs: list[Path], since: float, until: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """Delays of every arrival matched by payload (kernel stamp, read); the share matched."""
    sent = np.load(publisher_log)
    keep = (sent["times"] >= since - 2) & (sent["times"] <= until)
    keys, times = sent["keys"][keep], sent["times"][keep]
    unique, counts = np.unique(keys, return_counts=True)
    single = np.isin(keys, unique[counts == 1])
    keys, times = keys[single], times[single]
    order = np.argsort(keys)
    keys, times = keys[order], times[order]
    stamped, read, arrivals, matched = [], [], 0, 0
    for path in arrival_logs:
        got = np.load(path)
        if not len(got["keys"]) or not len(keys):
            continue
        index = np.minimum(np.searchsorted(keys, got["keys"]), len(keys) - 1)
        hit = keys[index] == got["keys"]
        arrivals += len(hit)
        matched += int(hit.sum())
        stamped.append(got["kernel_times"][hit] - times[index[hit]])
        read.append(got["times"][hit] - times[index[hit]])
    if not stamped:
        return np.array([]), np.array([]), 0.0
    return (
        np.sort(np.concatenate(stamped)),
        np.sort(np.concatenate(read)),
        matched / max(arrivals, 1),
    )


def measure(
    path: str,
    n: int,
    server_pid: int,
    publisher: Child,
    viewers: list[Child],
    window: float,
    out: Path,
    bridge_sent: Any = None,
    keep_logs: bool = False,
) -> Row:
    tag = f"{path.split()[-1].lower()}-{n}"
    sent0 = bridge_sent() if bridge_sent else None
    others0 = [tree_cpu_seconds(c.pid) for c in (publisher, *viewers)]
    machine0 = machine_times()
    cpu0, t0, wall0 = tree_cpu_times(server_pid), time.monotonic(), time.time()
    call_all(viewers, "mark")
    time.sleep(window)
    cpu1, t1, wall1 = tree_cpu_times(server_pid), time.monotonic(), time.time()
    machine1 = machine_times()
    arrival_logs = [out / f"arrivals-{tag}-{i}.npz" for i in range(len(viewers))]
    for child, log in zip(viewers, arrival_logs, strict=True):
        child.send("stop", path=str(log))
    stops = [child.receive() for child in viewers]
    others1 = [tree_cpu_seconds(c.pid) for c in (publisher, *viewers)]
    sent1 = bridge_sent() if bridge_sent else None
    publisher_log = out / f"sent-{tag}.npz"
    publisher.call("dump", path=str(publisher_log))

    expected = [e for stop in stops for e in stop["expected"]]
    received = [r for stop in stops for r in stop["received"]]
    losses = [max(e - r, 0) / e for e, r in zip(expected, received, strict=True) if e]
    delays, read, matched = _delays(publisher_log, arrival_logs, wall0, wall1)
    elapsed = machine1.total - machine0.total
    row = Row(
        path=path,
        n=n,
        seconds=t1 - t0,
        server_cpu=sum(cpu1) - sum(cpu0),
        server_system=cpu1[1] - cpu0[1],
        forwarded=sum(expected),
        received=sum(received),
        loss_mean=statistics.fmean(losses) if losses else 0.0,
        loss_max=max(losses, default=0.0),
        bridge_sent=(sent1 - sent0) if sent0 is not None and sent1 is not None else None,
        publisher_cpu=others1[0] - others0[0],
        viewers_cpu=sum(others1[1:]) - sum(others0[1:]),
        machine_busy=(machine1.busy - machine0.busy) / elapsed if elapsed else 0.0,
        steal=(machine1.steal - machine0.steal) / elapsed if elapsed else 0.0,
        bad=sum(stop["bad"] for stop in stops),
        bad_kinds=[kinds for stop in stops for kinds in stop["bad_kinds"]],
    )
    if len(delays) and matched > 0.5:
        row.delay_p50_ms = _percentile(delays, 0.50) * 1e3
        row.delay_p99_ms = _percentile(delays, 0.99) * 1e3
        row.read_p50_ms = _percentile(read, 0.50) * 1e3
        row.read_p99_ms = _percentile(read, 0.99) * 1e3
    row.matched = matched if n else None
    if not keep_logs:
        for log in (*arrival_logs, publisher_log):
            log.unlink(missing_ok=True)
    us = f"{row.us_per_packet:.1f} µs/pkt" if row.us_per_packet else "-"
    print(
        f"  {path} N={n}: server {row.cpu_rate:.3f} CPU s/s, {us}, "
        f"{row.forwarded / row.seconds:.0f} pkt/s out, loss {row.loss_mean:.2%}, "
        f"machine {row.machine_busy:.0%} busy",
        flush=True,
    )
    return row


def _add_viewers(viewers: list[Child], halls: list[tuple[str, str]]) -> None:
    if not halls:
        return
    shares: list[list[tuple[str, str]]] = [[] for _ in viewers]
    for index, hall in enumerate(halls):
        shares[index % len(viewers)].append(hall)
    for child, share in zip(viewers, shares, strict=True):
        child.send("add", halls=share)
    for child in viewers:
        reply = child.receive(timeout=300)
        if reply["failures"]:
            raise RuntimeError(
                f"{child.name}: {reply['failures']} viewers failed: {reply['failed']}"
            )


# -- the bridge ----------------------------------------------------------------------------------


def run_bridge(args: argparse.Namespace, out: Path, run: Run) -> None:
    port, token = _free_port(), secrets.token_urlsafe(32)
    base = f"http://127.0.0.1:{port}"
    log = out / "diemcau-serve.log"
    with log.open("ab") as log_file:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "diemcau.server.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--data",
                str(out / "data"),
                "--log-level",
                "warning",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, "DIEMCAU_ADMIN_TOKEN": token},
        )
    children: list[Child] = []
    try:
        _wait_healthy(base, server, log)
        admin = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        sites = [f"hall{i:03d}" for i in range(1, max(args.subscribers) + 1)] or ["hall001"]
        for site in sites:
            admin.put(
                f"/api/sites/{site}",
                json={"name": f"Hall {site}", "kind": "commune", "expected": 30},
            ).raise_for_status()
        session = admin.post(
            "/api/sessions",
            json={
                "title": "Benchmark",
                "scheduled_start": "2026-03-05T01:00:00Z",
                "scheduled_end": "2026-03-05T03:00:00Z",
                "sites": sites,
            },
        ).json()
        halls = [(base + httpx.URL(i["whep_url"]).path, i["token"]) for i in session["invites"]]

        def bridge_sent() -> int:
            reply = admin.get(f"/api/sessions/{session['id']}/sites").json()
            return sum(site["packets_sent"] for site in reply["sites"])

        publisher = Child("publisher-diemcau", _role_argv("publisher"), out)
        children.append(publisher)
        whip_url = base + httpx.URL(session["host"]["whip_url"]).path
        started = publisher.call(
            "start", url=whip_url, token=session["host"]["token"], pace_ms=args.pace_ms
        )
        run.machine["stream"] = started
        viewers = [
            Child(f"viewers-diemcau-{i}", _role_argv("viewers"), out)
            for i in range(args.viewer_processes)
        ]
        children.extend(viewers)
        connected = 0
        for n in args.subscribers:
            _add_viewers(viewers, halls[connected:n])
            connected = max(connected, n)
            time.sleep(args.warmup)
            run.rows.append(
                measure(
                    "diemcau",
                    n,
                    server.pid,
                    publisher,
                    viewers,
                    args.window,
                    out,
                    bridge_sent,
                    args.keep_logs,
                )
            )
            if n == args.profile_at and args.profile_seconds:
                run.profile = profile(server.pid, args.profile_seconds, out, n)
    finally:
        for child in reversed(children):
            child.close()
        _stop(server)


def run_relay(mode: str, counts: list[int], args: argparse.Namespace, out: Path, run: Run) -> None:
    label = {"stock": "aiortc stock sender", "mediarelay": "aiortc MediaRelay"}[mode]
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = out / f"relay-{mode}.log"
    with log.open("ab") as log_file:
        server = subprocess.Popen(
            _role_argv("relay", "--mode", mode, "--port", str(port)),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    children: list[Child] = []
    try:
        _wait_healthy(base, server, log)
        publisher = Child(f"publisher-{mode}", _role_argv("publisher"), out)
        children.append(publisher)
        publisher.call("start", url=f"{base}/whip/bench", token="-", pace_ms=args.pace_ms)
        viewers = [
            Child(f"viewers-{mode}-{i}", _role_argv("viewers"), out)
            for i in range(min(args.viewer_processes, max(counts)))
        ]
        children.extend(viewers)
        halls = [(f"{base}/whep/bench/hall{i:03d}", "-") for i in range(1, max(counts) + 1)]
        connected = 0
        for n in counts:
            _add_viewers(viewers, halls[connected:n])
            connected = max(connected, n)
            time.sleep(args.warmup)
            run.rows.append(measure(label, n, server.pid, publisher, viewers, args.window, out))
    finally:
        for child in reversed(children):
            child.close()
        _stop(server)


# -- the profile ---------------------------------------------------------------------------------


def _py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def _frame(frame: str, with_line: bool) -> str:
    """'send (/x/diemcau/media/seams.py:181)' -> 'send (media/seams.py:181)'."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    file, _, line = where.rpartition(":")
    short = "/".join(Path(file).parts[-2:])
    return f"{name} ({short}:{line})" if with_line else f"{name} ({short})"


def profile(pid: int, seconds: int, out: Path, n: int) -> dict[str, Any] | None:
    """py-spy samples of the running server: self and inclusive time, by function and line."""
    py_spy = _py_spy()
    if py_spy is None:
        print("  (py-spy not installed: no profile)", flush=True)
        return None
    raw = out / f"py-spy-diemcau-{n}.txt"
    subprocess.run(
        [
            py_spy,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(seconds),
            "--rate",
            "200",
            "--nonblocking",
            "--format",
            "raw",
            "-o",
            str(raw),
        ],
        check=True,
        capture_output=True,
    )
    self_fn: collections.Counter[str] = collections.Counter()
    self_line: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = waiting = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames, count = stack.split(";"), int(count_text)
        if frames[-1].startswith(("select (", "EpollSelector.select (")):
            waiting += count  # the event loop waiting in epoll: idle, whatever py-spy thought
            continue
        total += count
        self_fn[_frame(frames[-1], False)] += count
        self_line[_frame(frames[-1], True)] += count
        for name in {_frame(f, False) for f in frames}:
            inclusive[name] += count

    def top(counter: collections.Counter[str], k: int) -> list[tuple[str, float]]:
        return [(name, count / total) for name, count in counter.most_common(k)]

    result = {
        "n": n,
        "samples": total,
        "waiting": waiting,
        "raw": str(raw),
        "self": top(self_fn, 15),
        "self_lines": top(self_line, 15),
        "inclusive": top(inclusive, 25),
    }
    print(f"  py-spy: {total} busy samples of the server at N={n}", flush=True)
    return result


# -- the report ----------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        (ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name")),
        platform.processor(),
    )
    mhz = next(
        (ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("cpu MHz")),
        "?",
    )

    def version(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "-"

    return {
        "cpu": f"{model} @ {float(mhz):.0f} MHz" if mhz != "?" else model,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": {n: version(n) for n in ("aiortc", "aioice", "pylibsrtp", "av", "uvicorn")},
        "load": os.getloadavg(),
    }


def _fmt(value: float | None, spec: str, unit: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{unit}"


def report(run: Run) -> str:
    floor = statistics.median(f["floor_us"] for f in run.floors)
    fan_floor = statistics.median(f["fan_out_us"] for f in run.floors)
    relay_rows = [r for r in run.rows if r.path == "aiortc MediaRelay" and r.us_per_packet]
    relay = max(relay_rows, key=lambda r: r.n).us_per_packet if relay_rows else None
    idle = next((r.cpu_rate for r in run.rows if r.path == "diemcau" and r.n == 0), None)
    m = run.machine
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, Linux {m['kernel']}, Python {m['python']}, "
        + ", ".join(f"{k} {v}" for k, v in m["packages"].items()),
    ]
    if "stream" in m:
        s = m["stream"]
        lines.append(
            f"Publisher: 720p30 VP8 {s['video_bitrate'] / 1e6:.2f} Mbps (a keyframe every 2 s) "
            f"+ Opus {s['audio_bitrate'] / 1e3:.0f} kbps; SRTP {s['srtp_profile']}; "
            + (
                f"paced: one packet every {s['pace_ms']:g} ms at most"
                if s.get("pace_ms")
                else "a frame's packets back to back (aiortc's sender, no pacer)"
            )
        )
    lines.append(
        "Floor (SRTP protect + sendto of 1,200 bytes, µs CPU per packet): "
        + "; ".join(
            f"{f['floor_us']:.2f} (protect {f['protect_us']:.2f} + send {f['sendto_us']:.2f})"
            for f in run.floors
        )
        + f" -> {floor:.2f} µs"
    )
    lines.append(
        "Floor in the one-packet fan-out pattern "
        f"({run.floors[0]['fan_out_n']} sockets and SRTP sessions, "
        "a burst to all of them 264 times a second, receivers asleep in between): "
        + "; ".join(f"{f['fan_out_us']:.2f}" for f in run.floors)
        + f" -> {fan_floor:.2f} µs"
    )
    hops = [f for f in run.floors if "hop_p50_us" in f]
    if hops:
        lines.append(
            "One UDP hop between two processes (one-way delay): "
            + "; ".join(f"p50 {f['hop_p50_us']:.0f} µs, p99 {f['hop_p99_us']:.0f} µs" for f in hops)
        )
    lines += [
        "",
        "| path | N | server CPU s/s | µs CPU / fwd pkt | over N=0 | × floor | × fan-out floor "
        "| × MediaRelay | subs / core | fwd pkt/s | loss / sub mean (max) | delay p50 / p99 ms "
        "| machine busy |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in run.rows:
        us = r.us_per_packet
        marginal = None
        if r.path == "diemcau" and idle is not None and r.forwarded:
            marginal = (r.cpu_rate - idle) / (r.forwarded / r.seconds) * 1e6
        delay = (
            f"{r.delay_p50_ms:.2f} / {r.delay_p99_ms:.1f}"
            if r.delay_p50_ms is not None and r.delay_p99_ms is not None
            else NO_DELAY.get(r.path, "-")
        )
        lines.append(
            f"| {r.path} | {r.n} | {r.cpu_rate:.3f} | {_fmt(us, '.1f')} | {_fmt(marginal, '.1f')} "
            f"| {_fmt(us / floor if us else None, '.2f')} "
            f"| {_fmt(us / fan_floor if us else None, '.2f')} "
            f"| {_fmt(us / relay if us and relay else None, '.3f')} "
            f"| {_fmt(r.n / r.cpu_rate if r.n and r.cpu_rate else None, '.0f')} "
            f"| {r.forwarded / r.seconds:.0f} "
            f"| {r.loss_mean:.2%} ({r.loss_max:.2%}) | {delay} "
            f"| {r.machine_busy:.0%} (steal {r.steal:.0%}) |"
        )
    lines.append("")
    for r in run.rows:
        if r.n:
            checks = [
                f"{r.path} N={r.n}: server {r.server_system / max(r.server_cpu, 1e-9):.0%} in the "
                f"kernel; viewers {r.viewers_cpu / r.seconds:.2f} CPU s/s, "
                f"publisher {r.publisher_cpu / r.seconds:.3f}",
                f"{r.bad} bad packets"
                + (f" ({len(r.bad_kinds)} viewers: {r.bad_kinds[:3]})" if r.bad_kinds else ""),
            ]
            if r.read_p50_ms is not None and r.read_p99_ms is not None:
                checks.append(
                    f"delay to the viewer process reading it p50 {r.read_p50_ms:.2f} ms, "
                    f"p99 {r.read_p99_ms:.1f} ms"
                )
            if r.matched is not None:
                checks.append(f"{r.matched:.1%} of arrivals byte-identical to a published payload")
            if r.bridge_sent is not None:
                checks.append(
                    f"bridge counted {r.bridge_sent} sent, viewers' sequence numbers {r.forwarded}"
                )
            lines.append("- " + "; ".join(checks))
    if run.profile:
        p = run.profile
        lines += [
            "",
            f"Profile of the bridge at N={p['n']} ({p['samples']} busy py-spy samples at 200 Hz, "
            f"{p['waiting']} more waiting in epoll, left out):",
        ]
        lines.append(
            "  self time by line: "
            + ", ".join(f"{name} {share:.0%}" for name, share in p["self_lines"][:10])
        )
        lines.append(
            "  self time by function: "
            + ", ".join(f"{name} {share:.0%}" for name, share in p["self"][:10])
        )
        lines.append(
            "  inclusive: "
            + ", ".join(f"{name} {share:.0%}" for name, share in p["inclusive"][:20])
        )
    lines += run.notes
    return "\n".join(lines)


# -- main ----------------------------------------------------------------------------------------


def _counts(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()] if text else []


def _role(args: argparse.Namespace) -> None:
    if args.role == "publisher":
        from fanout import publisher

        publisher.main()
    elif args.role == "viewers":
        from fanout import viewers

        viewers.main()
    elif args.role == "relay":
        from fanout import relay

        relay.main(args.mode, args.port)
    elif args.role == "floor":
        from fanout import floor

        floor.main(args.srtp_profile)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--subscribers",
        type=_counts,
        default=[0, 1, 10, 50, 100],
        help="N for the bridge, in increasing order (0,1,10,50,100)",
    )
    parser.add_argument(
        "--stock",
        type=_counts,
        default=[1, 10],
        help="N for aiortc's stock sender path (1,10); empty to skip",
    )
    parser.add_argument(
        "--mediarelay",
        type=_counts,
        default=[1, 2],
        help="N for aiortc's MediaRelay (1,2); empty to skip",
    )
    parser.add_argument(
        "--pace-ms",
        type=float,
        default=0.0,
        help="space the publisher's packets this far apart, as a browser's pacer would (0: none)",
    )
    parser.add_argument("--window", type=float, default=10.0, help="seconds measured per N (10)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before each window (3)")
    parser.add_argument("--viewer-processes", type=int, default=2)
    parser.add_argument("--profile-at", type=int, default=50, help="N profiled with py-spy (50)")
    parser.add_argument("--profile-seconds", type=int, default=10, help="0 for no profile (10)")
    parser.add_argument("--out", type=Path, help="logs and results (a new folder under /tmp)")
    parser.add_argument(
        "--keep-logs",
        action="store_true",
        help="keep each window's send and arrival logs (.npz) in --out",
    )
    parser.add_argument(
        "--role", choices=["publisher", "viewers", "relay", "floor"], help=argparse.SUPPRESS
    )
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--srtp-profile", default="SRTP_AEAD_AES_256_GCM", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        _role(args)
        return
    if os.geteuid() != 0:
        sys.exit(
            "forwarding.py needs root: it runs inside tests/netns-run, a private network namespace"
        )
    if not os.environ.get("DIEMCAU_NETNS"):
        print("Preparing the recording (made once, then cached)...", flush=True)
        recording.load()
        os.execv(str(NETNS_RUN), [str(NETNS_RUN), sys.executable, str(SCRIPT), *sys.argv[1:]])

    out = args.out or Path(f"/tmp/diemcau-forwarding-{time.strftime('%Y%m%d-%H%M%S')}")
    out.mkdir(parents=True, exist_ok=True)
    run = Run(machine=machine())
    started = time.monotonic()
    print(f"Floor (logs and results in {out})...", flush=True)
    run.floors.append(_floor(out, args.srtp_profile))
    print("diemcau...", flush=True)
    run_bridge(args, out, run)
    profile_name = run.machine.get("stream", {}).get("srtp_profile", args.srtp_profile)
    if args.stock:
        print("aiortc stock sender...", flush=True)
        run_relay("stock", args.stock, args, out, run)
    if args.mediarelay:
        print("aiortc MediaRelay...", flush=True)
        run_relay("mediarelay", args.mediarelay, args, out, run)
    print("Floor again...", flush=True)
    run.floors.append(_floor(out, profile_name))
    run.notes.append(
        f"\nWhole run: {time.monotonic() - started:.0f} s; load average before: "
        + ", ".join(f"{v:.2f}" for v in run.machine["load"])
    )
    text = report(run)
    (out / "results.json").write_text(
        json.dumps({**asdict(run), "rows": [asdict(r) for r in run.rows]}, indent=1)
    )
    (out / "report.md").write_text(text + "\n")
    print()
    print(text)


if __name__ == "__main__":
    main()
