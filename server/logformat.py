"""The server's log lines on standard error: text, or one JSON object a line; never a token.

`--log-format json` writes each record as one object with `ts` (RFC 3339, UTC), `level`,
`logger` and `message`, then the record's structured extras (`extra={...}`), the request fields
of an access line (`client`, `method`, `path`, `status`) and, for an exception, `exception` with
its traceback as one string: one line each, whatever the message holds.

Both formats pass every line through `redact`: bearer tokens (an Authorization header), token,
password and secret parameters of URLs (a join link's `#token=`), the password of a URL's user
part (`redis://:password@host`) and the secrets this process was given (`hide`) become
"[redacted]". Links are printed to standard output on purpose (demo, a generated admin token);
what reaches a log must never let its reader act as a hall or the admin.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from .times import log_time

REDACTED = "[redacted]"
_PATTERNS = (
    # Authorization: Bearer …, or a bearer token quoted on its own.
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[^\s,;\"']+"), rf"\1\2{REDACTED}"),
    # …?token=…, …#token=…, &password=… in a URL or a form.
    (
        re.compile(
            r"(?i)([?#&;](?:token|access_token|auth|password|passwd|secret|key|signature)=)"
            r"[^&#\s\"']+"
        ),
        rf"\1{REDACTED}",
    ),
    # scheme://user:password@host
    (
        re.compile(r"([a-z][a-z0-9+.-]*://[^/\s:@\"']*:)[^/\s@\"']+@", re.IGNORECASE),
        rf"\1{REDACTED}@",
    ),
)
# The secrets of this process (admin token, TURN and webhook secrets), replaced wherever they are.
_hidden: set[str] = set()
# What every LogRecord has; anything else on a record is an extra the caller gave.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's message again, with terminal colours
}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The format `configure` set, which uvicorn's loggers then follow.
_format = "text"


def hide(secret: str | None) -> None:
    """Never show `secret` in a log line from now on (short values would hide too much)."""
    if secret and len(secret) >= 8:
        _hidden.add(secret)


def redact(text: str) -> str:
    for secret in _hidden:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFormatter(logging.Formatter):
    """The text format, redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object a line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": log_time(datetime.fromtimestamp(record.created, UTC)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        entry.update(_access_fields(record))
        for name, value in vars(record).items():
            if name not in _RECORD_FIELDS and name not in entry:
                entry[name] = _safe(value)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = redact(record.exc_text)
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def _access_fields(record: logging.LogRecord) -> dict[str, Any]:
    """uvicorn's access line, as fields: its arguments are (client, method, path, version,
    status)."""
    args = record.args
    if record.name != "uvicorn.access" or not isinstance(args, tuple) or len(args) != 5:
        return {}
    client, method, path, _, status = args
    return {
        "client": str(client),
        "method": str(method),
        "path": redact(str(path)),
        "status": status,
    }


def _safe(value: Any) -> Any:
    """An extra as JSON takes it, its text redacted."""
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [_safe(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _safe(item) for key, item in value.items()}
    return redact(str(value))


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else RedactingFormatter(TEXT_FORMAT)


def configure(level: str, log_format: str = "text") -> None:
    """The root logger writes to standard error in `log_format` ("text" or "json")."""
    global _format
    _format = log_format
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(log_format))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper()))
    # aiortc and aioice log per packet at debug level; keep them quiet unless asked.
    if level != "debug":
        for noisy in ("aiortc", "aioice"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    # What Python itself would print on standard error goes through the same handler, in the
    # same format: a warning, and a crash's traceback (one line in JSON, redacted in both).
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught


def _log_uncaught(kind: type[BaseException], error: BaseException, trace: Any) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, trace)
        return
    logging.getLogger("diemcau").critical(
        "stopped by an unexpected error", exc_info=(kind, error, trace)
    )


def adopt_uvicorn_loggers() -> None:
    """After uvicorn has configured its own loggers (uvicorn.Config does): in JSON, their lines
    go through the root's handler like every other line (uvicorn's would print text, and the
    access lines on standard output); in text, uvicorn's own format stays, redacted."""
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if _format == "json":
            for handler in logger.handlers[:]:
                logger.removeHandler(handler)
            logger.propagate = True
        else:
            for handler in logger.handlers:
                if handler.formatter is not None:
                    handler.setFormatter(_Redacted(handler.formatter))


class _Redacted(logging.Formatter):
    """Another formatter's lines, redacted."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record))
