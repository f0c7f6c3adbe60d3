"""What the join log's hash chain costs over a district's year (benchmarks/attendance_year.py's
800 sessions x 30 sites x 40 events): chaining it, verifying every session, and reading the
chained export against the plain one.

    python benchmarks/chain_year.py [--sessions 800] [--sites 30] [--events 40]

A figure, not a test.
"""

from __future__ import annotations

import argparse
import json
import time

from attendance_year import year_log
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from diemcau.server import chain
from diemcau.server.joinlog import read_jsonl
from diemcau.server.sealkey import SealKey


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=800)
    parser.add_argument("--sites", type=int, default=30)
    parser.add_argument("--events", type=int, default=40)
    args = parser.parse_args()
    lines = year_log(args.sessions, args.sites, args.events)

    started = time.perf_counter()
    prevs: dict[str, str] = {}
    by_session: dict[str, list[chain.Link]] = {}
    chained_lines = []
    for number, line in enumerate(lines, start=1):
        fields = json.loads(line)
        prev = prevs.get(fields["session"], chain.GENESIS)
        prevs[fields["session"]] = hash = chain.event_hash(prev, fields)
        by_session.setdefault(fields["session"], []).append(
            chain.Link(f"line {number}", fields, prev, hash)
        )
        chained_lines.append(json.dumps({**fields, "chain": {"prev": prev, "hash": hash}}))
    hashed = time.perf_counter()
    key = SealKey(Ed25519PrivateKey.generate())
    seals = {
        sid: chain.Seal(
            prevs[sid], len(links), key.sign(chain.seal_message(sid, prevs[sid], len(links)))
        )
        for sid, links in by_session.items()
    }
    sealed = time.perf_counter()
    findings = [
        chain.verify(sid, links, seals[sid], key.public.check) for sid, links in by_session.items()
    ]
    verified = time.perf_counter()
    read_jsonl(lines)
    plain = time.perf_counter()
    read_jsonl(chained_lines)
    read_chained = time.perf_counter()

    assert all(finding.intact for finding in findings)
    print(f"year: {len(lines):,} events in {len(by_session)} sessions")
    print(f"  chain (hash each)     {hashed - started:7.2f} s")
    print(f"  seal every session    {sealed - hashed:7.2f} s")
    print(f"  verify every session  {verified - sealed:7.2f} s")
    print(f"  parse plain export    {plain - verified:7.2f} s")
    print(f"  parse chained export  {read_chained - plain:7.2f} s")


if __name__ == "__main__":
    main()
