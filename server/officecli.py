"""`diemcau sites ...`, `diemcau roster ...` and `diemcau session ...`: the office's work from a
script.

Every command is a call of the admin API (docs/api.md), made one of two ways:
- `--url URL` with `DIEMCAU_ADMIN_TOKEN`: over HTTP, to a running server;
- `--data DIR` (the default, ./data): in this process, on the data directory, through the very
  app `serve` runs (an ASGI call, no socket), so both ways check and answer alike. It takes the
  data directory's lock first (server/dirlock.py): while a server holds it the command writes
  nothing and says to use --url, since two writers on one database would make its record false.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import io
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from ..signaling.tokens import new_token
from .auth import ADMIN_TOKEN_ENV
from .dirlock import DataDirInUse, DataDirLock
from .reports import is_formula_like
from .sessionkind import KINDS

# The in-process app's base when no --public-url is given: serve's own default address.
LOCAL_BASE = "http://127.0.0.1:8080"
LINK_COLUMNS = ("site", "name", "kind", "expected", "removed", "join_url", "start", "end")


class OfficeFailure(Exception):
    """Says why a command did nothing (or not all of it); the command exits 1."""


def add_office_commands(commands: Any) -> None:
    sites = commands.add_parser("sites", help="the sites (halls): import a CSV, list them")
    site_commands = sites.add_subparsers(dest="sites_command", required=True)
    importing = site_commands.add_parser(
        "import", help="create or update sites from a CSV file (id,name,kind,expected)"
    )
    importing.add_argument("file", type=Path, help="the CSV file ('-' for standard input)")
    importing.add_argument(
        "--dry-run", action="store_true", help="say what would be created, updated or rejected"
    )
    _add_target_options(importing)
    importing.set_defaults(run=_command(_import_sites))
    listing = site_commands.add_parser("list", help="the sites, one a line")
    _add_target_options(listing)
    listing.set_defaults(run=_command(_list_sites))

    roster = commands.add_parser("roster", help="the people each site expects: import, list")
    roster_commands = roster.add_subparsers(dest="roster_command", required=True)
    importing = roster_commands.add_parser(
        "import",
        help="replace the rosters of the sites a CSV file names (site,name,code,position,unit)",
    )
    importing.add_argument("file", type=Path, help="the CSV file ('-' for standard input)")
    importing.add_argument(
        "--dry-run", action="store_true", help="say what would be created, updated or rejected"
    )
    _add_target_options(importing)
    importing.set_defaults(run=_command(_import_rosters))
    listing = roster_commands.add_parser("list", help="a site's people, one a line, with ids")
    listing.add_argument("site", metavar="SITE")
    _add_target_options(listing)
    listing.set_defaults(run=_command(_list_roster))

    session = commands.add_parser(
        "session", help="sessions: create one, its links, a re-issue, a cancel"
    )
    session_commands = session.add_subparsers(dest="session_command", required=True)
    create = session_commands.add_parser("create", help="schedule a session; prints it as JSON")
    create.add_argument("--title", required=True)
    create.add_argument("--start", required=True, help="RFC 3339, e.g. 2025-03-01T08:00:00+07:00")
    create.add_argument("--end", required=True, help="RFC 3339")
    create.add_argument("--sites", help="site ids, comma-separated (default: every site)")
    create.add_argument(
        "--kind",
        choices=KINDS,
        help="key (key cadres) or grassroots (the communes' party members); default grassroots",
    )
    _add_target_options(create)
    create.set_defaults(run=_command(_create_session))
    links = session_commands.add_parser("links", help="a session's links, shown again")
    links.add_argument("session_id", metavar="ID")
    links.add_argument(
        "--format",
        choices=["csv", "pdf", "json"],
        default="csv",
        help="csv: one hall a line (default); pdf: an A4 sheet of cards with QR codes; json",
    )
    links.add_argument("--out", type=Path, help="write here instead of standard output")
    _add_target_options(links)
    links.set_defaults(run=_command(_session_links))
    reissue = session_commands.add_parser(
        "reissue", help="a new link for a hall: the old one stops working at once"
    )
    reissue.add_argument("session_id", metavar="ID")
    reissue.add_argument("site", metavar="SITE")
    _add_target_options(reissue)
    reissue.set_defaults(run=_command(_reissue))
    cancel = session_commands.add_parser(
        "cancel", help="cancel a session that has not started (refused once it is live)"
    )
    cancel.add_argument("session_id", metavar="ID")
    _add_target_options(cancel)
    cancel.set_defaults(run=_command(_cancel))
    kind = session_commands.add_parser(
        "kind", help="put a session's kind of conference right (key or grassroots)"
    )
    kind.add_argument("session_id", metavar="ID")
    kind.add_argument("kind", choices=KINDS)
    _add_target_options(kind)
    kind.set_defaults(run=_command(_set_kind))


def _add_target_options(parser: argparse.ArgumentParser) -> None:
    target = parser.add_argument_group("where (one of)")
    target.add_argument(
        "--data",
        type=Path,
        default=Path("data"),
        help="a data directory no server runs on (./data)",
    )
    target.add_argument(
        "--url", help=f"a running server's base URL, with the admin token in ${ADMIN_TOKEN_ENV}"
    )
    target.add_argument(
        "--public-url",
        help="with --data: the base of the links shown (as serve's --public-url; "
        f"else {LOCAL_BASE})",
    )


def _command(work: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            return int(asyncio.run(work(args)))
        except OfficeFailure as exc:
            print(f"diemcau: {exc}", file=sys.stderr)
            return 1

    return run


# -- the two ways to the API


@contextlib.asynccontextmanager
async def admin_api(args: argparse.Namespace) -> AsyncIterator[httpx.AsyncClient]:
    if args.url:
        token = os.environ.get(ADMIN_TOKEN_ENV)
        if not token:
            raise OfficeFailure(f"--url needs the admin token in ${ADMIN_TOKEN_ENV}")
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(
            base_url=args.url.rstrip("/"), headers=headers, timeout=60
        ) as client:
            yield client
        return
    async with _local_api(args.data, args.public_url) as client:
        yield client


@contextlib.asynccontextmanager
async def _local_api(data_dir: Path, public_url: str | None) -> AsyncIterator[httpx.AsyncClient]:
    from .app import create_app
    from .config import Config
    from .state import app_state

    lock = _lock(data_dir)
    try:
        # A one-off admin token: the app is called in this process only, and forgotten.
        token = new_token()
        app = create_app(Config(data_dir=data_dir, public_url=public_url), token)
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url=LOCAL_BASE,
                headers={"Authorization": f"Bearer {token}"},
            ) as client:
                yield client
        finally:
            state = app_state(app)
            await state.bridge.close()
            await state.writer.close()
            state.store.close()
    finally:
        lock.release()


def _lock(data_dir: Path) -> DataDirLock:
    """The data directory's lock, as serve takes it; refused, nothing is written."""
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        return DataDirLock.acquire(data_dir)
    except DataDirInUse as exc:
        holder = f" (process {exc.pid})" if exc.pid is not None else ""
        raise OfficeFailure(
            f"a diemcau server{holder} runs on {data_dir}, and this command writes nothing"
            f" beside it: give --url with ${ADMIN_TOKEN_ENV} to ask that server instead"
        ) from None


async def _call(
    client: httpx.AsyncClient, method: str, path: str, **request: Any
) -> dict[str, Any]:
    try:
        response = await client.request(method, path, **request)
    except httpx.HTTPError as exc:
        raise OfficeFailure(f"cannot reach {client.base_url}: {exc}") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.is_success and isinstance(body, dict):
        return body
    if isinstance(body, dict) and "message" in body:
        problems = body.get("details", {}).get("fields") if body.get("details") else None
        detail = "".join(f"\n  {field}: {why}" for field, why in (problems or {}).items())
        raise OfficeFailure(
            f"{body['message']} ({response.status_code} {body.get('error')}){detail}"
        )
    raise OfficeFailure(f"{method} {path}: {response.status_code} {response.reason_phrase}")


# -- the commands


async def _import_csv(args: argparse.Namespace, path: str) -> dict[str, Any]:
    """POST the file (standard input for '-') as CSV to an import, a dry run if asked."""
    if str(args.file) == "-":
        content = sys.stdin.buffer.read()
    else:
        try:
            content = args.file.read_bytes()
        except OSError as exc:
            raise OfficeFailure(f"cannot read {args.file}: {exc.strerror}") from None
    async with admin_api(args) as client:
        return await _call(
            client,
            "POST",
            path,
            params={"dry_run": "1" if args.dry_run else "0"},
            content=content,
            headers={"Content-Type": "text/csv"},
        )


def _import_counts(answer: dict[str, Any], more: str, dry_run: bool) -> int:
    """An import's last line, its counts; exit 1 (and say so) when a line was rejected."""
    counts = ", ".join(f"{answer[k]} {k}" for k in ("created", "updated", "unchanged", "rejected"))
    verb = "would be" if dry_run else "were"
    print(f"{counts}{more}" + (" (a dry run: nothing written)" if dry_run else ""))
    if answer["rejected"]:
        print(f"diemcau: {answer['rejected']} lines {verb} rejected", file=sys.stderr)
        return 1
    return 0


async def _import_sites(args: argparse.Namespace) -> int:
    answer = await _import_csv(args, "/api/sites/import")
    for line in answer["lines"]:
        error = f": {line['error']}" if line.get("error") else ""
        print(f"line {line['line']}\t{line['id']}\t{line['result']}{error}")
    return _import_counts(answer, "", args.dry_run)


async def _import_rosters(args: argparse.Namespace) -> int:
    answer = await _import_csv(args, "/api/rosters/import")
    for line in answer["lines"]:
        error = f": {line['error']}" if line.get("error") else ""
        who = f"{line.get('id', '')}\t{line['name']}"
        print(f"line {line['line']}\t{line['site']}\t{who}\t{line['result']}{error}")
    removed = "would be" if args.dry_run else "were"
    more = f"; {answer['removed']} people {removed} taken off the rosters"
    return _import_counts(answer, more, args.dry_run)


async def _list_roster(args: argparse.Namespace) -> int:
    async with admin_api(args) as client:
        answer = await _call(client, "GET", f"/api/sites/{quote(args.site, safe='')}/roster")
    out = csv.writer(sys.stdout, delimiter="\t", lineterminator="\n")
    out.writerow(["id", "name", "code", "position", "unit"])
    for person in answer["people"]:
        row = [person[k] or "" for k in ("id", "name", "code", "position", "unit")]
        out.writerow(["'" + v if is_formula_like(v) else v for v in row])
    return 0


async def _list_sites(args: argparse.Namespace) -> int:
    async with admin_api(args) as client:
        answer = await _call(client, "GET", "/api/sites")
    out = csv.writer(sys.stdout, delimiter="\t", lineterminator="\n")
    out.writerow(["id", "name", "kind", "expected"])
    for site in answer["sites"]:
        out.writerow([site["id"], site["name"], site["kind"], site["expected"]])
    return 0


async def _create_session(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {
        "title": args.title,
        "scheduled_start": args.start,
        "scheduled_end": args.end,
    }
    if args.kind is not None:
        body["kind"] = args.kind
    if args.sites is not None:
        body["sites"] = [s.strip() for s in args.sites.split(",") if s.strip()]
    async with admin_api(args) as client:
        created = await _call(client, "POST", "/api/sessions", json=body)
    print(json.dumps(created, ensure_ascii=False, indent=2))
    return 0


async def _session_links(args: argparse.Namespace) -> int:
    async with admin_api(args) as client:
        links = await _call(client, "GET", f"/api/sessions/{args.session_id}/links")
    if args.format == "json":
        _write(args.out, (json.dumps(links, ensure_ascii=False, indent=2) + "\n").encode())
    elif args.format == "csv":
        _write(args.out, links_csv(links).encode("utf-8-sig"))
    else:
        from .linksheet import link_sheet

        if args.out is None and sys.stdout.isatty():
            raise OfficeFailure("a PDF is not for the terminal: give --out FILE.pdf")
        _write(args.out, link_sheet(links))
    hidden = [s["site"] for s in links["sites"] if s["join_url"] is None]
    if hidden:
        print(
            f"diemcau: the links of {', '.join(hidden)} cannot be shown again (a token of before"
            " this version, or another link key): `diemcau session reissue` gives new ones",
            file=sys.stderr,
        )
    return 0


def links_csv(links: dict[str, Any]) -> str:
    """One hall a line; a cell a spreadsheet would run as a formula is written as text."""
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\r\n")
    out.writerow(LINK_COLUMNS)
    for site in links["sites"]:
        row = [
            site["site"],
            site["name"],
            site["kind"],
            site["expected"],
            "yes" if site["removed"] else "no",
            site["join_url"] or "",
            links["scheduled_start"],
            links["scheduled_end"],
        ]
        out.writerow(["'" + v if is_formula_like(v) else v for v in row])
    return buffer.getvalue()


async def _reissue(args: argparse.Namespace) -> int:
    return await _post_and_print(args, f"/api/sessions/{args.session_id}/sites/{args.site}/reissue")


async def _cancel(args: argparse.Namespace) -> int:
    return await _post_and_print(args, f"/api/sessions/{args.session_id}/cancel")


async def _set_kind(args: argparse.Namespace) -> int:
    async with admin_api(args) as client:
        path = f"/api/sessions/{args.session_id}"
        answer = await _call(client, "PATCH", path, json={"kind": args.kind})
    print(json.dumps(answer, ensure_ascii=False, indent=2))
    return 0


async def _post_and_print(args: argparse.Namespace, path: str) -> int:
    """One POST of the admin API; its answer printed as JSON."""
    async with admin_api(args) as client:
        answer = await _call(client, "POST", path)
    print(json.dumps(answer, ensure_ascii=False, indent=2))
    return 0


def _write(out: Path | None, content: bytes) -> None:
    if out is None:
        sys.stdout.buffer.write(content)
        sys.stdout.flush()
        return
    try:
        out.write_bytes(content)
    except OSError as exc:
        raise OfficeFailure(f"cannot write {out}: {exc.strerror}") from None
