"""The command line: what the network flags give, and a bad --turn URL stops serve plainly."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from diemcau.server.cli import _add_serve_options, _config, main
from diemcau.server.config import Config


def config_from(*argv: str) -> Config:
    parser = argparse.ArgumentParser()
    _add_serve_options(parser)
    return _config(parser.parse_args(list(argv)))


def test_turn_urls_are_kept_in_their_canonical_form() -> None:
    config = config_from(
        "--turn=TURN:Turn.Example.VN",
        "--turn=turns:turn.example.vn:443",
        "--turn=turn:[2001:db8::7]:3478?transport=tcp",
        "--turn-secret=north",
    )
    assert config.turn_urls == (
        "turn:turn.example.vn:3478?transport=udp",
        "turns:turn.example.vn:443?transport=tcp",
        "turn:[2001:db8::7]:3478?transport=tcp",
    )
    assert config.turn_secret == "north"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("turn:turn.example.vn:0", "--turn 'turn:turn.example.vn:0': port '0' is not a number"),
        ("https://turn.example.vn", "--turn 'https://turn.example.vn': must start with turn:"),
        ("stun:stun.example.vn", "--turn 'stun:stun.example.vn': a STUN URL"),
        ("turns:t.example.vn?transport=udp", "over TLS, so its transport is tcp"),
    ],
)
def test_a_bad_turn_url_stops_serve_with_a_plain_message(
    url: str, message: str, tmp_path: Path
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--data", str(tmp_path / "data"), "--turn", url, "--turn-secret", "north"])
    assert str(stopped.value.code).startswith("diemcau: ")
    assert message in str(stopped.value.code)
    assert not (tmp_path / "data").exists()  # stopped before anything was made


@pytest.mark.parametrize("command", ["serve", "demo"])
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.77.0.1"])
def test_a_non_loopback_host_needs_a_public_url(command: str, host: str, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as stopped:
        main([command, "--data", str(tmp_path / "data"), "--host", host])
    message = str(stopped.value.code)
    assert message.startswith(f"diemcau: --host {host} is not a loopback address")
    assert "--public-url" in message
    assert not (tmp_path / "data").exists()  # stopped before anything was made


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--header-timeout", "0"], "--header-timeout must be between"),
        (["--body-timeout", "nan"], "--body-timeout must be between"),
        (["--idle-timeout", "0"], "--idle-timeout must be between"),
        (["--max-connections-per-address", "0"], "--max-connections-per-address must be"),
        (["--trusted-proxy", "proxy.example"], "--trusted-proxy 'proxy.example' is not an IP"),
    ],
)
def test_bad_limits_stop_serve_plainly(argv: list[str], message: str, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--data", str(tmp_path / "data"), *argv])
    assert message in str(stopped.value.code)


def test_limits_from_the_flags() -> None:
    config = config_from(
        "--header-timeout=2.5",
        "--body-timeout=30",
        "--idle-timeout=3",
        "--max-connections-per-address=8",
        "--trusted-proxy=127.0.0.1",
        "--trusted-proxy=::1",
    )
    assert (config.header_timeout, config.body_timeout, config.idle_timeout) == (2.5, 30, 3)
    assert config.max_connections_per_address == 8
    assert config.trusted_proxies == ("127.0.0.1", "::1")


def test_loopback_is_the_trusted_proxy_unless_others_are_named() -> None:
    # A reverse proxy on the same machine connects from loopback: without the flag its
    # X-Forwarded-For is believed, or every hall behind it would count as one client.
    assert config_from().trusted_proxies == ("127.0.0.1", "::1")
    assert config_from("--trusted-proxy=192.0.2.9").trusted_proxies == ("192.0.2.9",)


def test_webhooks_from_the_flags_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DIEMCAU_WEBHOOK_SECRET", raising=False)
    config = config_from(
        "--webhook=https://chat.example.vn/in",
        "--webhook=http://127.0.0.1:9000/in?key=k",
        "--webhook=https://chat.example.vn/in",  # once is enough
        "--webhook-secret=flag-secret",
    )
    assert config.webhook_urls == ("https://chat.example.vn/in", "http://127.0.0.1:9000/in?key=k")
    assert config.webhook_secret == "flag-secret"
    assert "flag-secret" not in repr(config)
    monkeypatch.setenv("DIEMCAU_WEBHOOK_SECRET", "env-secret")
    assert config_from("--webhook=https://chat.example.vn/in").webhook_secret == "env-secret"
    assert config_from().webhook_urls == ()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--webhook=https://chat.example.vn/in"], "--webhook needs --webhook-secret or"),
        (["--webhook=ftp://chat.example.vn/in", "--webhook-secret=s"], "need an http:// or"),
        (["--webhook=https:///in", "--webhook-secret=s"], "need an http:// or"),
        (["--webhook=http://h.example.vn:x/in", "--webhook-secret=s"], "--webhook"),
    ],
)
def test_bad_webhooks_stop_serve_plainly(
    argv: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DIEMCAU_WEBHOOK_SECRET", raising=False)
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--data", str(tmp_path / "data"), *argv])
    assert message in str(stopped.value.code)
    assert "=s" not in str(stopped.value.code)


def test_the_metrics_token_from_the_flag_is_long_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DIEMCAU_METRICS_TOKEN", raising=False)
    assert config_from().metrics_token is None
    config = config_from("--metrics-token=scraper-token-0123456789")
    assert config.metrics_token == "scraper-token-0123456789"
    assert "scraper-token" not in repr(config)
    with pytest.raises(SystemExit, match="--metrics-token must be at least 16"):
        config_from("--metrics-token=short")
