"""The replay as a command: read the corpus, evaluate, write results, findings, errors, the
summary and the report, with a progress bar on a terminal."""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from misper.api.replay.run import Job, open_corpus, replay, result_line
from misper.api.replay.summary import Summary
from misper.engine.policy.registry import PolicyRegistry

CSV_FIELDS = [
    "line",
    "incident_id",
    "area",
    "policy",
    "clause",
    "code",
    "severity",
    "at",
    "rule",
    "basis",
    "evidence",
    "message",
]


def run_replay(args: Any, registry: PolicyRegistry, rules_dir: Path) -> int:
    if args.policy:
        registry.get(args.policy)  # an unknown id stops the run before it starts
    if args.compare:
        registry.get(args.compare)
    job = Job(str(rules_dir), args.policy, args.compare)
    workers = args.workers or os.cpu_count() or 1
    summary = Summary()
    with ExitStack() as files:
        corpus = files.enter_context(open_corpus(args.corpus))
        out = files.enter_context(open(args.out, "w", encoding="utf-8")) if args.out else None
        errors_path = args.errors or (f"{args.out}.errors.jsonl" if args.out else "replay-errors.jsonl")
        errors = files.enter_context(open(errors_path, "w", encoding="utf-8"))
        table = None
        if args.csv:
            handle = files.enter_context(open(args.csv, "w", encoding="utf-8", newline=""))
            table = csv.DictWriter(handle, CSV_FIELDS, lineterminator="\n")
            table.writeheader()
        for result in _progress(replay(corpus, job, workers), args.corpus):
            summary.add(result)
            if "error" in result:
                errors.write(json.dumps(result, separators=(",", ":")) + "\n")
                continue
            if out:
                out.write(result["out"] + "\n")
            if table:
                _rows(table, result_line(result))
    data = summary.as_dict(registry)
    data["errors_file"] = errors_path
    if args.report:
        from misper.api.replay.report import write_report

        write_report(Path(args.report), data, registry)
    text = json.dumps(data, indent=2)
    if args.summary:
        Path(args.summary).write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    print(
        f"misper: {summary.incidents} incidents replayed, {summary.errors} lines refused (see {errors_path})",
        file=sys.stderr,
    )
    return 0


def _count(path: str) -> int | None:
    """The number of lines to replay, for the progress bar's time left (None for standard input)."""
    if path == "-":
        return None
    with open_corpus(path) as f:
        return sum(1 for t in f if t.strip())


def _progress(results: Iterator[dict[str, Any]], corpus: str) -> Iterator[dict[str, Any]]:
    """A progress bar with the rate and the time left, on a terminal only (only then is the
    corpus read once more to count its lines)."""
    if not sys.stderr.isatty():
        yield from results
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
        for result in results:
            bar.advance(task)
            yield result


def _rows(table: csv.DictWriter[str], result: dict[str, Any]) -> None:
    evaluation = result["evaluation"]
    for f in evaluation["findings"]:
        table.writerow(
            {
                "line": result["line"],
                "incident_id": evaluation["incident_id"],
                "area": result.get("area") or "",
                "policy": evaluation["policy"]["id"],
                "clause": f["clause"],
                "code": f["code"],
                "severity": f["severity"],
                "at": f["at"],
                "rule": f["rule"],
                "basis": f["basis"] or "",
                "evidence": " ".join(f["evidence"]),
                "message": f["message"],
            }
        )
