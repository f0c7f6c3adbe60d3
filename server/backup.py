"""Backups of a data directory: an online, consistent copy of its database with the secrets a
restore needs to give the same server, and putting one back.

`backup` copies the database with SQLite's online backup (sqlite3.Connection.backup) from a
read-only connection, in one step: one read transaction, so the copy is the database as of one
moment, even while `serve` writes to it (WAL mode lets both go on). The copy is a single file
(no -wal beside it), checked, written under a temporary name and renamed into place, mode 0600:
it holds every site, session and the join log, and in one table of its own (`backup_secrets`)
the data directory's secret files: the link key (the links shown again), the seal key (sealing
goes on with the same key, so the seals of before still check against the published one) and a
generated admin token. One file, so a copy can never be restored with another copy's keys.

`restore` puts a copy back into a data directory that no server holds (server/dirlock.py: it
takes the lock itself for the time it works, so no server starts meanwhile). It refuses a file
that is not a diemcau database or was made by a newer diemcau (its schema is newer than this
program knows); an older one is migrated by the next `serve`. The database it replaces is kept
beside it, as `diemcau.sqlite3.before-restore-<time>`, and its -wal and -shm files go: a WAL
left from the old database must never be applied to the restored one. The secrets the copy
carries are written back (0600); a different one already there is kept aside the same way. The
restored database does not keep the table (dropped with secure_delete: its pages are zeroed).
A copy made before the secrets were carried restores as before, the secret files untouched.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .auth import ADMIN_TOKEN_FILE
from .dirlock import DataDirInUse, DataDirLock
from .links import KEY_NAME as LINK_KEY
from .schema import SCHEMA_VERSION
from .sealkey import KEY_NAME as SEAL_KEY
from .secretfile import write_new
from .times import file_time

DATABASE = "diemcau.sqlite3"
# Tables every diemcau database has had since its first schema.
_TABLES = {"sites", "sessions", "invites", "events"}
# The data directory's secret files a copy carries, in the copy's own table.
SECRETS = (LINK_KEY, SEAL_KEY, ADMIN_TOKEN_FILE)
_SECRETS_TABLE = "backup_secrets"


class BackupError(Exception):
    """A backup or restore that cannot be done; nothing was changed."""


@dataclass(frozen=True)
class Summary:
    """What a copy holds, for the line the command prints."""

    path: Path
    schema: int
    sessions: int
    events: int
    bytes: int
    secrets: tuple[str, ...] = ()

    def __str__(self) -> str:
        carried = f", with {', '.join(self.secrets)}" if self.secrets else ""
        return (
            f"{self.path}: {self.bytes} bytes, schema {self.schema},"
            f" {self.sessions} sessions, {self.events} join-log events{carried}"
        )


def _stamp(now: datetime) -> str:
    return file_time(now)


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


def check(path: Path) -> Summary:
    """The summary of a diemcau database at `path`; BackupError if it is none this program can
    use."""
    if not path.is_file():
        raise BackupError(f"{path} is not a file")
    try:
        db = _read_only(path)
    except sqlite3.Error as exc:
        raise BackupError(f"{path} cannot be opened: {exc}") from None
    try:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        schema = int(db.execute("PRAGMA user_version").fetchone()[0])
        if not _TABLES <= tables or schema < 1:
            raise BackupError(f"{path} is an SQLite database, but not diemcau's")
        if schema > SCHEMA_VERSION:
            raise BackupError(
                f"{path} was made by a newer diemcau (schema {schema}; this one knows up to"
                f" {SCHEMA_VERSION}): restore it with that version"
            )
        verdict = db.execute("PRAGMA quick_check").fetchone()[0]
        if verdict != "ok":
            raise BackupError(f"{path} is damaged: {verdict}")
        sessions = int(db.execute("SELECT count(*) FROM sessions").fetchone()[0])
        events = int(db.execute("SELECT count(*) FROM events").fetchone()[0])
        carried = tuple(sorted(_carried(db)))
    except sqlite3.DatabaseError as exc:  # "file is not a database", and the like
        raise BackupError(f"{path} is not a diemcau database: {exc}") from None
    finally:
        db.close()
    return Summary(path, schema, sessions, events, path.stat().st_size, carried)


def _carried(db: sqlite3.Connection) -> dict[str, bytes]:
    """The secret files a copy carries, by name (none in a copy of before they were)."""
    tables = db.execute("SELECT name FROM sqlite_master WHERE type='table'")
    if _SECRETS_TABLE not in {row[0] for row in tables}:
        return {}
    rows = db.execute(f"SELECT name, content FROM {_SECRETS_TABLE}")
    return {str(name): bytes(content) for name, content in rows if name in SECRETS}


def _secret_files(data_dir: Path) -> dict[str, bytes]:
    """The data directory's secret files there are."""
    found = {}
    for name in SECRETS:
        try:
            found[name] = (data_dir / name).read_bytes()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise BackupError(f"cannot read {data_dir / name}: {exc}") from None
    return found


def _copy(
    source: sqlite3.Connection, target: Path, secrets: dict[str, bytes] | None = None
) -> None:
    """`source` into a new single file at `target`, synced to disk, carrying `secrets` and no
    other: a table of them that `source` has (a copy being restored) is dropped, zeroed."""
    target.unlink(missing_ok=True)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)  # all pages in one step: the database as of one moment
        copy.execute("PRAGMA secure_delete = ON")
        copy.execute(f"DROP TABLE IF EXISTS {_SECRETS_TABLE}")
        if secrets:
            copy.execute(f"CREATE TABLE {_SECRETS_TABLE} (name TEXT PRIMARY KEY, content BLOB)")
            copy.executemany(f"INSERT INTO {_SECRETS_TABLE} VALUES (?, ?)", secrets.items())
            copy.commit()
        copy.execute("PRAGMA journal_mode = DELETE")  # one file, no -wal beside it
    finally:
        copy.close()
    os.chmod(target, 0o600)
    with open(target, "rb") as file:
        os.fsync(file.fileno())


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _same_owner(data_dir: Path, paths: list[Path]) -> None:
    # Run as root, the files made here must still be the service's (User=diemcau), or the
    # next `serve` cannot open them.
    if os.geteuid() != 0:
        return
    owner = data_dir.stat()
    for path in paths:
        os.chown(path, owner.st_uid, owner.st_gid)


def backup(data_dir: Path, out: Path, now: datetime | None = None) -> Summary:
    """A consistent copy of `data_dir`'s database at `out` (into it, named by the time, if it
    is a directory), with or without a server running on `data_dir`."""
    now = now or datetime.now(UTC)
    database = data_dir / DATABASE
    if not database.is_file():
        raise BackupError(f"{data_dir} holds no diemcau database ({DATABASE})")
    check(database)
    if out.is_dir():
        out = out / f"diemcau-{_stamp(now)}.sqlite3"
    if not out.parent.is_dir():
        raise BackupError(f"{out.parent} is not a directory")
    partial = out.with_name(f".{out.name}.partial")
    secrets = _secret_files(data_dir)
    source = _read_only(database)
    try:
        _copy(source, partial, secrets)
        summary = check(partial)
    except (sqlite3.Error, OSError, BackupError) as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"the backup failed: {exc}") from None
    finally:
        source.close()
    os.replace(partial, out)
    _sync_directory(out.parent)
    return dataclasses.replace(summary, path=out)


@dataclass(frozen=True)
class Restored:
    """What a restore did: the database put back, and where what it replaced was kept."""

    summary: Summary
    kept: Path | None  # the database replaced, None if there was none
    secrets_kept: list[Path]  # secret files that differed from the copy's, kept aside


def _put_secret(path: Path, content: bytes, now: datetime) -> Path | None:
    """Write a secret file (0600) whole in place; a different one there is kept aside, its
    new name returned."""
    try:
        if path.read_bytes() == content:
            return None
        aside: Path | None = path.with_name(f"{path.name}.before-restore-{_stamp(now)}")
    except FileNotFoundError:
        aside = None
    incoming = path.with_name(f".{path.name}.restoring")
    incoming.unlink(missing_ok=True)
    try:
        write_new(incoming, content)
        _same_owner(path.parent, [incoming])
        # Two restores in one second: the first one's keeps what was there before both.
        if aside is not None and not aside.exists():
            os.link(path, aside)
        os.replace(incoming, path)
    finally:
        incoming.unlink(missing_ok=True)
    return aside


def restore(data_dir: Path, copy: Path, now: datetime | None = None) -> Restored:
    """Put `copy` back as `data_dir`'s database, and the secret files it carries beside it."""
    now = now or datetime.now(UTC)
    summary = check(copy)
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        lock = DataDirLock.acquire(data_dir)
    except DataDirInUse as exc:
        raise BackupError(f"{exc}; nothing was restored") from None
    try:
        database = data_dir / DATABASE
        incoming = data_dir / f".{DATABASE}.restoring"
        source = _read_only(copy)
        try:
            secrets = _carried(source)
            _copy(source, incoming)
        except (sqlite3.Error, OSError) as exc:
            incoming.unlink(missing_ok=True)
            raise BackupError(f"cannot write into {data_dir}: {exc}") from None
        finally:
            source.close()
        kept = None
        if database.exists():
            # The old database with what its WAL holds, before the WAL goes.
            kept = data_dir / f"{DATABASE}.before-restore-{_stamp(now)}"
            old = sqlite3.connect(database)
            try:
                _copy(old, kept)
            finally:
                old.close()
        for leftover in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                (data_dir / f"{DATABASE}{leftover}").unlink()
        _same_owner(data_dir, [incoming, data_dir / "diemcau.lock", *([kept] if kept else [])])
        os.replace(incoming, database)
        try:
            aside = [_put_secret(data_dir / name, data, now) for name, data in secrets.items()]
        except OSError as exc:
            raise BackupError(f"the database is back, but not its secret files: {exc}") from None
        _sync_directory(data_dir)
    finally:
        lock.release()
    put_back = dataclasses.replace(summary, path=database)
    return Restored(put_back, kept, [path for path in aside if path is not None])
