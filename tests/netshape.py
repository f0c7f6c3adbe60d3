"""A small internet of network namespaces for the reach tests (issue 10), built inside the
namespace the suite runs in (tests/netns-run), every address in a documentation range:

    srv 10.0.0.2 ── router ── lan_a ── hall_a 192.168.1.2
                      │ 203.0.113.1 (internet bridge; 1:1 NAT 203.0.113.10 <-> 10.0.0.2,
                      │              hall A masqueraded behind 203.0.113.20)
        ┌─────────────┼──────────────┐
    router_b .30    turn .40     console .50
        │  (drops all UDP)   (coturn)   (the district console, on the open internet)
    hall_b 192.168.2.2

Nothing from the halls or the internet reaches 10.0.0.0/24 except through the 1:1 NAT, and
nothing reaches a hall's LAN unless the hall opened the way. Processes run in a namespace
with `run_in`/`popen_in` (`ip netns exec`), Python code with `call_in` or a `NamespaceLoop`
(a thread that entered the namespace, so the sockets it opens live there), Chromium through
a wrapper script (`chromium_in`). `netshape()` removes everything, even when a test fails.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import hashlib
import hmac
import os
import selectors
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

SERVER_PRIVATE = "10.0.0.2"
SERVER_PUBLIC = "203.0.113.10"
HALL_A = "192.168.1.2"
HALL_A_PUBLIC = "203.0.113.20"
HALL_B = "192.168.2.2"
HALL_B_PUBLIC = "203.0.113.30"
TURN = "203.0.113.40"
CONSOLE = "203.0.113.50"
TURN_PORT = 3478
# coturn's relay ports: a small range, enough for a few halls.
RELAY_PORTS = (49152, 49199)
REALM = "diemcau.test"
CHROMIUM = "/usr/bin/chromium"

ROLES = ("srv", "router", "hall_a", "router_b", "hall_b", "turn", "console")

_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


@contextlib.contextmanager
def entered(ns: str) -> Iterator[None]:
    """The calling thread inside network namespace `ns`, and back afterwards. Sockets opened
    meanwhile stay in `ns`. Only for threads that run nothing else meanwhile."""
    with open("/proc/thread-self/ns/net") as home, open(f"/run/netns/{ns}") as target:
        _setns(target.fileno())
        try:
            yield
        finally:
            _setns(home.fileno())


def call_in(ns: str, fn: Callable[..., T], *args: Any) -> T:
    """fn(*args) on a thread of its own inside `ns` (blocking code: sockets, httpx)."""
    result: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            with entered(ns):
                result.append(fn(*args))
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=run, name=f"netns-{ns}")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


class NamespaceLoop:
    """An asyncio loop on a thread that lives in one namespace: aiortc peers, httpx clients
    and aioice TURN clients run there with `await loop.run(coro)` from the test's own loop.
    Objects made there belong to that loop: close them with `run` too."""

    def __init__(self, ns: str) -> None:
        self.ns = ns
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=f"netns-loop-{ns}", daemon=True)
        self._entered = threading.Event()
        self._error: BaseException | None = None

    def _serve(self) -> None:
        try:
            with open(f"/run/netns/{self.ns}") as target:
                _setns(target.fileno())
        except OSError as exc:
            self._error = exc
            self._entered.set()
            return
        asyncio.set_event_loop(self.loop)
        self._entered.set()
        self.loop.run_forever()

    def __enter__(self) -> NamespaceLoop:
        self._thread.start()
        self._entered.wait()
        if self._error is not None:
            raise self._error
        return self

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def wait(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """The same from blocking code (a fixture)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def __exit__(self, *exc: object) -> None:
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(cancel_all(), self.loop).result(timeout=10)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
        self.loop.close()


def run_in(
    ns: str, argv: Sequence[str], check: bool = True, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """argv run to its end inside `ns`; its output as text."""
    return subprocess.run(
        ["ip", "netns", "exec", ns, *argv],
        check=check,
        capture_output=True,
        text=True,
        timeout=kwargs.pop("timeout", 30),
        **kwargs,
    )


def popen_in(ns: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """argv started inside `ns` (ip netns exec execs it: the pid is the program's own)."""
    return subprocess.Popen(["ip", "netns", "exec", ns, *argv], **kwargs)


def chromium_in(ns: str, directory: Path) -> Path:
    """An executable that starts Debian's Chromium inside `ns`, for Playwright's
    executable_path: Playwright drives it over pipes, so it needs no route to the browser."""
    wrapper = directory / f"chromium-{ns}"
    wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {ns} {CHROMIUM} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def _bound(kind: int, host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    if kind == socket.SOCK_STREAM:
        sock.listen()
    return sock


@contextlib.contextmanager
def echo(ns: str, host: str, port: int) -> Iterator[None]:
    """A UDP and a TCP server on host:port inside `ns` that answer every message with the
    address it came from ("203.0.113.20:40000"): what the NAT in front of `ns` made of it."""
    udp = call_in(ns, _bound, socket.SOCK_DGRAM, host, port)
    tcp = call_in(ns, _bound, socket.SOCK_STREAM, host, port)
    stop = threading.Event()

    def serve() -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(udp, selectors.EVENT_READ)
            selector.register(tcp, selectors.EVENT_READ)
            while not stop.is_set():
                for key, _ in selector.select(timeout=0.1):
                    if key.fileobj is udp:
                        _, (peer, peer_port) = udp.recvfrom(2048)
                        udp.sendto(f"{peer}:{peer_port}".encode(), (peer, peer_port))
                    else:
                        conn, (peer, peer_port) = tcp.accept()
                        with conn:
                            conn.settimeout(1)
                            conn.recv(2048)
                            conn.sendall(f"{peer}:{peer_port}".encode())

    thread = threading.Thread(target=serve, name=f"echo-{ns}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        udp.close()
        tcp.close()


def _ask(kind: int, host: str, port: int, timeout: float) -> str | None:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.settimeout(timeout)
        try:
            if kind == socket.SOCK_STREAM:
                sock.connect((host, port))
                sock.sendall(b"?")
                return sock.recv(2048).decode()
            sock.sendto(b"?", (host, port))
            return sock.recv(2048).decode()
        except OSError:  # refused, unreachable, timed out: no answer
            return None


def ask_udp(ns: str, host: str, port: int, timeout: float = 0.5) -> str | None:
    """What an `echo` at host:port answers a datagram sent from `ns`; None if nothing came."""
    return call_in(ns, _ask, socket.SOCK_DGRAM, host, port, timeout)


def ask_tcp(ns: str, host: str, port: int, timeout: float = 0.5) -> str | None:
    """What an `echo` at host:port answers over a TCP connection from `ns`; None if none."""
    return call_in(ns, _ask, socket.SOCK_STREAM, host, port, timeout)


def turn_credentials(secret: str, identity: str, ttl: int = 3600) -> tuple[str, str]:
    """coturn's REST credentials, computed here from its rule (not the server's code): the
    username `<unix expiry>:<identity>`, the password base64(HMAC-SHA1(secret, username))."""
    username = f"{int(time.time()) + ttl}:{identity}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


@dataclass
class Coturn:
    """Debian's coturn in the `turn` namespace, in the foreground, from a temporary config."""

    secret: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


@dataclass
class NetShape:
    """The namespaces of one topology, by role; see the module's docstring."""

    names: dict[str, str]
    directory: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    turn_server: Coturn | None = None

    def __getattr__(self, role: str) -> str:
        names = self.__dict__.get("names", {})
        if role in names:
            return str(names[role])
        raise AttributeError(role)

    def popen(self, role: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """A process in the role's namespace, killed when the topology goes."""
        process = popen_in(self.names[role], argv, **kwargs)
        self.processes.append(process)
        return process

    def start_turn(self, secret: str) -> Coturn:
        """coturn on TURN:3478 (UDP and TCP) with use-auth-secret and `secret`; relays only to
        the internet segment. Replaces a coturn already running."""
        if self.turn_server is not None:
            self.turn_server.stop()
        log_path = self.directory / "turnserver.log"
        log_path.unlink(missing_ok=True)
        config = self.directory / "turnserver.conf"
        config.write_text(
            "\n".join(
                [
                    f"listening-ip={TURN}",
                    f"relay-ip={TURN}",
                    f"listening-port={TURN_PORT}",
                    "alt-listening-port=0",
                    f"min-port={RELAY_PORTS[0]}",
                    f"max-port={RELAY_PORTS[1]}",
                    "no-tls",
                    "no-dtls",
                    "use-auth-secret",
                    f"static-auth-secret={secret}",
                    f"realm={REALM}",
                    "fingerprint",
                    "no-cli",
                    "no-multicast-peers",
                    # As deploy/ says: relay to public addresses only, here the internet segment.
                    "denied-peer-ip=0.0.0.0-255.255.255.255",
                    "allowed-peer-ip=203.0.113.0-203.0.113.255",
                    f"userdb={self.directory / 'turndb'}",
                    f"pidfile={self.directory / 'turnserver.pid'}",
                    f"log-file={log_path}",
                    "simple-log",
                    "no-stdout-log",
                    "",
                ]
            )
        )
        process = self.popen(
            "turn",
            ["turnserver", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        running = Coturn(secret, process, log_path)
        self.turn_server = running
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"turnserver exited: {running.log()}")
            if call_in(self.turn, _answers, TURN, TURN_PORT):
                return running
            time.sleep(0.05)
        running.stop()
        raise RuntimeError(f"turnserver did not listen within 15 s: {running.log()}")


def _answers(host: str, port: int) -> bool:
    """Whether a STUN server answers a Binding request on `port`, over TCP and over UDP."""
    request = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + os.urandom(12)
    try:
        with socket.create_connection((host, port), timeout=0.5) as tcp:
            tcp.sendall(request)
            if tcp.recv(2048)[8:20] != request[8:20]:
                return False
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.settimeout(0.5)
            udp.sendto(request, (host, port))
            return udp.recv(2048)[8:20] == request[8:20]
    except OSError:
        return False


def _ip(ns: str, *args: str) -> None:
    subprocess.run(["ip", "-n", ns, *args], check=True, capture_output=True, text=True)


def _veth(a_ns: str, a_name: str, b_ns: str, b_name: str) -> None:
    # Made directly in both namespaces, so no name ever exists in the suite's own.
    pair = ["link", "add", a_name, "netns", a_ns, "type", "veth", "peer", "name", b_name]
    subprocess.run(["ip", *pair, "netns", b_ns], check=True, capture_output=True, text=True)
    _ip(a_ns, "link", "set", a_name, "up")
    _ip(b_ns, "link", "set", b_name, "up")


def _host(ns: str, dev: str, address: str, gateway: str) -> None:
    _ip(ns, "addr", "add", address, "dev", dev)
    _ip(ns, "route", "add", "default", "via", gateway)


def _nft(ns: str, ruleset: str) -> None:
    done = run_in(ns, ["nft", "-f", "-"], check=False, input=ruleset)
    if done.returncode != 0:
        raise RuntimeError(f"nft in {ns}: {done.stderr}")


def _forwarding(ns: str) -> None:
    # Through /proc rather than sysctl(8): a slim Debian has no procps.
    run_in(ns, ["sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"])


# The server's router: 1:1 NAT for srv, masquerade for hall A's LAN, and no way into either
# private LAN but the NAT's own.
ROUTER_RULES = f"""
table ip shape {{
  chain guard {{
    # Before DNAT (-100): the private LAN by its own address, from anywhere but itself.
    type filter hook prerouting priority -150; policy accept;
    iifname != "srv" ip daddr 10.0.0.0/24 drop
  }}
  chain to_server {{
    type nat hook prerouting priority -100; policy accept;
    ip daddr {SERVER_PUBLIC} dnat to {SERVER_PRIVATE}
  }}
  chain from_lans {{
    type nat hook postrouting priority 100; policy accept;
    ip saddr {SERVER_PRIVATE} oifname != "srv" snat to {SERVER_PUBLIC}
    ip saddr 192.168.1.0/24 oifname != "lan_a" snat to {HALL_A_PUBLIC}
  }}
  chain inward {{
    type filter hook forward priority 0; policy accept;
    # Hall A's LAN: only replies to what the hall sent (what masquerade lets in).
    ip daddr 192.168.1.0/24 ct direction original drop
  }}
}}
"""

# Hall B's router: masquerade, and its network lets no UDP through either way.
ROUTER_B_RULES = f"""
table ip shape {{
  chain from_lans {{
    type nat hook postrouting priority 100; policy accept;
    ip saddr 192.168.2.0/24 oifname "wan" snat to {HALL_B_PUBLIC}
  }}
  chain inward {{
    type filter hook forward priority 0; policy accept;
    meta l4proto udp drop
    ip daddr 192.168.2.0/24 ct direction original drop
  }}
}}
"""


def _build(shape: NetShape) -> None:
    n = shape.names
    for ns in n.values():
        subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True, text=True)
        _ip(ns, "link", "set", "lo", "up")
    router = n["router"]
    _forwarding(router)
    _forwarding(n["router_b"])
    # The internet segment: a bridge in the router holding its public addresses.
    _ip(router, "link", "add", "br0", "type", "bridge")
    _ip(router, "link", "set", "br0", "up")
    _ip(router, "addr", "add", "203.0.113.1/24", "dev", "br0")
    for public in (SERVER_PUBLIC, HALL_A_PUBLIC):
        _ip(router, "addr", "add", f"{public}/32", "dev", "br0")
    for role, port, address in (
        ("router_b", "to_rb", HALL_B_PUBLIC),
        ("turn", "to_turn", TURN),
        ("console", "to_console", CONSOLE),
    ):
        dev = "wan" if role == "router_b" else "eth0"
        _veth(router, port, n[role], dev)
        _ip(router, "link", "set", port, "master", "br0")
        _host(n[role], dev, f"{address}/24", "203.0.113.1")
    # The server's private LAN and hall A's, each on a veth of the router.
    _veth(router, "srv", n["srv"], "eth0")
    _ip(router, "addr", "add", "10.0.0.1/24", "dev", "srv")
    _host(n["srv"], "eth0", f"{SERVER_PRIVATE}/24", "10.0.0.1")
    _veth(router, "lan_a", n["hall_a"], "eth0")
    _ip(router, "addr", "add", "192.168.1.1/24", "dev", "lan_a")
    _host(n["hall_a"], "eth0", f"{HALL_A}/24", "192.168.1.1")
    # Hall B's LAN behind its own router.
    _veth(n["router_b"], "lan", n["hall_b"], "eth0")
    _ip(n["router_b"], "addr", "add", "192.168.2.1/24", "dev", "lan")
    _host(n["hall_b"], "eth0", f"{HALL_B}/24", "192.168.2.1")
    _nft(router, ROUTER_RULES)
    _nft(n["router_b"], ROUTER_B_RULES)


def _teardown(shape: NetShape) -> None:
    if shape.turn_server is not None:
        shape.turn_server.stop()
    for process in shape.processes:
        if process.poll() is None:
            process.kill()
        process.wait()
    for ns in shape.names.values():
        # Whatever a test started in a namespace and did not end, by pid (ip netns pids).
        pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
        for pid in pids.stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), 9)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@contextlib.contextmanager
def netshape(directory: Path, prefix: str | None = None) -> Iterator[NetShape]:
    """The topology, its namespaces named `<prefix>-<role>` (prefix unique per run: the pid),
    its temporary files in `directory`; all gone when the block ends, however it ends."""
    if shutil.which("turnserver") is None:
        raise RuntimeError("coturn's turnserver is missing: tests/run installs it")
    prefix = prefix or f"dcs{os.getpid()}"
    shape = NetShape({role: f"{prefix}-{role}" for role in ROLES}, directory)
    try:
        _build(shape)
        yield shape
    finally:
        _teardown(shape)
