"""`misper alerts run`: the alert dispatcher alone, for a deployment that runs it apart from the
servers (they then run with MISPER_DISPATCHER=false). It judges due incidents, escalates and
delivers, on the wall clock, until stopped (SIGINT or SIGTERM)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Any

from misper.api.settings import Settings


def add_commands(sub: Any) -> None:
    alerts = sub.add_parser("alerts", help="alerts: tell a duty's owner before it is late")
    alerts_sub = alerts.add_subparsers(required=True, metavar="ACTION")
    alerts_sub.add_parser(
        "run", help="run the alert dispatcher alone (judge, escalate, deliver) until stopped"
    ).set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imported here, as for the other commands that need the database: every worker process a
    # replay starts imports the command line's modules again, and needs none of it (about 40 MB
    # each).
    from misper.api.alerts.dispatcher import Dispatcher
    from misper.api.alerts.work import in_threads
    from misper.api.incidents.store import EVERY_FORCE, IncidentStore, redacted
    from misper.api.startup import load_registry, prepare_store

    settings = Settings.from_env()
    registry = load_registry(settings)
    prepare_store(settings, registry)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    store = IncidentStore(settings.store_url, EVERY_FORCE)
    dispatcher = Dispatcher(
        in_threads(store, registry, settings.webhook_retry_seconds), idle=settings.dispatcher_idle_seconds
    )
    print(f"misper: alert dispatcher running on {redacted(settings.store_url)}", file=sys.stderr)

    async def main() -> None:
        task = asyncio.create_task(dispatcher.run())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            pass

    asyncio.run(main())
    print("misper: alert dispatcher stopped", file=sys.stderr)
    return 0
