"""The `misper` command: evaluate a timeline file, list policy versions, validate a rules folder,
serve the HTTP API, manage keys, the incident database and audit replays."""

from __future__ import annotations

import argparse
import json
import sys

from misper.api.cli import alerts, incidents, judging, keys, policies, replay, serve
from misper.api.cli.common import FLAG_LABELS
from misper.engine import EngineError
from misper.engine.errors import relabelled
from misper.engine.version import __version__


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 0
    try:
        return int(args.func(args))
    except EngineError as exc:
        _print_error(exc, getattr(args, "file", None))
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="misper",
        description=__doc__,
        epilog="MISPER_RULES_DIR names another rules folder for every command; "
        "MISPER_DATA_DIR moves the data folder (keys).",
    )
    parser.add_argument("--version", action="version", version=f"misper {__version__}")
    sub = parser.add_subparsers(metavar="COMMAND")
    for group in (judging, policies, serve, keys, incidents, replay, alerts):
        group.add_commands(sub)
    return parser


def _print_error(exc: EngineError, file: str | None = None) -> None:
    errors = relabelled(exc.errors, FLAG_LABELS)
    body = {"error": exc.code, "message": exc.message, "errors": [e.as_dict() for e in errors]}
    if file is not None:
        body = {"file": "<stdin>" if file == "-" else file, **body}
    print(json.dumps(body, indent=2), file=sys.stderr)
