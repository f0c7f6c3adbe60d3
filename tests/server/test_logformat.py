"""Log lines: JSON objects with --log-format json, and never a token in either format."""

from __future__ import annotations

import io
import json
import logging
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from diemcau.server import logformat
from tests.conftest import start_server, stop_server


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("Authorization: Bearer abc.DEF-123_x", "Authorization: Bearer [redacted]"),
        ("authorization: bearer abc, next", "authorization: bearer [redacted], next"),
        (
            "https://h.example.vn/join/s1/nga-thanh#token=Zm9v-YmFy",
            "https://h.example.vn/join/s1/nga-thanh#token=[redacted]",
        ),
        ('"GET /x?token=abc&page=2 HTTP/1.1"', '"GET /x?token=[redacted]&page=2 HTTP/1.1"'),
        ("/hook?a=1&signature=ff00", "/hook?a=1&signature=[redacted]"),
        ("redis://:pa55word@127.0.0.1:6379/0", "redis://:[redacted]@127.0.0.1:6379/0"),
        ("redis://user:pa55@redis.example.vn", "redis://user:[redacted]@redis.example.vn"),
        # Nothing secret: unchanged.
        ("site nga-thanh joined (c1, host over udp)", "site nga-thanh joined (c1, host over udp)"),
        ("https://h.example.vn/join/s1/nga-thanh", "https://h.example.vn/join/s1/nga-thanh"),
        ("Xã Nga Thạnh: 37 người", "Xã Nga Thạnh: 37 người"),
    ],
)
def test_redact(line: str, shown: str) -> None:
    assert logformat.redact(line) == shown


def test_a_hidden_secret_is_redacted_wherever_it_is() -> None:
    logformat.hide("a-secret-of-this-process-42")
    logformat.hide("short")  # too short to hide without hiding words
    assert logformat.redact("x/a-secret-of-this-process-42/y short") == "x/[redacted]/y short"


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logformat.JsonFormatter())
    logger = logging.getLogger("diemcau.test_logformat")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    yield logger, stream
    logger.removeHandler(handler)


def test_a_json_line_holds_the_record_and_its_extras(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    logger.warning(
        "site %s could not connect: Bearer %s",
        "nga-thanh",
        "tok3n",
        extra={"session": "s1", "offered": ["host", "srflx"], "url": "/j#token=x"},
    )
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        logger.exception("failed")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["ts"].endswith("Z") and first["ts"][:4].isdigit()
    assert first["level"] == "warning"
    assert first["logger"] == "diemcau.test_logformat"
    assert first["message"] == "site nga-thanh could not connect: Bearer [redacted]"
    assert first["session"] == "s1"
    assert first["offered"] == ["host", "srflx"]
    assert first["url"] == "/j#token=[redacted]"
    assert second["level"] == "error"
    assert second["message"] == "failed"
    assert "ValueError: bad\nthing" in second["exception"]


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_serve_logs_no_token(log_format: str, tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", options=("--log-format", log_format))
    token = server.admin_token
    try:
        with server.admin() as client:
            client.get("/healthz", params={"token": "site-token-in-a-query-0123"})
            client.get(f"/api/{token}")  # the admin token where no one should put it
            client.get("/readyz")
    finally:
        stop_server(server)
    log = server.log()
    assert "GET /readyz" in log  # the access lines are there
    assert token not in log and "site-token-in-a-query-0123" not in log
    assert "token=[redacted]" in log
    if log_format == "json":
        lines = [json.loads(line) for line in log.splitlines()]
        assert lines and all({"ts", "level", "message"} <= line.keys() for line in lines)
        access = [line for line in lines if line.get("path") == "/readyz"]
        assert access and access[0]["method"] == "GET" and access[0]["status"] == 200


def test_uvicorn_never_runs_uvloop() -> None:
    # The fast path needs asyncio's selector loop (media/seams.py).
    from diemcau.server.config import Config
    from diemcau.server.listener import uvicorn_config

    assert uvicorn_config(object(), Config(), "info", access_log=True).loop == "asyncio"


def test_warnings_and_a_crash_go_out_as_json_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logging.captureWarnings(False)  # as in a fresh process
        logformat.configure("info", "json")
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("a deprecated thing, Bearer s3cr3t", UserWarning, stacklevel=1)
        try:
            raise RuntimeError("out of luck")
        except RuntimeError as exc:
            sys.excepthook(RuntimeError, exc, exc.__traceback__)
    finally:
        logging.captureWarnings(False)
        root.handlers[:], level = saved
        root.setLevel(level)
    warned, crashed = (json.loads(line) for line in stderr.getvalue().splitlines())
    assert warned["logger"] == "py.warnings" and "Bearer [redacted]" in warned["message"]
    assert crashed["level"] == "critical"
    assert "RuntimeError: out of luck" in crashed["exception"]
