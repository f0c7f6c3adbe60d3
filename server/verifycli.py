"""`diemcau verify`: whether a session's join log is whole (server/chain.py), from a server's
data directory or from its export (GET /api/sessions/{id}/events) and the server's public key.

Exit 0 and "intact" when it is; exit 1 naming the first event changed, inserted or removed;
exit 2 when it cannot be read at all.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

from . import chain
from .joinlog import to_json
from .sealkey import KEY_NAME, PublicKey, SealKey, SealKeyError
from .store import Event
from .times import parse_db_time

DATABASE_NAME = "diemcau.sqlite3"


class VerifyError(Exception):
    """The log cannot be read: no verdict."""


def add_command(commands: Any) -> None:
    parser = commands.add_parser(
        "verify",
        help="whether a session's join log is whole: its hash chain and the server's seal",
    )
    parser.add_argument("session_id", nargs="?", help="the session (needed with --data)")
    parser.add_argument("--data", type=Path, help="a server's data directory")
    parser.add_argument("--events", type=Path, help="an exported join log (JSON Lines)")
    parser.add_argument(
        "--key", type=Path, help="the server's public key (PEM or base64, as /api/keys gives it)"
    )
    parser.set_defaults(run=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    try:
        public = PublicKey.parse(args.key.read_text()) if args.key else None
        if (args.data is None) == (args.events is None):
            raise VerifyError("give either --data DIR SESSION or --events FILE --key FILE")
        if args.data is not None:
            if args.session_id is None:
                raise VerifyError("--data needs the SESSION to verify")
            session_id, links, seal, public = from_data(args.data, args.session_id, public)
        else:
            if public is None:
                raise VerifyError("--events needs the server's public key (--key)")
            session_id, links, seal = from_export(args.events, args.session_id)
    except (VerifyError, SealKeyError, OSError) as exc:
        print(f"diemcau: {exc}", file=sys.stderr)
        return 2
    finding = chain.verify(session_id, links, seal, public.check if public else None)
    print(f"session {session_id}: {finding.message}")
    return 0 if finding.intact else 1


def from_data(
    data: Path, session_id: str, public: PublicKey | None
) -> tuple[str, list[chain.Link], chain.Seal | None, PublicKey | None]:
    path = data / DATABASE_NAME
    if not path.exists():
        raise VerifyError(f"no database in {data}")
    if public is None:
        key = SealKey.load(data)
        if key is None:
            raise VerifyError(f"no {KEY_NAME} in {data}: give the server's public key (--key)")
        public = key.public
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        session = db.execute(
            "SELECT chain_head, chain_length, chain_signature FROM sessions WHERE id = ?",
            (session_id,),
        ).fetchone()
        if session is None:
            raise VerifyError(f"no session {session_id!r} in {path}")
        rows = db.execute(
            "SELECT seq, ts, session_id, type, site_id, conn, body, prev, hash FROM events"
            " WHERE session_id = ? ORDER BY seq",
            (session_id,),
        ).fetchall()
    except sqlite3.OperationalError as exc:
        raise VerifyError(
            f"{path}: {exc} (a database of before the chain: serve migrates it)"
        ) from None
    finally:
        db.close()
    links = []
    for number, (seq, ts, sid, kind, site, conn, body, prev, hash) in enumerate(rows, start=1):
        try:
            event = Event(seq, parse_db_time(ts), sid, kind, site, conn, json.loads(body))
            fields = to_json(event)
        except ValueError:  # a row changed into something that is not an event any more
            fields = {"unreadable": [ts, body]}
        label = f"event {number} (seq {seq}, {kind} at {ts})"
        links.append(chain.Link(label, fields, prev, hash))
    seal = None if session[0] is None else chain.Seal(session[0], int(session[1]), session[2])
    return session_id, links, seal, public


def from_export(
    path: Path, session_id: str | None
) -> tuple[str, list[chain.Link], chain.Seal | None]:
    links: list[chain.Link] = []
    seal: chain.Seal | None = None
    sessions: set[str] = set()
    with path.open(encoding="utf-8-sig") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                fields = json.loads(line)
            except ValueError:
                raise VerifyError(f"{path}:{number}: not JSON") from None
            if not isinstance(fields, dict):
                raise VerifyError(f"{path}:{number}: not a JSON object")
            session = str(fields.get("session"))
            if session_id is not None and session != session_id:
                continue
            sessions.add(session)
            link = fields.get(chain.CHAIN_KEY)
            link = link if isinstance(link, dict) else {}
            label = f"line {number} ({fields.get('type')} at {fields.get('ts')})"
            prev, hash = _text(link.get("prev")), _text(link.get("hash"))
            links.append(chain.Link(label, fields, prev, hash))
            sealed = link.get("seal")
            if isinstance(sealed, dict):
                try:
                    seal = chain.Seal(
                        str(sealed["head"]), int(sealed["length"]), str(sealed["signature"])
                    )
                except (KeyError, TypeError, ValueError):
                    raise VerifyError(
                        f"{path}:{number}: a seal without head, length, signature"
                    ) from None
    if len(sessions) != 1:
        raise VerifyError(
            f"{path} holds {len(sessions)} sessions: name the one to verify"
            if sessions
            else f"{path} holds no event of that session"
        )
    return sessions.pop(), links, seal


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
