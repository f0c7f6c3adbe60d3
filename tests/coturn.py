"""A real coturn `turnserver` for the tests, inside the test namespace: use-auth-secret with a
static secret, listening on 10.77.0.1 (UDP and TCP, and TLS with a certificate made here),
from a temporary configuration, in the foreground, killed at the end."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# The namespace's own address (tests/netns-run): the TURN server and its relay live there.
ADDRESS = "10.77.0.1"
REALM = "diemcau.test"


def free_turn_port(address: str = ADDRESS) -> int:
    """A port free for both UDP and TCP on `address`, since coturn listens on both."""
    while True:
        with socket.socket() as tcp:
            tcp.bind((address, 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((address, port))
                except OSError:
                    continue
                return port


def closed_port(address: str = ADDRESS) -> int:
    """A port on which nothing listens (a TURN server that does not answer)."""
    return free_turn_port(address)


def make_certificate(directory: Path, address: str = ADDRESS) -> tuple[Path, Path]:
    """A self-signed certificate for `address` (as an IP SAN) and its key: the certificate is
    its own CA, so a client trusts it through SSL_CERT_FILE."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "turn-cert.pem", directory / "turn-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Coturn:
    secret: str
    port: int  # UDP and TCP
    tls_port: int
    cert: Path  # also the CA a TLS client must trust
    process: subprocess.Popen[bytes]
    log_path: Path

    def url(self, transport: str) -> str:
        return f"turn:{ADDRESS}:{self.port}?transport={transport}"

    @property
    def tls_url(self) -> str:
        return f"turns:{ADDRESS}:{self.tls_port}?transport=tcp"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


def start_coturn(directory: Path, secret: str, base: Path | None = None) -> Coturn:
    """coturn with `secret`; from the configuration file `base` (deploy/turnserver.conf) when
    given, with what is the test's own (addresses, ports, certificate, files) put in its place."""
    port, tls_port = free_turn_port(), free_turn_port()
    cert, key = make_certificate(directory)
    log_path = directory / "turnserver.log"
    ours = {
        "listening-ip": ADDRESS,
        "relay-ip": ADDRESS,
        "listening-port": str(port),
        "tls-listening-port": str(tls_port),
        # The RFC 5780 alternate ports would be port+1: not ours to take.
        "alt-listening-port": "0",
        "alt-tls-listening-port": "0",
        "no-dtls": None,
        "cert": str(cert),
        "pkey": str(key),
        "use-auth-secret": None,
        "static-auth-secret": secret,
        "fingerprint": None,
        "no-cli": None,
        "userdb": str(directory / "turndb"),
        "pidfile": str(directory / "turnserver.pid"),
        "log-file": str(log_path),
        "simple-log": None,
        "no-stdout-log": None,
    }
    kept: list[str] = []
    if base is None:
        kept = [f"realm={REALM}", "no-multicast-peers"]
    else:
        for line in base.read_text().splitlines():
            setting = line.strip()
            key_name = setting.split("=", 1)[0]
            if setting and not setting.startswith("#") and key_name not in ours:
                kept.append(setting)
    kept = [line for line in kept if line != "syslog"]
    settings = [name if value is None else f"{name}={value}" for name, value in ours.items()]
    config = directory / "turnserver.conf"
    config.write_text("\n".join([*kept, *settings, ""]))
    process = subprocess.Popen(
        ["turnserver", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    running = Coturn(secret, port, tls_port, cert, process, log_path)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"turnserver exited: {running.log()}")
        try:
            for listening in (port, tls_port):
                socket.create_connection((ADDRESS, listening), timeout=0.5).close()
            return running
        except OSError:
            time.sleep(0.05)
    running.stop()
    raise RuntimeError(f"turnserver did not listen within 15 s: {running.log()}")
