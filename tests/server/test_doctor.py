"""`diemcau doctor`: each check on its own, then the command against a real `diemcau serve` and
a real coturn inside the test namespace."""

from __future__ import annotations

import http.server
import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from diemcau.server.config import Config
from diemcau.server.doctor import (
    Finding,
    check_public_url,
    check_udp_port,
    public_ip_findings,
    udp_port_owners,
)
from tests.conftest import Server, free_port, start_server, stop_server
from tests.coturn import ADDRESS, Coturn, closed_port, free_turn_port, start_coturn

SECRET = "coturn-static-auth-secret-for-doctor"
DOCTOR = [sys.executable, "-m", "diemcau.server.cli", "doctor"]


@pytest.mark.parametrize(
    ("public_ips", "local", "expected"),
    [
        ((), {"10.77.0.1": "v0"}, [(True, "no --public-ip")]),
        # 1:1 NAT: the machine holds its private address, halls reach the public one.
        (("203.0.113.10",), {"10.0.0.2": "eth0"}, [(True, "203.0.113.10 is not on this machine")]),
        (
            ("203.0.113.10", "10.0.0.2"),
            {"10.0.0.2": "eth0", "::1": "lo"},
            [(True, "203.0.113.10"), (False, "10.0.0.2 is an address of this machine (eth0)")],
        ),
        (("2001:db8::10",), {"2001:db8::10": "ens3"}, [(False, "a VPS without NAT")]),
    ],
)
def test_public_ips_that_this_machine_holds_are_a_problem(
    public_ips: tuple[str, ...], local: dict[str, str], expected: list[tuple[bool, str]]
) -> None:
    findings = public_ip_findings(public_ips, local)
    assert [(f.ok, text in f.text) for f, (_, text) in zip(findings, expected, strict=True)] == [
        (ok, True) for ok, _ in expected
    ]


def test_finding_lines_are_ok_or_problem() -> None:
    assert Finding(True, "fine").line() == "ok: fine"
    assert Finding(False, "broken: fix it").line() == "PROBLEM: broken: fix it"


def test_udp_port_free_taken_or_random() -> None:
    port = free_turn_port("127.0.0.1")
    assert check_udp_port(port, ["127.0.0.1"]) == Finding(
        True, f"UDP port {port} is free: diemcau serve will bind it"
    )
    zero = check_udp_port(0, ["127.0.0.1"])
    assert not zero.ok and "no firewall rule can follow" in zero.text
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        taken = holder.getsockname()[1]
        owners = udp_port_owners(taken)
        assert list(owners) == [os.getpid()] and "pytest" in owners[os.getpid()]
        finding = check_udp_port(taken, ["127.0.0.1"])
    # This test's own process holds it, and it is not diemcau: say who.
    assert not finding.ok
    assert f"taken on 127.0.0.1 by pid {os.getpid()}: " in finding.text
    assert "pytest" in finding.text and "another --udp-port" in finding.text


def test_public_url_that_does_not_answer_or_is_not_diemcau() -> None:
    closed = Config(public_url=f"http://127.0.0.1:{free_port()}")
    finding = check_public_url(closed, 2)
    assert not finding.ok and "does not answer" in finding.text

    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_error(404)

        def log_message(self, *args: object) -> None:
            pass

    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{other.server_address[1]}"
        finding = check_public_url(Config(public_url=url), 2)
    finally:
        other.shutdown()
        other.server_close()
    assert not finding.ok and "answers 404" in finding.text


def test_public_url_of_a_server_that_cannot_write_its_database() -> None:
    class Failing(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            reason = "the database cannot be written: database or disk is full"
            body = json.dumps({"status": "failing", "reason": reason}).encode()
            self.send_response(503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{other.server_address[1]}"
        finding = check_public_url(Config(public_url=url), 2)
    finally:
        other.shutdown()
        other.server_close()
    assert not finding.ok
    assert finding.text == (
        f"{url}/healthz answers, but the database cannot be written: database or disk is full"
        " — free space on the data directory's disk, or end what holds its database's lock"
    )


# -- the command, against a real serve and a real coturn --------------------------------------


@pytest.fixture(scope="module")
def coturn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coturn]:
    running = start_coturn(tmp_path_factory.mktemp("coturn"), SECRET)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("doctor") / "data")
    yield running
    stop_server(running)


@pytest.fixture(scope="module")
def media_port(serving: Server) -> int:
    """The one UDP port the running serve bound (it says so in its log)."""
    bound = re.search(r"media: UDP port (\d+)", serving.log())
    assert bound is not None, serving.log()
    return int(bound[1])


def doctor(server: Server, coturn: Coturn, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DOCTOR, "--timeout", "2", "--public-url", server.base_url, *flags],
        capture_output=True,
        text=True,
        # The test CA, so that turns: verifies as a real certificate would.
        env={**os.environ, "SSL_CERT_FILE": str(coturn.cert), "DIEMCAU_TURN_SECRET": ""},
        timeout=60,
    )


@pytest.mark.netns
def test_doctor_passes_with_a_running_diemcau_and_coturn(
    serving: Server, coturn: Coturn, media_port: int
) -> None:
    turns = [coturn.url("udp"), coturn.url("tcp"), coturn.tls_url]
    flags = [f"--turn={url}" for url in turns]
    checked = doctor(
        serving, coturn, "--udp-port", str(media_port), *flags, "--turn-secret", SECRET
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    lines = checked.stdout.splitlines()
    assert lines[0] == f"ok: {serving.base_url}/healthz answers"
    assert lines[1].startswith(f"ok: UDP port {media_port} is bound by diemcau (pid ")
    for line, url, over in zip(
        lines[2:5], turns, ["over UDP", "over TCP", "over TCP with TLS"], strict=True
    ):
        assert line.startswith(f"ok: {url} grants an allocation {over} (relay {ADDRESS}:")
    assert lines[5].startswith("ok: no --public-ip")
    assert len(lines) == 6


@pytest.mark.netns
def test_doctor_says_what_is_wrong(serving: Server, coturn: Coturn, media_port: int) -> None:
    silent = f"turn:{ADDRESS}:{closed_port()}?transport=udp"
    checked = doctor(
        serving,
        coturn,
        "--udp-port",
        str(media_port),
        f"--turn={coturn.url('tcp')}",
        f"--turn={silent}",
        "--turn-secret",
        "not-" + SECRET,
        "--public-ip",
        ADDRESS,
        "--public-ip",
        "203.0.113.10",
    )
    assert checked.returncode == 1
    lines = checked.stdout.splitlines()
    assert lines[0].startswith("ok: ")
    assert lines[1].startswith("ok: ")
    assert lines[2].startswith(f"PROBLEM: {coturn.url('tcp')} refuses the credentials (401 ")
    assert "--turn-secret must be coturn's static-auth-secret" in lines[2]
    assert lines[3] == (
        f"PROBLEM: {silent} does not answer over UDP within 2 s: is coturn running there, "
        f"and is port {silent.split(':')[2].split('?')[0]}/udp open in every firewall on the way?"
    )
    assert lines[4].startswith(f"PROBLEM: --public-ip {ADDRESS} is an address of this machine (")
    assert lines[5] == "ok: --public-ip 203.0.113.10 is not on this machine, as 1:1 NAT has it"
    assert len(lines) == 6


@pytest.mark.netns  # the UDP check binds on every interface address: the namespace's only
def test_doctor_without_a_server_to_answer() -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    checked = subprocess.run(
        [*DOCTOR, "--public-url", nowhere, "--udp-port", str(free_turn_port("127.0.0.1"))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 1
    assert checked.stdout.splitlines()[0].startswith(f"PROBLEM: {nowhere}/healthz does not answer")
    assert "ok: no --turn" in checked.stdout


def test_doctor_refuses_a_bad_turn_url() -> None:
    checked = subprocess.run(
        [*DOCTOR, "--turn", "turn:x:0", "--turn-secret", "s"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 1
    assert checked.stderr.strip() == (
        "diemcau: --turn 'turn:x:0': port '0' is not a number from 1 to 65535"
    )
