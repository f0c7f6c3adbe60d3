"""The `diemcau` command: serve, demo, doctor, report, backup, restore; sites, session.

Over 450 lines because it is the one table of every subcommand and its options; each command's
work lives in its own module (settings, officecli, reportcli, backup, verify), not here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import ipaddress
import os
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..signaling.turn import parse_turn_url
from . import logformat, settings, verifycli
from .checkinrules import OPENS_BEFORE_MAX, CheckinOpening
from .clientcap import normalise_proxy
from .config import Config
from .dirlock import DataDirInUse, DataDirLock
from .letterhead import add_letterhead_options, letterhead_from_args
from .officecli import add_office_commands
from .recordings import add_recording_options, recording_from_args
from .ruleflags import add_rule_options, rules_from_args
from .sessionkind import KINDS
from .settings import SettingsError, add_config_option, explain


def _add_serve_options(parser: argparse.ArgumentParser, default_port: int = 8080) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=default_port, help=f"port ({default_port})")
    parser.add_argument(
        "--data", type=Path, default=Path("data"), help="data directory: database, token (./data)"
    )
    parser.add_argument(
        "--public-url",
        default=None,
        help="absolute base URL for the links handed out, e.g. https://hoinghi.example.vn",
    )
    add_config_option(parser)
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    parser.add_argument(
        "--log-format",
        default="text",
        choices=["text", "json"],
        help="lines on standard error as text, or one JSON object each (text)",
    )
    parser.add_argument(
        "--redis-url",
        default=None,
        help=(
            "Redis to relay control messages between nodes; a session stays on one node"
            " (default: in-process, one node)"
        ),
    )
    _add_network_options(parser)
    _add_limit_options(parser)
    _add_monitoring_options(parser)
    add_recording_options(parser)
    add_letterhead_options(parser)
    add_rule_options(parser)
    parser.add_argument(
        "--checkin-opens-before",
        type=float,
        default=CheckinOpening().opens_before,
        metavar="SECONDS",
        help="how long before a session's scheduled start its halls' check-in opens "
        "(3600; it stays open while live; docs/attendance.md)",
    )


def _add_network_options(parser: argparse.ArgumentParser) -> None:
    network = parser.add_argument_group("reaching the halls (docs/network.md)")
    network.add_argument(
        "--udp-port",
        type=int,
        default=8189,
        help="the one UDP port for all media (8189; 0 picks a free one)",
    )
    network.add_argument(
        "--public-ip",
        action="append",
        default=[],
        metavar="ADDR",
        help="an address at which halls reach this server behind 1:1 NAT (repeatable)",
    )
    network.add_argument(
        "--turn",
        action="append",
        default=[],
        metavar="URL",
        help="a TURN server for halls whose network blocks UDP, e.g. "
        "turns:turn.example.vn:443?transport=tcp (repeatable)",
    )
    network.add_argument(
        "--turn-secret",
        default=None,
        help="coturn's static-auth-secret (better: the environment variable DIEMCAU_TURN_SECRET)",
    )
    network.add_argument(
        "--turn-ttl",
        type=int,
        default=86400,
        help="lifetime of the TURN credentials handed out, in seconds (86400)",
    )
    network.add_argument(
        "--connect-timeout",
        type=float,
        default=20.0,
        help="seconds a media connection may take to come up before it is dropped (20)",
    )


def _add_limit_options(parser: argparse.ArgumentParser) -> None:
    limits = parser.add_argument_group("limits for clients not yet known (docs/api.md, Limits)")
    limits.add_argument(
        "--header-timeout",
        type=float,
        default=10.0,
        help="seconds a request's headers may take to arrive (10)",
    )
    limits.add_argument(
        "--body-timeout",
        type=float,
        default=60.0,
        help="seconds a request's body may take to arrive after its headers (60)",
    )
    limits.add_argument(
        "--idle-timeout",
        type=int,
        default=5,
        help="seconds an idle keep-alive connection stays open (5)",
    )
    limits.add_argument(
        "--max-connections-per-address",
        type=int,
        default=64,
        metavar="N",
        help="requests and WebSockets open at once from one client address (64)",
    )
    limits.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        metavar="ADDR",
        help="a reverse proxy whose X-Forwarded-For gives the client's address (repeatable; "
        "default: loopback, 127.0.0.1 and ::1, where a proxy on this machine connects from)",
    )


def _add_monitoring_options(parser: argparse.ArgumentParser) -> None:
    webhooks = parser.add_argument_group("webhooks and metrics (docs/webhooks.md, docs/api.md)")
    webhooks.add_argument(
        "--webhook",
        action="append",
        default=[],
        metavar="URL",
        help="POST each event, signed, to this URL, at least once (repeatable)",
    )
    webhooks.add_argument(
        "--webhook-secret",
        default=None,
        help="the key of the webhooks' HMAC-SHA256 signature "
        "(better: the environment variable DIEMCAU_WEBHOOK_SECRET)",
    )
    webhooks.add_argument(
        "--metrics-token",
        default=None,
        help="a bearer token for GET /metrics besides the admin token, for a Prometheus scraper "
        "(better: the environment variable DIEMCAU_METRICS_TOKEN)",
    )


def monitoring_from_args(args: argparse.Namespace, config: Config) -> Config:
    """The webhook and metrics settings the flags give; ValueError says which flag is wrong."""
    from .webhooks import check_url

    urls = tuple(dict.fromkeys(check_url(url) for url in args.webhook))
    secret = args.webhook_secret or os.environ.get("DIEMCAU_WEBHOOK_SECRET") or None
    if urls and not secret:
        raise ValueError("--webhook needs --webhook-secret or DIEMCAU_WEBHOOK_SECRET to sign with")
    token = args.metrics_token or os.environ.get("DIEMCAU_METRICS_TOKEN") or None
    if token is not None and len(token) < 16:
        raise ValueError("--metrics-token must be at least 16 characters")
    return dataclasses.replace(
        config, webhook_urls=urls, webhook_secret=secret, metrics_token=token
    )


LOOPBACK_PROXIES = ("127.0.0.1", "::1")


def limits_from_args(args: argparse.Namespace, config: Config) -> Config:
    """The limits the flags give; ValueError says which flag is wrong."""
    if not 0.1 <= args.header_timeout <= 300:
        raise ValueError("--header-timeout must be between 0.1 and 300 seconds")
    if not 0.1 <= args.body_timeout <= 3600:
        raise ValueError("--body-timeout must be between 0.1 and 3600 seconds")
    if not 1 <= args.idle_timeout <= 300:
        raise ValueError("--idle-timeout must be between 1 and 300 seconds")
    if not 1 <= args.max_connections_per_address <= 100_000:
        raise ValueError("--max-connections-per-address must be between 1 and 100000")
    proxies = []
    # Without the flag, loopback: a reverse proxy on this machine (deploy/) must not make every
    # hall one client, capped as one.
    for address in args.trusted_proxy or LOOPBACK_PROXIES:
        try:
            proxies.append(normalise_proxy(address))
        except ValueError:
            raise ValueError(f"--trusted-proxy {address!r} is not an IP address") from None
    return dataclasses.replace(
        config,
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        idle_timeout=args.idle_timeout,
        max_connections_per_address=args.max_connections_per_address,
        trusted_proxies=tuple(proxies),
    )


def network_from_args(args: argparse.Namespace, config: Config) -> Config:
    """The network settings the flags give; ValueError says which flag is wrong."""
    if not 0 <= args.udp_port <= 65535:
        raise ValueError("--udp-port must be between 0 and 65535")
    public_ips = []
    for address in args.public_ip:
        try:
            public_ips.append(str(ipaddress.ip_address(address)))
        except ValueError:
            raise ValueError(f"--public-ip {address!r} is not an IP address") from None
    turn_urls = []
    for url in args.turn:
        try:
            turn_urls.append(str(parse_turn_url(url)))
        except ValueError as exc:
            raise ValueError(f"--turn {url!r}: {exc}") from None
    secret = args.turn_secret or os.environ.get("DIEMCAU_TURN_SECRET") or None
    if args.turn and not secret:
        raise ValueError("--turn needs --turn-secret or DIEMCAU_TURN_SECRET (coturn's secret)")
    if not 60 <= args.turn_ttl <= 7 * 86400:
        raise ValueError("--turn-ttl must be between 60 and 604800 seconds")
    if not 1 <= args.connect_timeout <= 300:
        raise ValueError("--connect-timeout must be between 1 and 300 seconds")
    return dataclasses.replace(
        config,
        udp_port=args.udp_port,
        public_ips=tuple(public_ips),
        turn_urls=tuple(turn_urls),
        turn_secret=secret,
        turn_ttl=args.turn_ttl,
        connect_timeout=args.connect_timeout,
    )


def checkin_from_args(args: argparse.Namespace) -> CheckinOpening:
    """When check-in opens, as the flag gives it; ValueError says what is wrong."""
    try:
        return CheckinOpening(args.checkin_opens_before)
    except ValueError:
        raise ValueError(
            f"--checkin-opens-before must be between 0 and {OPENS_BEFORE_MAX:.0f} seconds"
        ) from None


def _config(args: argparse.Namespace) -> Config:
    public_url = args.public_url.rstrip("/") if args.public_url else None
    try:
        ZoneInfo(args.timezone)
        rules = rules_from_args(args)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        problem = f"unknown time zone {args.timezone!r}" if "zone" in repr(exc).lower() else exc
        raise SystemExit(f"diemcau: {explain(str(problem), args)}") from None
    if args.redis_url:
        _require_redis()
    config = Config(
        data_dir=args.data,
        host=args.host,
        port=args.port,
        public_url=public_url,
        rules=rules,
        timezone=args.timezone,
        redis_url=args.redis_url,
    )
    try:
        config = limits_from_args(args, network_from_args(args, config))
        config = recording_from_args(args, monitoring_from_args(args, config))
        return dataclasses.replace(
            config, letterhead=letterhead_from_args(args), checkin_opening=checkin_from_args(args)
        )
    except ValueError as exc:
        raise SystemExit(f"diemcau: {explain(str(exc), args)}") from None


def _require_redis() -> None:
    # An extra since one node needs no Redis (pip install 'diemcau[redis]'): say so plainly.
    try:
        import redis.asyncio  # noqa: F401
    except ImportError:
        raise SystemExit(
            "diemcau: --redis-url needs the Redis client, which is not installed:"
            " pip install 'diemcau[redis]'"
        ) from None


def _listening_config(args: argparse.Namespace) -> Config:
    """_config, for a command that listens: links are built from --public-url or, on
    loopback only, from a Host header naming loopback; anything else stops here, plainly."""
    from .app import allowed_hosts

    config = _config(args)
    try:
        allowed_hosts(config)
    except ValueError as exc:
        raise SystemExit(f"diemcau: {exc}") from None
    return config


def _lock_data_dir(config: Config) -> DataDirLock:
    """The data directory, locked for this process before anything reads or writes it; a plain
    message and no change at all if another server holds it."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        return DataDirLock.acquire(config.data_dir)
    except DataDirInUse as exc:
        raise SystemExit(f"diemcau: {exc}") from None


def serve(args: argparse.Namespace) -> int:
    config = _listening_config(args)  # a bad setting stops here, before logging is set up
    logformat.configure(args.log_level, args.log_format)
    lock = _lock_data_dir(config)
    try:
        return _serve(args, config)
    finally:
        lock.release()


def _serve(args: argparse.Namespace, config: Config) -> int:
    import uvicorn

    from .app import create_app
    from .auth import load_admin_token
    from .listener import uvicorn_config

    try:
        admin_token, generated = load_admin_token(
            config.data_dir, vars(args).get("admin_token"), settings.origin(args, "admin_token")
        )
    except ValueError as exc:
        print(f"diemcau: {exc}", file=sys.stderr)
        return 2
    # Nothing of these ever reaches a log line (server/logformat.py).
    for secret in (admin_token, config.turn_secret, config.webhook_secret, config.metrics_token):
        logformat.hide(secret)
    if generated:
        # Printed once, on the first start; it stays in the data directory (mode 0600).
        print(
            f"Admin token (stored in {config.data_dir / 'admin_token'}): {admin_token}",
            flush=True,
        )
    app = create_app(config, admin_token)
    # Access logs carry paths only; tokens travel in headers and URL fragments.
    server = uvicorn.Server(uvicorn_config(app, config, args.log_level, access_log=True))
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    # As uvicorn.run: a server that never started (its port taken) exits with uvicorn's 3.
    return 0 if server.started else 3


def demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    config = _listening_config(args)  # a bad setting stops here, before logging is set up
    logformat.configure(args.log_level, args.log_format)
    lock = _lock_data_dir(config)
    try:
        return asyncio.run(run_demo(config, vars(args).get("admin_token")))
    finally:
        lock.release()


def doctor(args: argparse.Namespace) -> int:
    from .doctor import run_doctor

    if not 0 < args.timeout <= 60:
        raise SystemExit("diemcau: --timeout must be more than 0 and at most 60 seconds")
    return run_doctor(_config(args), args.timeout)


def report(args: argparse.Namespace) -> int:
    from .reportcli import run_report

    return run_report(args)


def backup_command(args: argparse.Namespace) -> int:
    from .backup import BackupError, backup

    try:
        summary = backup(args.data, args.out)
    except BackupError as exc:
        print(f"diemcau: {exc}", file=sys.stderr)
        return 1
    print(f"backed up {args.data} to {summary}")
    return 0


def restore_command(args: argparse.Namespace) -> int:
    from .backup import BackupError, restore

    try:
        restored = restore(args.data, args.file)
    except BackupError as exc:
        print(f"diemcau: {exc}", file=sys.stderr)
        return 1
    print(f"restored {args.file} into {restored.summary}")
    if restored.kept is not None:
        print(f"the database it replaced is kept as {restored.kept}")
    for aside in restored.secrets_kept:
        print(f"the {aside.name.split('.before-restore-')[0]} it replaced is kept as {aside}")
    return 0


def _add_backup_commands(commands: Any) -> None:
    backup_parser = commands.add_parser(
        "backup",
        help="an online, consistent copy of a data directory's database (serve may be running)",
    )
    backup_parser.add_argument("--data", type=Path, required=True, help="the data directory")
    backup_parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="the copy to write; into a directory, named by the time (diemcau-<UTC>.sqlite3)",
    )
    backup_parser.set_defaults(run=backup_command)
    restore_parser = commands.add_parser(
        "restore",
        help="put a backup back into a data directory no server is running on",
    )
    restore_parser.add_argument("--data", type=Path, required=True, help="the data directory")
    restore_parser.add_argument("file", type=Path, help="a copy made by diemcau backup")
    restore_parser.set_defaults(run=restore_command)


def _add_report_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session_id", nargs="?", help="a session of the server's --data")
    parser.add_argument("--events", help="join log as JSON Lines ('-' for standard input)")
    parser.add_argument("--sites", help="roster CSV: id,name,kind,expected, in report order")
    parser.add_argument(
        "--rosters", help="the sites' people, a CSV as imported: site,name,code,position,unit"
    )
    parser.add_argument("--session", help="the session to report when the log holds several")
    parser.add_argument("--data", type=Path, help="a server's data directory")
    parser.add_argument("--format", choices=["json", "csv", "xlsx", "pdf"], default="json")
    parser.add_argument("--out", type=Path, help="write here instead of standard output")
    parser.add_argument("--title", help="title of the XLSX sheet and the PDF")
    parser.add_argument("--number", help="the PDF's document number, e.g. 12-BC/HU")
    parser.add_argument("--date", help="the PDF's date, YYYY-MM-DD (default: today)")
    parser.add_argument(
        "--kind", choices=KINDS, help="the kind of conference the PDF names, for --events"
    )
    parser.add_argument(
        "--period",
        action="store_true",
        help="a period's figures instead (with --data): the sessions held --from a day --to a day",
    )
    parser.add_argument("--from", dest="from_day", help="the period's first day, YYYY-MM-DD")
    parser.add_argument("--to", dest="to_day", help="the period's last day, YYYY-MM-DD")
    parser.add_argument(
        "--lang",
        choices=["en", "vi"],
        default="en",
        help="the CSV's language: en (default; English values, UTC, for scripts) or vi "
        "(the official one: Vietnamese values, local times, the people)",
    )
    add_letterhead_options(parser)
    add_rule_options(parser)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, with serve's, demo's and doctor's settings that no flag gives taken
    from DIEMCAU_* variables and then the --config file (server/settings.py)."""
    parser = argparse.ArgumentParser(
        prog="diemcau",
        description="Hybrid conferences from a district hall to its commune halls.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run the service (SQLite, in-process bus)")
    _add_serve_options(serve_parser)
    serve_parser.set_defaults(run=serve)
    demo_parser = commands.add_parser(
        "demo", help="serve with sample sites, a session and a test-pattern broadcast"
    )
    _add_serve_options(demo_parser)
    demo_parser.set_defaults(run=demo, data=Path("demo-data"))
    doctor_parser = commands.add_parser(
        "doctor",
        help="check, with serve's flags, what halls need: the public URL, the UDP port, "
        "the TURN servers, the public IPs",
    )
    _add_serve_options(doctor_parser)
    doctor_parser.add_argument(
        "--timeout", type=float, default=5.0, help="seconds each check may wait for an answer (5)"
    )
    doctor_parser.set_defaults(run=doctor)
    report_parser = commands.add_parser(
        "report", help="the attendance report of a session, from a log file or a server's data"
    )
    _add_report_options(report_parser)
    report_parser.set_defaults(run=report)
    _add_backup_commands(commands)
    add_office_commands(commands)
    verifycli.add_command(commands)
    with_settings = {"serve": serve_parser, "demo": demo_parser, "doctor": doctor_parser}
    try:
        return settings.parse_args(parser, argv, with_settings)
    except SettingsError as exc:
        raise SystemExit(f"diemcau: {exc}") from None


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    sys.exit(args.run(args))


if __name__ == "__main__":
    main()
