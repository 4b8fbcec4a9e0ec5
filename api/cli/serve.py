"""`misper serve`: check the policies and the store, then serve the HTTP API with uvicorn."""

from __future__ import annotations

import argparse
import fcntl
import os
import sys
from typing import IO, Any

from misper.api.settings import Settings

# The HTTP app and the guarded protocol, named for uvicorn (which imports them in each of its
# worker processes): the command line does not import the HTTP way in.
APP = "misper.api.http.app:app"
PROTOCOL = "misper.api.http.h11_guard:GuardedH11Protocol"


_HELD: list[IO[bytes]] = []  # the lock files this process holds while it serves


def _only_server_on(url: str) -> bool:
    """On SQLite, take the database's server lock (held until this process ends; the kernel
    gives it back however it ends); False when another server holds it. PostgreSQL takes any
    number of servers."""
    if not url.startswith("sqlite:///"):
        return True
    handle = open(url.removeprefix("sqlite:///") + ".serve-lock", "ab")  # held while serving
    os.chmod(handle.name, 0o600)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return False
    _HELD.append(handle)
    return True


def add_commands(sub: Any) -> None:
    serve = sub.add_parser("serve", help="start the HTTP API (policies are checked first)")
    serve.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    serve.add_argument("--port", type=int, default=8000, help="default: 8000")
    serve.add_argument("--workers", type=int, default=1, help="processes; default: 1")
    serve.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from misper.api.startup import load_registry, prepare_store

    settings = Settings.from_env()
    # A broken or missing rules folder, overlapping versions, a failing embedded test or an
    # unreachable database stop start-up here, with their errors, before anything is served.
    prepare_store(settings, load_registry(settings))
    if not _only_server_on(settings.store_url):
        database = settings.store_url.removeprefix("sqlite:///")
        print(
            f"misper: another misper serve is using {database}: an SQLite "
            "database takes one server (each append judges while holding its write lock, so a second "
            "server's appends would wait seconds); run several servers on PostgreSQL "
            "(MISPER_DATABASE_URL)",
            file=sys.stderr,
        )
        return 2
    print(f"misper: serving on http://{args.host}:{args.port} (keys: {settings.keys_file})", file=sys.stderr)
    uvicorn.run(
        APP,
        host=args.host,
        port=args.port,
        workers=args.workers,
        http=PROTOCOL,
        timeout_keep_alive=5,
        access_log=False,
        log_level="error",  # uvicorn warns once per malformed request: under attack, a flood
    )
    return 0
