"""`misper replay` and `misper synth`: audit replay of a corpus file, with a progress bar on a
terminal, and a synthetic corpus to try it on."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

from misper.api.cli.common import FLAG_LABELS, RULES_HELP, registry, rules_dir
from misper.api.replay.runner import Block, ReplayFiles, ReplayOptions, open_corpus, replay_to_files


def add_commands(sub: Any) -> None:
    rep = sub.add_parser(
        "replay", help="evaluate a corpus of historical incidents (JSON Lines) and report like an inspection"
    )
    rep.add_argument(
        "corpus", help="JSON Lines, one timeline per line (.gz accepted; - reads standard input)"
    )
    rep.add_argument(
        "--policy", help="judge every incident by this policy (default: the one in force at each report)"
    )
    rep.add_argument(
        "--compare",
        metavar="POLICY_ID",
        action="append",
        default=[],
        help="also judge by this policy and report what changes; with several forces, once per force "
        "(each line is compared with its force's, else a national one)",
    )
    rep.add_argument("--out", help="write each result as JSON Lines here")
    rep.add_argument("--csv", help="write every finding as a CSV row here")
    rep.add_argument("--report", help="write the inspection report, one self-contained HTML file, here")
    rep.add_argument("--summary", help="write the summary JSON here instead of printing it")
    rep.add_argument(
        "--errors", help="where refused lines go (default: OUT.errors.jsonl or replay-errors.jsonl)"
    )
    rep.add_argument("--workers", type=int, default=0, help="processes (default: every core)")
    rep.add_argument("--rules", help=RULES_HELP)
    rep.set_defaults(func=run_replay)
    syn = sub.add_parser("synth", help="print a synthetic year of incidents as JSON Lines (not real data)")
    syn.add_argument("--incidents", type=int, default=2800)
    syn.add_argument("--seed", type=int, default=1)
    syn.set_defaults(func=run_synth)


def run_replay(args: argparse.Namespace) -> int:
    compare = tuple(p.strip() for given in args.compare for p in given.split(",") if p.strip())
    options = ReplayOptions(args.policy, compare, tuple(FLAG_LABELS.items()))
    files = ReplayFiles(args.out, args.csv, args.errors, args.summary, args.report)
    data = replay_to_files(
        args.corpus,
        registry(args.rules),
        str(rules_dir(args.rules)),
        options,
        files,
        args.workers or os.cpu_count() or 1,
        watch=lambda results: _progress(results, args.corpus),
    )
    if not args.summary:
        print(json.dumps(data, indent=2))
    print(
        f"misper: {data['incidents']} incidents replayed, {data['errors']} lines refused "
        f"(see {files.errors_path})",
        file=sys.stderr,
    )
    print(f"misper: {quality_sentence(data)}", file=sys.stderr)
    return 0


def quality_sentence(data: dict[str, Any]) -> str:
    """The ratings as the inspectorate's case audit reads: 'of 30 incidents, 17 good, ...'."""
    q = data["quality"]
    return (
        f"of {data['incidents']:,} incidents, {q['good']:,} good, {q['requires_improvement']:,} "
        f"requiring improvement, {q['inadequate']:,} inadequate"
    )


def run_synth(args: argparse.Namespace) -> int:
    from misper.api.replay.synth import synth

    if args.incidents < 1:
        print("misper: --incidents must be at least 1", file=sys.stderr)
        return 2
    out = sys.stdout
    for line in synth(args.incidents, args.seed):
        out.write(line + "\n")
    return 0


def _count(path: str) -> int | None:
    """The number of lines to replay, for the progress bar's time left (None for standard input)."""
    if path == "-":
        return None
    with open_corpus(path) as f:
        return sum(1 for t in f if t.strip())


def _progress(blocks: Iterator[Block], corpus: str) -> Iterator[Block]:
    """A progress bar with the rate and the time left, on a terminal only (only then is the
    corpus read once more to count its lines); it moves a block of lines at a time."""
    if not sys.stderr.isatty():
        yield from blocks
        return
    total = _count(corpus)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):  # type: ignore[misc]
        def render(self, task: Any) -> Text:
            return Text(f"{task.speed:.0f} incidents/s" if task.speed else "")

    columns = [TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), Rate(), TimeRemainingColumn()]
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task("replay", total=total)
        for block in blocks:
            bar.advance(task, block.lines)
            yield block
