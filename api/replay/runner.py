"""Audit replay: evaluate a corpus of historical incidents (JSON Lines, one timeline per line,
`.gz` accepted) in complete mode, streaming, on every core, with the same output whatever the
number of workers (results come back in line order and are aggregated in one process).

A corpus line is a contract v1 timeline, optionally with `area` (the force's area, for the
report's breakdown) beside its fields; its `force` (contract v1) says whose policy judges it
(else the replaying key's force, else the rules' default force). A force's auditor replays only
its own force's lines. A line that is not valid is written to the errors file with its number
and reason, counted, and skipped."""

from __future__ import annotations

import csv
import gzip
import io
import json
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import IO, Any

import orjson

from misper.api.replay.summary import Summary
from misper.engine.contract.evaluation import Evaluation
from misper.engine.contract.parse import BROKEN, duplicate_keys, parse_timeline
from misper.engine.contract.timeline import Timeline
from misper.engine.errors import (
    EngineError,
    FieldError,
    InvalidRequest,
    InvalidTimeline,
    UnknownPolicy,
    relabelled,
)
from misper.engine.judging.judge import evaluate
from misper.engine.localtime import to_epoch, zone
from misper.engine.policy.registry import PolicyRegistry, registry_for
from misper.engine.usecases import EvaluationAsk, evaluation

MAX_LINE_BYTES = 1024 * 1024
AHEAD = 4  # chunks in flight per worker
_STATE: dict[str, Any] = {}


@dataclass(frozen=True)
class ReplayOptions:
    """What a replay is asked, by either way in. ``labels`` name the parameters (``policy``,
    ``compare``) as that way in calls them, for the errors of refused lines. ``compare`` holds
    at most one policy per force: each line is compared with the one its force may be judged by
    (its own force's, else a national one). ``force`` is the replaying key's (None: the
    inspectorate's, or the command line: each line's own)."""

    policy: str | None = None
    compare: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    force: str | None = None

    def check(self, registry: PolicyRegistry) -> None:
        """An unknown policy id (or, to a force's key, another force's) stops the replay before
        any line is read, naming the parameter; so do two compared policies of one force."""
        for name, values in (("policy", (self.policy,) if self.policy else ()), ("compare", self.compare)):
            for value in values:
                try:
                    registry.usable(value, self.force)
                except UnknownPolicy as exc:
                    raise UnknownPolicy(
                        exc.message, [FieldError(name, exc.message, parameter=True)]
                    ) from None
        owners = [registry.get(p).meta.force for p in self.compare]
        twice = sorted({str(f or "national") for f in owners if owners.count(f) > 1})
        if twice:
            message = f"compare with one policy per force; {', '.join(twice)} has more than one"
            raise InvalidRequest(message, [FieldError("compare", message, parameter=True)])

    def compared(self, registry: PolicyRegistry, force: str) -> str | None:
        """The policy a line of ``force`` is compared with: its force's own, else a national one."""
        mine = [p for p in self.compare if registry.get(p).meta.force == force]
        national = [p for p in self.compare if registry.get(p).meta.force is None]
        return next(iter(mine + national), None)


def open_corpus(path: str) -> IO[str]:
    """The corpus file (gzip when it ends in .gz; - is standard input), as text whose lines end
    at a newline only (a lone carriage return does not end a line, as over HTTP)."""
    if path == "-":
        import sys

        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", newline="\n")
    if path.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="\n")
    return open(path, encoding="utf-8", newline="\n")


def _init(rules_dir: str, options: ReplayOptions) -> None:
    _STATE["options"] = options
    _STATE["registry"] = registry_for(Path(rules_dir))


def replay_line(registry: PolicyRegistry, options: ReplayOptions, item: tuple[int, str]) -> dict[str, Any]:
    """One corpus line -> its result, or the reason it could not be evaluated. A result is small
    for the process that aggregates: the facts the summary counts and ``out``, the result line
    as JSON text (line, area, evaluation and, when comparing, the other policy's evaluation),
    written by the engine's own serialiser; only what needs more parses it back."""
    number, text = item
    try:
        if len(text) > MAX_LINE_BYTES:
            raise ValueError(f"the line is over {MAX_LINE_BYTES} bytes")
        try:
            body = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"the line is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise ValueError("a line is one JSON object (a contract v1 timeline)")
        area = body.pop("area", None)
        if area is not None and (not isinstance(area, str) or len(area) > 100):
            raise ValueError("area is text of at most 100 characters")
        body.setdefault("mode", "complete")
        timeline = _parse(text, body)
        judged = evaluation(registry, timeline, EvaluationAsk(policy=options.policy, force=options.force))
        force = timeline.force or options.force or registry.default_force()
        facts = incident_facts(timeline, registry.get(judged.policy.id), judged)
        facts["force"] = force
        out = f'{{"line":{number},"area":{orjson.dumps(area).decode()},"evaluation":'
        out += judged.to_json(indent=None)
        other = options.compared(registry, force) if force else None
        if other:
            # Deliberately another policy than the line's own: not the use case's agreement check.
            compared = evaluate(timeline, registry.get(other))
            facts["compare"] = [_comparable(judged), _comparable(compared)]
            out += f',"compared":{compared.to_json(indent=None)}'
        return {"line": number, "area": area, "facts": facts, "out": out + "}"}
    except (ValueError, EngineError) as exc:
        reason = exc.message if isinstance(exc, EngineError) else str(exc)
        errors = relabelled(exc.errors, dict(options.labels)) if isinstance(exc, EngineError) else []
        return {"line": number, "error": reason, "errors": [e.as_dict() for e in errors]}


def result_line(result: dict[str, Any]) -> dict[str, Any]:
    """A result's line as data: line, area, evaluation (and compared)."""
    return json.loads(result["out"])  # type: ignore[no-any-return]


def _comparable(evaluation: Evaluation) -> dict[str, Any]:
    """What a comparison of two policies looks at."""
    return {
        "recommended": evaluation.grade.recommended.value,
        "required_role": evaluation.oversight.required_role.value
        if evaluation.oversight.required_role
        else None,
        "codes": sorted({str(f.code) for f in evaluation.findings if f.severity.value != "warning"}),
        "quality": evaluation.quality.rating if evaluation.quality else None,
    }


def _parse(text: str, body: dict[str, Any]) -> Timeline:
    """The line's timeline; a key repeated in one object of the line is refused, as over HTTP
    (the parsed body keeps only one of the two values)."""
    repeated = duplicate_keys(text)
    try:
        timeline = parse_timeline(orjson.dumps(body), keys_checked=True)
    except InvalidTimeline as exc:
        raise InvalidTimeline(exc.message, repeated + exc.errors) from None
    if repeated:
        raise InvalidTimeline(BROKEN, repeated)
    return timeline


def incident_facts(timeline: Any, policy: Any, evaluation: Evaluation) -> dict[str, Any]:
    """What the summary counts of one incident (small: the full evaluation is not kept)."""
    control_room = policy.control_room
    events = sorted(timeline.events, key=lambda e: e.at)
    initial = next((e.grade for e in events if e.type == "risk_graded" and e.by in control_room), None)
    report = timeline.report().at
    local = datetime.fromtimestamp(to_epoch(report), zone(policy.meta.timezone))
    delays = []
    for d in evaluation.deadlines:
        status = d.status.value
        if status in ("met", "met_late"):
            late = (
                to_epoch(datetime.fromisoformat(d.met_at)) - to_epoch(datetime.fromisoformat(d.due_at))  # type: ignore[arg-type]
            ) // 60
            delays.append([d.id, d.clause, int(late)])
        elif status == "breached":
            delays.append([d.id, d.clause, None])
    findings = [[f.clause, f.severity.value] for f in evaluation.findings]
    grade = evaluation.grade
    return {
        "incident_id": timeline.incident_id,
        "child_id": timeline.child.child_id,
        "policy": evaluation.policy.id,
        "month": f"{local:%Y-%m}",
        "initial_grade": initial.value if initial else None,
        "final_grade": grade.current.value if grade.current else None,
        "recommended_grade": grade.recommended.value,
        "applicable": sorted({d.clause for d in evaluation.deadlines if d.status.value != "not_applicable"}),
        "breached": sorted({clause for clause, severity in findings if severity == "breach"}),
        "breaches": sum(severity == "breach" for _, severity in findings),
        "quality": evaluation.quality.rating if evaluation.quality else None,
        "findings": findings,
        "delays": delays,
        # For the report's drawing of the incidents with the most breaches (no free text).
        # (Plain lookups: a missing attribute on a model is slow to ask for.)
        "events": [
            {
                "id": e.id,
                "type": e.type,
                "at": e.at.isoformat(),
                "by": _text(e.__dict__.get("by")),
                "grade": _text(e.__dict__.get("grade")),
            }
            for e in events
        ],
    }


def _text(value: Any) -> str | None:
    """An enum member as its plain text (cheaper to send between processes)."""
    return None if value is None else str(value)


def replay(
    lines: Iterable[str], rules_dir: str, options: ReplayOptions, workers: int, chunk: int = 32
) -> Iterator[dict[str, Any]]:
    """Results in line order. With one worker the work runs in this process. With more, at most
    ``AHEAD`` chunks per worker are in flight, so memory stays flat however long the corpus is
    (a pool's imap keeps every result the workers make until this process takes it)."""
    numbered = ((n, text) for n, text in enumerate(lines, start=1) if text.strip())
    if workers <= 1:
        registry = registry_for(Path(rules_dir))
        yield from (replay_line(registry, options, item) for item in numbered)
        return
    context = multiprocessing.get_context("spawn")  # the rule engine's C core: never fork
    with context.Pool(workers, initializer=_init, initargs=(rules_dir, options)) as pool:
        pending: deque[AsyncResult[list[dict[str, Any]]]] = deque()
        while items := list(islice(numbered, chunk)):
            pending.append(pool.apply_async(_replay_items, (items,)))
            if len(pending) >= AHEAD * workers:
                yield from pending.popleft().get()
        while pending:
            yield from pending.popleft().get()


def _replay_items(items: list[tuple[int, str]]) -> list[dict[str, Any]]:
    return judge_chunk(_STATE["registry"], _STATE["options"], items)


def judge_chunk(
    registry: PolicyRegistry, options: ReplayOptions, items: list[tuple[int, str]]
) -> list[dict[str, Any]]:
    """A chunk of numbered corpus lines -> their results."""
    return [replay_line(registry, options, item) for item in items]


def corpus_lines(text: str) -> list[tuple[int, str]]:
    """A corpus held in memory, as numbered lines (blank ones skipped, numbers kept). Lines end
    at a newline only: U+2028, U+2029 and U+0085, which str.splitlines also breaks on, are legal
    unescaped inside JSON strings."""
    return [(n, line) for n, line in enumerate(text.split("\n"), start=1) if line.strip()]


@dataclass
class Tally:
    """What a replay has given so far: the summary, and each result as the line it is written as
    (the evaluation's, or the refused line's number and reason)."""

    summary: Summary = field(default_factory=Summary)

    def take(self, result: dict[str, Any]) -> str:
        self.summary.add(result)
        return result["out"] if "out" in result else json.dumps(result, separators=(",", ":"))


@dataclass(frozen=True)
class ReplayFiles:
    """Where a replay to files writes: results (JSON Lines), findings (CSV), refused lines, the
    summary (printed when not given) and the inspection report (HTML)."""

    out: str | None = None
    csv: str | None = None
    errors: str | None = None
    summary: str | None = None
    report: str | None = None

    @property
    def errors_path(self) -> str:
        return self.errors or (f"{self.out}.errors.jsonl" if self.out else "replay-errors.jsonl")


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
    "rating",  # the incident's quality rating (added 2026-12-05, last so earlier columns keep their places)
]


def replay_to_files(
    corpus: str,
    registry: PolicyRegistry,
    rules_dir: str,
    options: ReplayOptions,
    files: ReplayFiles,
    workers: int,
    watch: Callable[[Iterator[dict[str, Any]]], Iterator[dict[str, Any]]] = lambda results: results,
) -> dict[str, Any]:
    """Replay a corpus file, writing each result where ``files`` says; returns the summary (also
    written as a file or the report when asked). ``watch`` sees the results go by (a progress
    bar)."""
    options.check(registry)
    tally = Tally()
    with ExitStack() as opened:
        lines = opened.enter_context(open_corpus(corpus))
        out = opened.enter_context(open(files.out, "w", encoding="utf-8")) if files.out else None
        errors = opened.enter_context(open(files.errors_path, "w", encoding="utf-8"))
        table = None
        if files.csv:
            handle = opened.enter_context(open(files.csv, "w", encoding="utf-8", newline=""))
            table = csv.DictWriter(handle, CSV_FIELDS, lineterminator="\n")
            table.writeheader()
        for result in watch(replay(lines, rules_dir, options, workers)):
            text = tally.take(result)
            if "error" in result:
                errors.write(text + "\n")
                continue
            if out:
                out.write(text + "\n")
            if table:
                _rows(table, result_line(result))
    data = tally.summary.as_dict(registry)
    data["errors_file"] = files.errors_path
    if files.report:
        from misper.api.replay.report import write_report

        write_report(Path(files.report), data, registry)
    if files.summary:
        Path(files.summary).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return data


def _rows(table: csv.DictWriter[str], result: dict[str, Any]) -> None:
    """One row per finding, each with its incident's quality rating; an incident with no finding
    has one row with its rating alone, so every incident's rating is in the file."""
    evaluation = result["evaluation"]
    incident = {
        "line": result["line"],
        "incident_id": evaluation["incident_id"],
        "area": result.get("area") or "",
        "policy": evaluation["policy"]["id"],
        "rating": (evaluation.get("quality") or {}).get("rating", ""),
    }
    if not evaluation["findings"]:
        table.writerow(incident)
    for f in evaluation["findings"]:
        table.writerow(
            {
                **incident,
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
