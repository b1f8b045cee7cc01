"""`vad arena`: its parser and its handler, side by side."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

from vad.errors import VadError

DB_NAME = "arena-votes.sqlite"
TOKEN_ENV = "VAD_ARENA_TOKEN"


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "arena",
        help="a local web app where people vote between two models' drawings",
        description="Serve a web page that shows two anonymous drawings of one concept by "
        "two different models (a random pair, in random order) and takes a vote: left, "
        "right, tie or both bad (click, or the keys ← → ↓/t b). Each vote is stored with "
        "the voter's id (a cookie) and its time in SQLite; a voter is never shown a pair "
        "twice. /ratings shows live Bradley-Terry ratings with bootstrap intervals.",
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folder names, prefixes or paths")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; any other than loopback needs --token)",
    )
    p.add_argument("--port", type=int, default=8765, help="default 8765")
    p.add_argument(
        "--db",
        metavar="PATH",
        help=f"the votes' SQLite file (default: {DB_NAME} in the folder that holds the first "
        "RUN, beside the runs it is about, so every arena over those runs shares it)",
    )
    p.add_argument(
        "--token",
        default=os.environ.get(TOKEN_ENV) or None,
        metavar="TOKEN",
        help="a shared secret every request must carry (open the page once with ?token=...), "
        f"for a lab's intranet (default ${TOKEN_ENV}, which keeps it out of `ps`)",
    )
    p.add_argument(
        "--export-votes",
        metavar="FILE",
        help="write every vote as one JSON line to FILE and exit (serves nothing)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="make the pairs' order and sides repeatable (for tests: anyone with the runs "
        "could then tell the sides apart); default: the system's randomness",
    )
    p.add_argument("--runs-dir", metavar="DIR")
    p.set_defaults(func=arena_cmd)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def default_db(runs: list[str], runs_dir: str | None) -> Path:
    """``arena-votes.sqlite`` in the folder that holds the first run."""
    from vad._paths import runs_dir as default_runs_dir
    from vad.rundir import find_run

    return find_run(default_runs_dir(runs_dir), runs[0]).path.resolve().parent / DB_NAME


def arena_cmd(args: argparse.Namespace) -> int:
    from vad._paths import runs_dir

    db = Path(args.db) if args.db else default_db(args.runs, args.runs_dir)
    if args.export_votes:
        from vad.arena.votes import VoteStore

        if not db.is_file():
            raise VadError(f"no votes at {db}: give the arena's --db")
        store = VoteStore(db)
        try:
            n = store.export_jsonl(args.export_votes)
        finally:
            store.close()
        print(f"{n} vote(s) written to {args.export_votes}")
        return 0
    if args.token is not None and not args.token:
        raise VadError("--token is empty: give a shared secret (or leave it out on loopback)")
    loopback = is_loopback(args.host)
    if not loopback and not args.token:
        raise VadError(f"--host {args.host} is not a loopback address: give --token TOKEN (or "
                       f"${TOKEN_ENV}) so that only people with it can vote, or keep the "
                       "default 127.0.0.1")  # fmt: skip
    import uvicorn

    from vad.arena.app import LOOPBACK_HOSTS, make_app

    hosts = (*LOOPBACK_HOSTS, args.host) if loopback else None
    app = make_app(args.runs, runs_dir(args.runs_dir), db, args.token, args.seed, hosts=hosts)
    for line in app.state.warnings:
        print(f"warning: {line}", file=sys.stderr)
    pool = app.state.arena.pool
    if not pool.size:
        print("warning: no pairs to vote on: the runs need rendered drawings of one concept "
              "by two different models (task draw)", file=sys.stderr)  # fmt: skip
    shown = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{shown}:{args.port}/"
    print(f"arena: {pool.size} pair(s) of {len(pool.models)} model(s); votes in {db}")
    print(f"vote at {url}" + (f"?token={quote(args.token, safe='')}" if args.token else ""))
    print(f"ratings at {url}ratings (Ctrl-C stops)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", server_header=False)
    return 0
