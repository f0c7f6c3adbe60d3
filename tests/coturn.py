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


def start_coturn(directory: Path, secret: str) -> Coturn:
    port, tls_port = free_turn_port(), free_turn_port()
    cert, key = make_certificate(directory)
    log_path = directory / "turnserver.log"
    config = directory / "turnserver.conf"
    config.write_text(
        "\n".join(
            [
                f"listening-ip={ADDRESS}",
                f"relay-ip={ADDRESS}",
                f"listening-port={port}",
                f"tls-listening-port={tls_port}",
                # The RFC 5780 alternate ports would be port+1: not ours to take.
                "alt-listening-port=0",
                "alt-tls-listening-port=0",
                "no-dtls",
                f"cert={cert}",
                f"pkey={key}",
                "use-auth-secret",
                f"static-auth-secret={secret}",
                f"realm={REALM}",
                "fingerprint",
                "no-cli",
                "no-multicast-peers",
                f"userdb={directory / 'turndb'}",
                f"pidfile={directory / 'turnserver.pid'}",
                f"log-file={log_path}",
                "simple-log",
                "no-stdout-log",
                "",
            ]
        )
    )
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
