"""Where a command's settings come from: its flags, then DIEMCAU_* variables, then a TOML file.

Every long flag of `serve`, `demo` and `doctor` is also a key of the file given by `--config`
(or DIEMCAU_CONFIG), spelt with `_` for `-` (`--udp-port` is `udp_port`), and an environment
variable, DIEMCAU_ and the key in capitals (DIEMCAU_UDP_PORT). A flag on the command line wins
over the environment, which wins over the file, which wins over the flag's default. A repeatable
flag (`--turn`, `--public-ip`) is a list in the file and comma-separated in the environment; the
layer that gives it gives the whole list.

Secrets can stay out of both the command line (visible in `ps`) and the file: DIEMCAU_X_FILE or
the file key `x_file` names a file holding the value, and a systemd credential named after the key
(LoadCredential=turn_secret:..., read from $CREDENTIALS_DIRECTORY) is taken as the environment.

A key the program does not know, or a value of the wrong kind, stops the command with a message
naming it, before anything is read or written: a typo must not leave a setting at its default
unseen. Variables are not held to that (DIEMCAU_ is also the tests' prefix), only their values.
"""

from __future__ import annotations

import argparse
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

ENV_PREFIX = "DIEMCAU_"
CONFIG_KEY = "config"
# Settings that are secrets: they may come from a file (DIEMCAU_X_FILE, `x_file` in the TOML file)
# or a systemd credential, and are never shown where a setting came from.
SECRETS = ("admin_token", "turn_secret", "redis_url", "webhook_secret", "metrics_token")
# Secrets that are no flag: only the environment, a credential or the file give them.
FLAGLESS_SECRETS = ("admin_token",)
# Where each setting of a parse came from, for messages: {"udp_port": "DIEMCAU_UDP_PORT"}.
ORIGINS = "settings_origins"

_UNSET: Any = object()
_KINDS: dict[Any, str] = {int: "whole number", float: "number", Path: "path"}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class SettingsError(ValueError):
    """A setting that cannot be used; the message names where it came from."""


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="a TOML file of settings, keys named as the long flags with _ for - "
        "(flags and DIEMCAU_* variables win over it; docs/configuration.md)",
    )


def key_of(action: argparse.Action) -> str:
    """The file key of a flag: its first long option without the dashes, `_` for `-`."""
    long = next(option for option in action.option_strings if option.startswith("--"))
    return long[2:].replace("-", "_")


def env_name(key: str) -> str:
    return ENV_PREFIX + key.upper()


def settable(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    """The flags of `parser` that a file or the environment may give."""
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        if not any(option.startswith("--") for option in action.option_strings):
            continue
        if key_of(action) != CONFIG_KEY:
            yield action


def _is_append(action: argparse.Action) -> bool:
    return isinstance(action, argparse._AppendAction)


def _is_switch(action: argparse.Action) -> bool:
    return isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction)


def parse_args(
    parser: argparse.ArgumentParser,
    argv: list[str] | None,
    commands: Mapping[str, argparse.ArgumentParser],
    environ: Mapping[str, str] | None = None,
) -> argparse.Namespace:
    """`parser.parse_args(argv)`, with the settings of the chosen command among `commands` that
    no flag gave taken from the environment, then from its --config file. SettingsError names a
    bad key or value."""
    environ = os.environ if environ is None else environ
    # Parse once with every default replaced by a mark, to know which flags were given.
    saved: dict[argparse.Action, Any] = {}
    for command in commands.values():
        for action in settable(command):
            saved[action] = action.default
            action.default = None if _is_append(action) else _UNSET
    try:
        args = parser.parse_args(argv)
    finally:
        for action, default in saved.items():
            action.default = default
    chosen = commands.get(getattr(args, "command", ""))
    if chosen is None:
        return args
    known = {key for command in commands.values() for key in _keys(command)}
    layers = _Layers(environ, _read_file(args, environ, known))
    origins: dict[str, str] = {}
    for action in settable(chosen):
        given = getattr(args, action.dest)
        if not (given is _UNSET or (_is_append(action) and given is None)):
            origins[key_of(action)] = f"--{key_of(action).replace('_', '-')}"
            continue
        found = layers.value(action)
        if found is None:
            setattr(args, action.dest, _default(action))
        else:
            value, origins[key_of(action)] = found
            setattr(args, action.dest, value)
    for key in FLAGLESS_SECRETS:
        found = layers.secret(key)
        setattr(args, key, None if found is None else found[0])
        if found is not None:
            origins[key] = found[1]
    setattr(args, ORIGINS, origins)
    return args


def origin(args: argparse.Namespace, key: str) -> str:
    """Where the setting `key` of a parse came from: "DIEMCAU_ADMIN_TOKEN_FILE", "--port"."""
    origins: dict[str, str] = vars(args).get(ORIGINS, {})
    return origins.get(key, "the settings")


def explain(message: str, args: argparse.Namespace) -> str:
    """A validation message naming `--flag`, told where that flag's value came from when it was
    not the command line: "--udp-port must be ... (from DIEMCAU_UDP_PORT)"."""
    named = re.match(r"--([a-z0-9-]+)", message)
    found = origin(args, named[1].replace("-", "_")) if named else "--"
    if found.startswith("--") or found == "the settings":
        return message
    return f"{message} (from {found})"


def _keys(command: argparse.ArgumentParser) -> Iterator[str]:
    for action in settable(command):
        key = key_of(action)
        yield key
        if key in SECRETS:
            yield f"{key}_file"
    for key in FLAGLESS_SECRETS:
        yield key
        yield f"{key}_file"


def _default(action: argparse.Action) -> Any:
    default = action.default
    if _is_append(action):
        return list(default or [])
    if isinstance(default, str) and action.type is not None:
        return _convert(action, default, "the default")
    return default


def _read_file(
    args: argparse.Namespace, environ: Mapping[str, str], known: set[str]
) -> tuple[Path, dict[str, Any]] | None:
    path: Path | None = getattr(args, CONFIG_KEY, None)
    if path is None and environ.get(env_name(CONFIG_KEY)):
        path = Path(environ[env_name(CONFIG_KEY)])
    if path is None:
        return None
    try:
        with path.open("rb") as file:
            table = tomllib.load(file)
    except OSError as exc:
        raise SettingsError(f"cannot read the settings file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path} is not valid TOML: {exc}") from None
    for key, value in table.items():
        if isinstance(value, dict):
            raise SettingsError(f"{path}: {key} is a table; settings are plain keys")
        if key not in known:
            hint = f" (with _, not -: {key.replace('-', '_')})" if "-" in key else ""
            raise SettingsError(
                f"{path}: unknown setting {key!r}{hint}; the settings are the long flags of"
                " `diemcau serve --help` with _ for -"
            )
    return path, table


class _Layers:
    """The environment over the file, for one command's settings."""

    def __init__(self, environ: Mapping[str, str], file: tuple[Path, dict[str, Any]] | None):
        self.environ = environ
        self.path: Path | None = None
        self.table: dict[str, Any] = {}
        if file is not None:
            self.path, self.table = file
        credentials = environ.get("CREDENTIALS_DIRECTORY")
        self.credentials = Path(credentials) if credentials else None

    def value(self, action: argparse.Action) -> tuple[Any, str] | None:
        key = key_of(action)
        if key in SECRETS:
            found = self.secret(key)
            if found is None:
                return None
            text, origin = found
            return _convert(action, text, origin), origin
        name = env_name(key)
        if self.environ.get(name, "") != "":
            return _from_text(action, self.environ[name], name), name
        if key in self.table:
            origin = f"{self.path}: {key}"
            return _from_toml(action, self.table[key], origin), origin
        return None

    def secret(self, key: str) -> tuple[str, str] | None:
        """A secret's text and where it came from: DIEMCAU_X, DIEMCAU_X_FILE, the systemd
        credential `x`, then the file's `x` or `x_file`; two of one layer are refused."""
        name = env_name(key)
        direct, from_file = self.environ.get(name, ""), self.environ.get(f"{name}_FILE", "")
        if direct and from_file:
            raise SettingsError(f"give {name} or {name}_FILE, not both")
        if direct:
            return direct, name
        if from_file:
            return _read_secret(Path(from_file), f"{name}_FILE"), f"{name}_FILE"
        if self.credentials is not None and (self.credentials / key).is_file():
            origin = f"the systemd credential {key}"
            return _read_secret(self.credentials / key, origin), origin
        where = f"{self.path}: "
        if key in self.table and f"{key}_file" in self.table:
            raise SettingsError(f"{where}give {key} or {key}_file, not both")
        if key in self.table:
            if not isinstance(self.table[key], str):
                raise SettingsError(f"{where}{key} must be a string")
            return self.table[key], f"{where}{key}"
        if f"{key}_file" in self.table:
            named = self.table[f"{key}_file"]
            if not isinstance(named, str):
                raise SettingsError(f"{where}{key}_file must be a string (a path)")
            return _read_secret(Path(named), f"{where}{key}_file"), f"{where}{key}_file"
        return None


def _read_secret(path: Path, origin: str) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SettingsError(f"{origin}: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SettingsError(f"{origin}: {path} is not UTF-8 text") from None
    if not text:
        raise SettingsError(f"{origin}: {path} is empty")
    return text


def _convert(action: argparse.Action, text: str, origin: str) -> Any:
    """One text value as the flag's own type and choices would take it."""
    value: Any = text
    if action.type is not None:
        try:
            value = action.type(text)  # type: ignore[operator]
        except (TypeError, ValueError, argparse.ArgumentTypeError):
            kind = _KINDS.get(action.type, getattr(action.type, "__name__", "value"))
            raise SettingsError(f"{origin}: {text!r} is not a valid {kind}") from None
    if action.choices is not None and value not in action.choices:
        choices = ", ".join(map(str, action.choices))
        raise SettingsError(f"{origin}: {text!r} is not one of {choices}")
    return value


def _from_text(action: argparse.Action, text: str, origin: str) -> Any:
    if _is_switch(action):
        word = text.strip().lower()
        if word not in _TRUE + _FALSE:
            raise SettingsError(f"{origin}: {text!r} is not true or false")
        return (word in _TRUE) == isinstance(action, argparse._StoreTrueAction)
    if _is_append(action):
        return [_convert(action, item.strip(), origin) for item in text.split(",") if item.strip()]
    return _convert(action, text, origin)


def _from_toml(action: argparse.Action, value: Any, origin: str) -> Any:
    if _is_switch(action):
        if not isinstance(value, bool):
            raise SettingsError(f"{origin} must be true or false, not {value!r}")
        return value == isinstance(action, argparse._StoreTrueAction)
    if _is_append(action):
        items = value if isinstance(value, list) else [value]
        return [_from_toml_scalar(action, item, origin) for item in items]
    return _from_toml_scalar(action, value, origin)


def _from_toml_scalar(action: argparse.Action, value: Any, origin: str) -> Any:
    if isinstance(value, str):
        return _convert(action, value, origin)
    number = action.type in (int, float) and isinstance(value, int | float)
    if isinstance(value, bool) or not number or (action.type is int and isinstance(value, float)):
        kind = "a " + _KINDS.get(action.type, "string")
        raise SettingsError(f"{origin} must be {kind}, not {value!r}")
    return _convert(action, str(value), origin)
