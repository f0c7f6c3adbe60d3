"""Settings from flags, DIEMCAU_* variables and a --config TOML file: the precedence table,
secrets from files and systemd credentials, and a bad file stopping serve plainly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from diemcau.server.cli import _config, main, parse_args
from tests.conftest import start_server, stop_server

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The settings this file tests, as the machine's environment may have them.
    for name in list(os.environ):
        if name.startswith("DIEMCAU_") or name == "CREDENTIALS_DIRECTORY":
            monkeypatch.delenv(name)


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "diemcau.toml"
    path.write_text(text, encoding="utf-8")
    return path


def stopped_serving(tmp_path: Path, settings: Path) -> str:
    """What serve on `settings` says as it stops; it must have made nothing."""
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--config", str(settings), "--data", str(tmp_path / "data")])
    assert not (tmp_path / "data").exists()  # stopped before anything was made
    return str(stopped.value.code)


# (flag, environment, file) -> the value serve takes; None: that layer does not give it.
PRECEDENCE = [
    (None, None, None, 8080),
    (None, None, 9001, 9001),
    (None, 9002, None, 9002),
    (None, 9002, 9001, 9002),
    (9003, None, 9001, 9003),
    (9003, 9002, None, 9003),
    (9003, 9002, 9001, 9003),
    # The default given as a flag is still a flag: it wins.
    (8080, 9002, 9001, 8080),
]


@pytest.mark.parametrize(("flag", "env", "file", "expected"), PRECEDENCE)
def test_flags_over_environment_over_file(
    flag: int | None,
    env: int | None,
    file: int | None,
    expected: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    argv = ["serve"]
    if file is not None:
        argv += ["--config", str(toml(tmp_path, f"port = {file}\n"))]
    if env is not None:
        monkeypatch.setenv("DIEMCAU_PORT", str(env))
    if flag is not None:
        argv += ["--port", str(flag)]
    assert parse_args(argv).port == expected


# A repeatable flag: the layer that gives it gives the whole list.
LISTS = [
    (None, None, None, []),
    (None, None, ["192.0.2.1", "192.0.2.2"], ["192.0.2.1", "192.0.2.2"]),
    (None, "198.51.100.1, 198.51.100.2", ["192.0.2.1"], ["198.51.100.1", "198.51.100.2"]),
    (["203.0.113.9"], "198.51.100.1", ["192.0.2.1"], ["203.0.113.9"]),
]


@pytest.mark.parametrize(("flags", "env", "file", "expected"), LISTS)
def test_a_repeatable_flag_comes_whole_from_one_layer(
    flags: list[str] | None,
    env: str | None,
    file: list[str] | None,
    expected: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    argv = ["serve"]
    if file is not None:
        quoted = ", ".join(f'"{address}"' for address in file)
        argv += ["--config", str(toml(tmp_path, f"public_ip = [{quoted}]\n"))]
    if env is not None:
        monkeypatch.setenv("DIEMCAU_PUBLIC_IP", env)
    for address in flags or []:
        argv += ["--public-ip", address]
    assert parse_args(argv).public_ip == expected


def test_every_kind_of_setting_from_the_file(tmp_path: Path) -> None:
    path = toml(
        tmp_path,
        """
        host = "127.0.0.1"
        data = "/var/lib/diemcau"
        public_url = "https://hoinghi.example.vn/"
        log_format = "json"
        connect_timeout = 15          # a float flag takes a whole number too
        present_coverage = 0.75
        turn = ["turns:turn.example.vn:443?transport=tcp"]
        turn_secret = "north-secret"
        timezone = "Asia/Ho_Chi_Minh"
        """,
    )
    args = parse_args(["serve", "--config", str(path)])
    assert args.log_format == "json"
    config = _config(args)
    assert config.data_dir == Path("/var/lib/diemcau")
    assert config.public_url == "https://hoinghi.example.vn"
    assert config.connect_timeout == 15.0
    assert config.rules.present_coverage == 0.75
    assert config.turn_urls == ("turns:turn.example.vn:443?transport=tcp",)
    assert config.turn_secret == "north-secret"


def test_the_letterhead_from_the_file_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = toml(
        tmp_path,
        """
        committee_name = "Huyện ủy Nga Sơn"
        committee_parent = "Đảng bộ tỉnh Thanh Hóa"
        report_place = "Nga Sơn"
        """,
    )
    monkeypatch.setenv("DIEMCAU_REPORT_SIGNER_NAME", "Nguyễn Văn Bình")
    letterhead = _config(parse_args(["serve", "--config", str(path)])).letterhead
    assert (letterhead.committee, letterhead.parent, letterhead.place) == (
        "Huyện ủy Nga Sơn",
        "Đảng bộ tỉnh Thanh Hóa",
        "Nga Sơn",
    )
    assert letterhead.signer_name == "Nguyễn Văn Bình" and letterhead.number == ""
    with pytest.raises(SystemExit, match="--report-place must not contain control characters"):
        _config(parse_args(["serve", "--report-place", "Nga\x07Sơn"]))


def test_when_check_in_opens_from_the_file_the_environment_and_the_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _config(parse_args(["serve"])).checkin_opening.opens_before == 3600.0
    path = toml(tmp_path, "checkin_opens_before = 1800\n")
    assert (
        _config(parse_args(["serve", "--config", str(path)])).checkin_opening.opens_before == 1800
    )
    monkeypatch.setenv("DIEMCAU_CHECKIN_OPENS_BEFORE", "2700")
    config = _config(parse_args(["serve", "--config", str(path)]))
    assert config.checkin_opening.opens_before == 2700
    flagged = parse_args(["serve", "--config", str(path), "--checkin-opens-before", "0"])
    assert _config(flagged).checkin_opening.opens_before == 0
    for wrong in ("-1", "nan", "604801"):
        with pytest.raises(SystemExit, match="--checkin-opens-before must be between 0 and 604800"):
            _config(parse_args(["serve", "--checkin-opens-before", wrong]))


def test_the_environment_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIEMCAU_CONFIG", str(toml(tmp_path, "port = 9005\n")))
    assert parse_args(["serve"]).port == 9005


def test_demo_keeps_its_own_data_default_under_the_layers(tmp_path: Path) -> None:
    assert parse_args(["demo"]).data == Path("demo-data")
    path = toml(tmp_path, 'data = "elsewhere"\n')
    assert parse_args(["demo", "--config", str(path)]).data == Path("elsewhere")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("udp_prot = 8189\n", "unknown setting 'udp_prot'"),
        ("udp-port = 8189\n", "unknown setting 'udp-port' (with _, not -: udp_port)"),
        ('port = "eighty"\n', "port: 'eighty' is not a valid whole number"),
        ("port = 80.5\n", "port must be a whole number, not 80.5"),
        ("port = true\n", "port must be a whole number, not True"),
        ("public_url = 443\n", "public_url must be a string, not 443"),
        ('log_format = "xml"\n', "log_format: 'xml' is not one of text, json"),
        ("[serve]\nport = 1\n", "serve is a table"),
        ("port = \n", "is not valid TOML"),
    ],
)
def test_a_bad_file_stops_serve_naming_the_key(text: str, message: str, tmp_path: Path) -> None:
    path = toml(tmp_path, text)
    said = stopped_serving(tmp_path, path)
    assert said.startswith(f"diemcau: {path}")
    assert message in said


def test_a_missing_file_stops_serve(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--config", str(tmp_path / "nowhere.toml")])
    assert "cannot read the settings file" in str(stopped.value.code)


def secret_file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def test_secrets_from_files_and_systemd_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "DIEMCAU_TURN_SECRET_FILE", str(secret_file(tmp_path, "turn", "from-a-file"))
    )
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    secret_file(credentials, "redis_url", "redis://:pa55word@127.0.0.1:6379/0")
    secret_file(credentials, "admin_token", "admin-token-from-a-credential-0123")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    args = parse_args(["serve"])
    assert args.turn_secret == "from-a-file"
    assert args.redis_url == "redis://:pa55word@127.0.0.1:6379/0"
    assert args.admin_token == "admin-token-from-a-credential-0123"
    # A flag still wins over every file.
    assert parse_args(["serve", "--turn-secret", "flag"]).turn_secret == "flag"


def test_a_secret_file_named_in_the_settings_file(tmp_path: Path) -> None:
    turn = secret_file(tmp_path, "turn", "kept-apart")
    path = toml(tmp_path, f'turn_secret_file = "{turn}"\nadmin_token_file = "{turn}"\n')
    args = parse_args(["serve", "--config", str(path)])
    assert args.turn_secret == "kept-apart"
    assert args.admin_token == "kept-apart"


@pytest.mark.parametrize(
    ("env", "file", "message"),
    [
        ({"DIEMCAU_UDP_PORT": "70000"}, "", "(from DIEMCAU_UDP_PORT)"),
        ({}, "udp_port = 70000\n", "(from {path}: udp_port)"),
        ({"DIEMCAU_UDP_PORT": "x"}, "", "DIEMCAU_UDP_PORT: 'x' is not a valid whole number"),
        # --turn-ttl's own origin, not --turn's (a flag whose name begins another's).
        (
            {"DIEMCAU_TURN_SECRET": "s"},
            'turn = ["turn:t.example.vn"]\nturn_ttl = 5\n',
            "--turn-ttl must be between 60 and 604800 seconds (from {path}: turn_ttl)",
        ),
        ({"DIEMCAU_LOG_LEVEL": "loud"}, "", "DIEMCAU_LOG_LEVEL: 'loud' is not one of"),
        (
            {"DIEMCAU_TURN_SECRET": "a", "DIEMCAU_TURN_SECRET_FILE": "{secret}"},
            "",
            "give DIEMCAU_TURN_SECRET or DIEMCAU_TURN_SECRET_FILE, not both",
        ),
        ({}, 'turn_secret = "a"\nturn_secret_file = "{secret}"\n', "not both"),
        ({"DIEMCAU_TURN_SECRET_FILE": "{missing}"}, "", "cannot read"),
        ({"DIEMCAU_ADMIN_TOKEN_FILE": "{empty}"}, "", "is empty"),
        ({}, "turn_secret = 5\n", "turn_secret must be a string"),
    ],
)
def test_a_bad_value_or_secret_stops_serve_saying_where(
    env: dict[str, str],
    file: str,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    paths = {
        "secret": secret_file(tmp_path, "secret", "b"),
        "missing": tmp_path / "missing",
        "empty": secret_file(tmp_path, "empty", ""),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(**paths))
    path = toml(tmp_path, file.format(**paths))
    said = stopped_serving(tmp_path, path)
    assert said.startswith("diemcau: ")
    assert message.format(path=path) in said


def test_the_deploy_example_is_valid_and_says_what_the_unit_said() -> None:
    args = parse_args(["serve", "--config", str(REPO / "deploy" / "diemcau.toml")])
    config = _config(args)
    assert config.host == "127.0.0.1"
    assert config.port == 8080
    assert config.data_dir == Path("/var/lib/diemcau")
    assert config.public_url == "https://hoinghi.example.vn"
    assert config.udp_port == 8189
    assert config.trusted_proxies == ("127.0.0.1",)
    unit = (REPO / "deploy" / "diemcau.service").read_text()
    assert "--config /etc/diemcau/diemcau.toml" in unit


def test_serve_runs_on_a_settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A real serve whose limits and log format come from the file.
    path = toml(
        tmp_path,
        'log_format = "json"\nmax_connections_per_address = 3\n'
        # Loopback capped as a client: the trusted proxy is elsewhere.
        'trusted_proxy = ["192.0.2.77"]\n',
    )
    monkeypatch.setenv("DIEMCAU_IDLE_TIMEOUT", "2")
    server = start_server(tmp_path / "data", options=("--config", str(path)))
    try:
        clients = [httpx.Client(base_url=server.base_url) for _ in range(3)]
        try:
            # Three open keep-alive connections; a fourth is over the file's cap of 3.
            for client in clients:
                assert client.get("/healthz").status_code == 200
            with pytest.raises(httpx.HTTPError):
                httpx.get(f"{server.base_url}/healthz", timeout=2).raise_for_status()
        finally:
            for client in clients:
                client.close()
    finally:
        stop_server(server)
    lines = server.log().splitlines()
    assert lines and all(line.startswith("{") for line in lines)


def test_redis_url_without_the_redis_extra_stops_serve_plainly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from diemcau.server.cli import main

    # As if `pip install .` had not brought the extra: importing redis fails.
    monkeypatch.setitem(sys.modules, "redis", None)
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--data", str(tmp_path / "data"), "--redis-url", "redis://127.0.0.1/0"])
    assert "pip install 'diemcau[redis]'" in str(stopped.value.code)
    assert not (tmp_path / "data").exists()


def test_serve_takes_its_turn_secret_from_a_systemd_credential(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As under LoadCredential=turn_secret:...: --turn needs the secret, and finds it there.
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    secret_file(credentials, "turn_secret", "coturn-static-auth-secret-42")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    server = start_server(tmp_path / "data", options=("--turn", "turn:turn.example.vn:3478"))
    stop_server(server)
    assert "coturn-static-auth-secret-42" not in server.log()
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--data", str(tmp_path / "other"), "--turn", "turn:turn.example.vn"])
    assert "--turn needs --turn-secret" in str(stopped.value.code)


def test_a_weak_admin_token_names_where_it_came_from(tmp_path: Path) -> None:
    env = {**os.environ, "DIEMCAU_ADMIN_TOKEN_FILE": str(secret_file(tmp_path, "token", "short"))}
    serving = subprocess.run(
        [sys.executable, "-m", "diemcau.server.cli", "serve", "--data", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert serving.returncode == 2
    assert "the admin token from DIEMCAU_ADMIN_TOKEN_FILE must be" in serving.stderr
