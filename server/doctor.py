"""`diemcau doctor`: from the server, check what halls need to reach it, and say plainly what
to fix. Each check gives one Finding, printed as one line: `ok: ...` or `PROBLEM: ...`.

- the public URL answers (GET {public_url}/healthz);
- the UDP media port can be bound on each address, or is bound by a running diemcau;
- each TURN server grants a real allocation with credentials minted as the server mints them;
- each --public-ip is not one of this machine's own addresses (see public_ip_findings).
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import ifaddr
from aioice import stun
from aioice.ice import get_host_addresses
from aioice.turn import create_turn_endpoint

from ..signaling.turn import IceUrl, mint_credentials, parse_turn_url
from .config import Config

# The name doctor's TURN credentials carry, so that coturn's log tells its allocations apart.
DOCTOR_IDENTITY = "doctor"


@dataclass(frozen=True)
class Finding:
    ok: bool
    text: str

    def line(self) -> str:
        return f"{'ok' if self.ok else 'PROBLEM'}: {self.text}"


# -- the public URL -----------------------------------------------------------------------------


def check_public_url(config: Config, timeout: float) -> Finding:
    """GET /healthz at the public URL (else at --host and --port), as a hall would."""
    base = config.public_url or f"http://{_http_host(config.host)}:{config.port}"
    url = f"{base}/healthz"
    unset = "" if config.public_url else " (no --public-url: links follow each request's address)"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status, body = response.status, response.read(4096)
    except urllib.error.HTTPError as exc:
        failing = _failing_reason(exc)
        if failing is not None:
            return Finding(
                False,
                f"{url} answers, but {failing} — free space on the data directory's disk, or"
                " end what holds its database's lock",
            )
        return Finding(
            False,
            f"{url} answers {exc.code}: the reverse proxy must pass {base}/ to diemcau serve",
        )
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Finding(
            False,
            f"{url} does not answer ({reason}): is diemcau serve running, and does the name "
            "resolve to this server and the reverse proxy pass to it?",
        )
    try:
        healthy = status == 200 and json.loads(body).get("status") == "ok"
    except (ValueError, AttributeError):
        healthy = False
    if not healthy:
        return Finding(False, f"{url} answers, but not as diemcau does: is it another service?")
    return Finding(True, f"{url} answers{unset}")


def _failing_reason(exc: urllib.error.HTTPError) -> str | None:
    """What diemcau's own 503 says is wrong (its database cannot be written), else None."""
    if exc.code != 503:
        return None
    try:
        body = json.loads(exc.read(4096))
    except (ValueError, OSError):
        return None
    if isinstance(body, dict) and body.get("status") == "failing":
        return str(body.get("reason"))
    return None


def _http_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


# -- the UDP media port -------------------------------------------------------------------------


def check_udp_port(port: int, addresses: Iterable[str] | None = None) -> Finding:
    """Bind `port` on each address the media port binds (all host addresses by default); a port
    that is taken is fine when a running diemcau holds it."""
    if port == 0:
        return Finding(
            False,
            "--udp-port 0 picks another port at every start, which no firewall rule can follow: "
            "give a fixed port (8189)",
        )
    if addresses is None:
        addresses = get_host_addresses(use_ipv4=True, use_ipv6=True)
    taken: list[str] = []
    for address in addresses:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind((address, port))
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    return Finding(False, f"UDP port {port} cannot be bound on {address}: {exc}")
                taken.append(address)
    if not taken:
        return Finding(True, f"UDP port {port} is free: diemcau serve will bind it")
    owners = udp_port_owners(port)
    where = ", ".join(taken)
    if owners and all(_is_diemcau(cmdline) for cmdline in owners.values()):
        pids = ", ".join(str(pid) for pid in sorted(owners))
        return Finding(True, f"UDP port {port} is bound by diemcau (pid {pids}) on {where}")
    if not owners:
        return Finding(
            False,
            f"UDP port {port} is taken on {where} by a process this user cannot see: "
            "run doctor as root to learn which, or choose another --udp-port",
        )
    others = "; ".join(
        f"pid {pid}: {cmdline}"
        for pid, cmdline in sorted(owners.items())
        if not _is_diemcau(cmdline)
    )
    return Finding(
        False,
        f"UDP port {port} is taken on {where} by {others}: stop it or choose another --udp-port",
    )


def _is_diemcau(cmdline: str) -> bool:
    words = cmdline.split()
    return any("diemcau" in word for word in words) and bool({"serve", "demo"} & set(words))


def udp_port_owners(port: int, proc: Path = Path("/proc")) -> dict[int, str]:
    """The processes holding a UDP socket on `port`, by pid, with their command lines; only
    those this user may look into."""
    inodes = set()
    for table in ("udp", "udp6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # local_address is HEXADDR:HEXPORT; the inode is the tenth field.
            if len(fields) > 9 and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    owners: dict[int, str] = {}
    for entry in proc.iterdir() if inodes else ():
        if not entry.name.isdigit():
            continue
        try:
            if _socket_links(entry / "fd") & inodes:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                owners[int(entry.name)] = cmdline.decode(errors="replace").strip()
        except OSError:
            continue  # gone, or not ours to read
    return owners


def _socket_links(fds: Path) -> set[str]:
    links = set()
    for fd in fds.iterdir():
        try:
            links.add(os.readlink(fd))
        except OSError:
            continue  # closed meanwhile (the listing's own descriptor, for one)
    return links


# -- TURN ---------------------------------------------------------------------------------------


class _Relay(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


async def allocate(
    url: IceUrl, username: str, password: str, tls: ssl.SSLContext | None = None
) -> tuple[str, int]:
    """A real TURN allocation at `url` (over its transport, with TLS for turns:), deleted again;
    the relayed address. Raises stun.TransactionFailed when refused, stun.TransactionTimeout,
    OSError; wrap it in asyncio.timeout."""
    if url.tls and tls is None:
        tls = ssl.create_default_context()
    transport, relay = await create_turn_endpoint(
        _Relay,
        (url.host, url.port),
        username,
        password,
        ssl=tls if url.tls else None,
        transport=url.transport,
    )
    relayed: tuple[str, int] = transport.get_extra_info("sockname")
    transport.close()
    await relay.closed
    return relayed


async def check_turn(
    text: str, secret: str, ttl: int, wait: float, now: float, tls: ssl.SSLContext | None = None
) -> Finding:
    """Allocate at the TURN server `text` with credentials minted from `secret`, waiting at most
    `wait` seconds."""
    url = parse_turn_url(text)
    over = f"over {url.transport.upper()}{' with TLS' if url.tls else ''}"
    username, password = mint_credentials(secret, DOCTOR_IDENTITY, ttl, now)
    try:
        async with asyncio.timeout(wait):
            relayed = await allocate(url, username, password, tls)
    except stun.TransactionFailed as exc:
        code, reason = exc.response.attributes.get("ERROR-CODE", (0, "no reason"))
        if code == 401:
            return Finding(
                False,
                f"{url} refuses the credentials (401 {reason}): --turn-secret must be coturn's "
                "static-auth-secret, coturn needs use-auth-secret, and both clocks must be right",
            )
        return Finding(False, f"{url} refuses the allocation {over} ({code} {reason})")
    except (TimeoutError, stun.TransactionTimeout):
        return Finding(
            False,
            f"{url} does not answer {over} within {wait:g} s: is coturn running there, and "
            f"is port {url.port}/{url.transport} open in every firewall on the way?",
        )
    except ssl.SSLCertVerificationError as exc:
        return Finding(
            False,
            f"{url}: the TLS certificate does not verify ({exc.verify_message}): coturn's cert= "
            f"must hold a certificate for {url.host} with its chain",
        )
    except ConnectionRefusedError:
        return Finding(
            False, f"{url} refuses the connection {over}: is coturn listening on port {url.port}?"
        )
    except (OSError, stun.TransactionError, ConnectionError) as exc:
        return Finding(False, f"{url} cannot be reached {over}: {exc}")
    return Finding(True, f"{url} grants an allocation {over} (relay {relayed[0]}:{relayed[1]})")


# -- the public addresses -----------------------------------------------------------------------


def local_addresses() -> dict[str, str]:
    """This machine's own addresses, each with its interface's name (ifaddr, as aioice uses)."""
    found: dict[str, str] = {}
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            address = ip.ip if isinstance(ip.ip, str) else ip.ip[0]
            found[address.split("%")[0]] = adapter.nice_name
    return found


def public_ip_findings(public_ips: Iterable[str], local: Mapping[str, str]) -> list[Finding]:
    """--public-ip is for 1:1 NAT: the address halls reach, which this machine does not hold."""
    public_ips = list(public_ips)
    if not public_ips:
        return [
            Finding(
                True,
                "no --public-ip: halls reach this server at its interface addresses "
                "(behind 1:1 NAT or a port forward, give the public address with --public-ip)",
            )
        ]
    findings = []
    for address in public_ips:
        if address in local:
            findings.append(
                Finding(
                    False,
                    f"--public-ip {address} is an address of this machine ({local[address]}): "
                    "that is fine only for a server with its public address on its interface "
                    "(a VPS without NAT), which needs no --public-ip; behind 1:1 NAT or a port "
                    "forward give the router's public address",
                )
            )
        else:
            findings.append(
                Finding(True, f"--public-ip {address} is not on this machine, as 1:1 NAT has it")
            )
    return findings


# -- all of them --------------------------------------------------------------------------------


async def run_checks(config: Config, wait: float) -> list[Finding]:
    """Every check, printed as it completes; the findings."""
    findings: list[Finding] = []

    def report(finding: Finding) -> None:
        findings.append(finding)
        print(finding.line(), flush=True)

    report(await asyncio.to_thread(check_public_url, config, wait))
    report(check_udp_port(config.udp_port))
    if not config.turn_urls:
        report(Finding(True, "no --turn: halls whose network drops UDP cannot connect"))
    for url in config.turn_urls:
        assert config.turn_secret is not None  # the flags refuse --turn without a secret
        report(await check_turn(url, config.turn_secret, config.turn_ttl, wait, time.time()))
    for finding in public_ip_findings(config.public_ips, local_addresses()):
        report(finding)
    return findings


def run_doctor(config: Config, timeout: float) -> int:
    findings = asyncio.run(run_checks(config, timeout))
    return 0 if all(f.ok for f in findings) else 1
