"""`misper evaluate` and `misper simulate`: a timeline file judged as the HTTP API judges one,
through the engine's one function per use case."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from misper.api.cli.common import RULES_HELP, read_input, registry
from misper.engine import parse_instant
from misper.engine.usecases import EvaluationAsk, SimulationAsk, evaluation, simulation


def add_commands(sub: Any) -> None:
    ev = sub.add_parser("evaluate", help="evaluate a timeline file and print the evaluation as JSON")
    ev.add_argument("file", help="a contract v1 timeline (JSON); - reads standard input")
    ev.add_argument("--as-of", help="judge at this instant (ISO 8601 with a UTC offset)")
    ev.add_argument("--policy", help="policy id; default: the version in force at the report")
    ev.add_argument("--rules", help=RULES_HELP)
    ev.add_argument("--trace", action="store_true", help="include the facts and the rules that fired")
    ev.add_argument(
        "--format",
        choices=["json", "text"],
        default="json",
        help="json (default, for scripts) or text: one screen for a person",
    )
    ev.add_argument(
        "--why-not",
        metavar="CODE",
        help="also say, for each rule that raises this finding code, which condition no fact met",
    )
    ev.set_defaults(func=evaluate)
    sim = sub.add_parser("simulate", help="step through an incident as a trainer does, without a server")
    sim.add_argument("file", help="a contract v1 timeline (JSON); - reads standard input")
    sim.add_argument("--at", help="only the state at this instant (ISO 8601 with a UTC offset)")
    sim.add_argument(
        "--until", help="stop at this instant (default: as_of, else the last event or due instant)"
    )
    sim.add_argument("--page", type=int, default=1, help="which page of a long simulation (default 1)")
    sim.add_argument("--policy", help="policy id; default: the version in force at the report")
    sim.add_argument("--rules", help=RULES_HELP)
    sim.add_argument("--format", choices=["json", "text"], default="json", help="json (default) or text")
    sim.set_defaults(func=simulate)


def _instant(name: str, text: str | None) -> Any:
    return parse_instant(name, text) if text else None


def evaluate(args: argparse.Namespace) -> int:
    raw = read_input(args.file)
    if raw is None:
        return 2
    ask = EvaluationAsk(
        policy=args.policy, as_of=_instant("as_of", args.as_of), trace=args.trace, why_not=args.why_not
    )
    result = evaluation(registry(args.rules), raw, ask)
    if args.format == "text":
        from misper.api.cli.text import render

        sys.stdout.write(render(result))
    else:
        print(result.to_json())
    return 0


def simulate(args: argparse.Namespace) -> int:
    raw = read_input(args.file)
    if raw is None:
        return 2
    ask = SimulationAsk(
        policy=args.policy, until=_instant("until", args.until), page=args.page, at=_instant("at", args.at)
    )
    result = simulation(registry(args.rules), raw, ask)
    if args.format == "text":
        from misper.api.cli.text import render_simulation

        sys.stdout.write(render_simulation(result))
    else:
        print(result.model_dump_json(indent=2))
    return 0
