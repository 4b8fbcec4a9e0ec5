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
import heapq
import io
import json
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import IO, Any, TypeVar

import orjson

from misper.api.replay.summary import TOP, Summary
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
AHEAD = 4  # chunks (or blocks) in flight per worker
BLOCK = 512 * 1024  # characters of corpus text a worker is given at once (about 250 lines)
FIRST_BLOCK = 32 * 1024  # the first blocks are smaller, so every worker has work soon
_STATE: dict[str, Any] = {}
_MINUTE = timedelta(minutes=1)
_T = TypeVar("_T")


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


def _init(rules_dir: str, options: ReplayOptions, wanted: Wanted | None = None) -> None:
    _STATE["options"] = options
    _STATE["registry"] = registry_for(Path(rules_dir))
    if wanted is not None:
        _STATE["blocks"] = BlockJudge(_STATE["registry"], options, wanted)


@dataclass
class _Judged:
    """One line judged: what its result line, its findings' rows and the summary are made of."""

    number: int
    area: str | None
    timeline: Timeline
    evaluation: Evaluation
    compared: Evaluation | None
    facts: dict[str, Any]
    _json: str | None = None

    def evaluation_json(self) -> str:
        """The evaluation as JSON text, written once for the result line and the rows alike."""
        if self._json is None:
            self._json = self.evaluation.to_json(indent=None)
        return self._json

    def out(self) -> str:
        """The result line as JSON text (line, area, evaluation and, when comparing, the other
        policy's evaluation), written by the engine's own serialiser."""
        out = f'{{"line":{self.number},"area":{orjson.dumps(self.area).decode()},"evaluation":'
        out += self.evaluation_json()
        if self.compared is not None:
            out += f',"compared":{self.compared.to_json(indent=None)}'
        return out + "}"


def _judge(registry: PolicyRegistry, options: ReplayOptions, number: int, text: str) -> _Judged:
    """One corpus line judged, or a ValueError or EngineError saying why it cannot be."""
    if len(text) > MAX_LINE_BYTES:
        raise ValueError(f"the line is over {MAX_LINE_BYTES} bytes")
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"the line is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ValueError("a line is one JSON object (a contract v1 timeline)")
    given = dict(body)  # as the line gave it, before area goes and the mode is set
    area = body.pop("area", None)
    if area is not None and (not isinstance(area, str) or len(area) > 100):
        raise ValueError("area is text of at most 100 characters")
    body.setdefault("mode", "complete")
    timeline = _parse(text, body, given)
    judged = evaluation(registry, timeline, EvaluationAsk(policy=options.policy, force=options.force))
    force = timeline.force or options.force or registry.default_force()
    facts = _facts(timeline, registry.get(judged.policy.id), judged)
    facts["force"] = force
    other = options.compared(registry, force) if force else None
    compared = None
    if other:
        # Deliberately another policy than the line's own: not the use case's agreement check.
        compared = evaluate(timeline, registry.get(other))
        facts["compare"] = [_comparable(judged), _comparable(compared)]
    return _Judged(number, area, timeline, judged, compared, facts)


def _refused(number: int, exc: ValueError | EngineError, options: ReplayOptions) -> dict[str, Any]:
    """A line that could not be evaluated: its number and the reason (with the fields at fault)."""
    reason = exc.message if isinstance(exc, EngineError) else str(exc)
    errors = relabelled(exc.errors, dict(options.labels)) if isinstance(exc, EngineError) else []
    return {"line": number, "error": reason, "errors": [e.as_dict() for e in errors]}


def replay_line(registry: PolicyRegistry, options: ReplayOptions, item: tuple[int, str]) -> dict[str, Any]:
    """One corpus line -> its result, or the reason it could not be evaluated. A result holds
    the facts the summary counts and ``out``, the result line as JSON text; only what needs
    more parses it back."""
    number, text = item
    try:
        judged = _judge(registry, options, number, text)
        facts = judged.facts
        facts["events"] = _events(judged.timeline)
        return {"line": number, "area": judged.area, "facts": facts, "out": judged.out()}
    except (ValueError, EngineError) as exc:
        return _refused(number, exc, options)


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


def _parse(text: str, body: dict[str, Any], given: dict[str, Any]) -> Timeline:
    """The line's timeline; a key repeated in one object of the line is refused, as over HTTP
    (the parsed body keeps only one of the two values). A line that is exactly what the JSON
    serialiser writes of what was parsed from it cannot repeat a key, so only other lines are
    scanned for repeats (the scan costs a fifth as much as the timeline's own checks)."""
    raw = orjson.dumps(body)
    repeated = [] if _as_serialised(text, given) else duplicate_keys(text)
    try:
        timeline = parse_timeline(raw, keys_checked=True)
    except InvalidTimeline as exc:
        raise InvalidTimeline(exc.message, repeated + exc.errors) from None
    if repeated:
        raise InvalidTimeline(BROKEN, repeated)
    return timeline


def _as_serialised(text: str, given: dict[str, Any]) -> bool:
    """Whether the line is, byte for byte, the serialiser's writing of the object parsed from it
    (a newline at its end aside)."""
    written = orjson.dumps(given)
    line = text.encode()
    return line == written or (line[:-1] == written and line[-1:] == b"\n")


def _facts(timeline: Any, policy: Any, evaluation: Evaluation) -> dict[str, Any]:
    """What the summary counts of one incident (small: the full evaluation is not kept). Its
    events (``_events``) are added only where they may be drawn: in the report, for the few
    incidents with the most breaches."""
    control_room = policy.control_room
    # The first grading by the control room in time (the earliest in the array among equals).
    initial, first = None, None
    for e in timeline.events:
        if e.type == "risk_graded" and e.by in control_room and (first is None or e.at < first):
            initial, first = e.grade, e.at
    report = timeline.report().at
    local = datetime.fromtimestamp(to_epoch(report), zone(policy.meta.timezone))
    delays = []
    applicable = set()
    for d in evaluation.deadlines:
        status = d.status  # compared as text: asking an enum member for its value is slow
        if status != "not_applicable":
            applicable.add(d.clause)
        if status == "met" or status == "met_late":
            delays.append([d.id, d.clause, _minutes_late(d.met_at, d.due_at)])  # type: ignore[arg-type]
        elif status == "breached":
            delays.append([d.id, d.clause, None])
    findings = [[f.clause, f.severity.value] for f in evaluation.findings]
    breached = {clause for clause, severity in findings if severity == "breach"}
    grade = evaluation.grade
    return {
        "incident_id": timeline.incident_id,
        "child_id": timeline.child.child_id,
        "policy": evaluation.policy.id,
        "month": f"{local:%Y-%m}",
        "initial_grade": initial.value if initial else None,
        "final_grade": grade.current.value if grade.current else None,
        "recommended_grade": grade.recommended.value,
        "applicable": sorted(applicable),
        "breached": sorted(breached),
        "breaches": sum(severity == "breach" for _, severity in findings),
        "quality": evaluation.quality.rating if evaluation.quality else None,
        "findings": findings,
        "delays": delays,
    }


def _minutes_late(met_at: str, due_at: str) -> int:
    """Whole minutes from due to met (negative when early), between whole epoch seconds."""
    met, due = datetime.fromisoformat(met_at), datetime.fromisoformat(due_at)
    if met.microsecond or due.microsecond:  # not whole seconds: each rounded down first
        return int((to_epoch(met) - to_epoch(due)) // 60)
    return (met - due) // _MINUTE


def _events(timeline: Any) -> list[dict[str, Any]]:
    """The incident's events in time order, for the report's drawing of the incidents with the
    most breaches (no free text). (Plain lookups: a missing attribute on a model is slow to ask
    for.)"""
    return [
        {
            "id": e.id,
            "type": e.type,
            "at": e.at.isoformat(),
            "by": _text(e.__dict__.get("by")),
            "grade": _text(e.__dict__.get("grade")),
        }
        for e in sorted(timeline.events, key=lambda e: e.at)
    ]


def _text(value: Any) -> str | None:
    """An enum member as its plain text (cheaper to send between processes)."""
    return None if value is None else str(value)


def replay(
    lines: Iterable[str], rules_dir: str, options: ReplayOptions, workers: int, chunk: int = 32
) -> Iterator[dict[str, Any]]:
    """Results in line order. With one worker the work runs in this process; with more, in
    chunks of ``chunk`` lines, a bounded number at once, so memory stays flat however long the
    corpus is."""
    numbered = ((n, text) for n, text in enumerate(lines, start=1) if text.strip())
    if workers <= 1:
        registry = registry_for(Path(rules_dir))
        yield from (replay_line(registry, options, item) for item in numbered)
        return
    chunks = ((items,) for items in iter(lambda: list(islice(numbered, chunk)), []))
    for results in _in_order(workers, (rules_dir, options), _replay_items, chunks):
        yield from results


def _in_order(
    workers: int, initargs: tuple[Any, ...], work: Callable[..., _T], jobs: Iterable[tuple[Any, ...]]
) -> Iterator[_T]:
    """What ``work`` gives for each job, in the jobs' order, from ``workers`` processes. At most
    ``AHEAD`` jobs per worker are in flight (a pool's imap keeps every answer the workers make
    until this process takes it). (Not multiprocessing's Pool: its thread that looks after the
    workers wakes whenever an answer is waiting to be read, and while this process is busy it
    spins, taking a core's time from the workers.)"""
    context = multiprocessing.get_context("spawn")  # the rule engine's C core: never fork
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init, initargs=initargs) as pool:
        pending: deque[Future[_T]] = deque()
        try:
            for args in jobs:
                pending.append(pool.submit(work, *args))
                if len(pending) >= AHEAD * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for job in pending:  # given up on (an error, or the caller stopped reading)
                job.cancel()


def _replay_items(items: list[tuple[int, str]]) -> list[dict[str, Any]]:
    return judge_chunk(_STATE["registry"], _STATE["options"], items)


def judge_chunk(
    registry: PolicyRegistry, options: ReplayOptions, items: list[tuple[int, str]]
) -> list[dict[str, Any]]:
    """A chunk of numbered corpus lines -> their results."""
    return [replay_line(registry, options, item) for item in items]


@dataclass(frozen=True)
class Wanted:
    """What the process that writes keeps of each incident beside the summary: its result line
    (for a results file) and its findings' rows (for a CSV file). Nothing else is made."""

    results: bool = False
    rows: bool = False


@dataclass
class Block:
    """A block of corpus lines judged: how many lines it held (blank ones aside), the text of
    their result lines, findings' rows and refused lines as each file takes it, and the summary
    of its incidents (merged, block after block, into the replay's)."""

    lines: int
    results: str
    rows: str
    refused: str
    summary: Summary


class BlockJudge:
    """Judges blocks of a corpus in one process, for one replay. It remembers the incidents with
    the most breaches it has seen: an incident outranked by as many others as the summary keeps
    cannot be among the replay's most breached, so its result line and events are made only
    when a file wants them."""

    def __init__(self, registry: PolicyRegistry, options: ReplayOptions, wanted: Wanted) -> None:
        self.registry = registry
        self.options = options
        self.wanted = wanted
        self.best: list[tuple[int, int]] = []  # (breaches, -line): the summary's order

    def __call__(self, first: int, text: str) -> Block:
        summary = Summary()
        results: list[str] = []
        refused: list[str] = []
        rows = io.StringIO()
        table = csv.writer(rows, lineterminator="\n") if self.wanted.rows else None
        count = 0
        for number, line in _numbered(first, text):
            count += 1
            try:
                judged = _judge(self.registry, self.options, number, line)
                key = (judged.facts["breaches"], -number)
                ranked = len(self.best) < TOP or key > self.best[0]
                result: dict[str, Any] = {"line": number, "area": judged.area, "facts": judged.facts}
                if ranked:
                    judged.facts["events"] = _events(judged.timeline)
                if ranked or self.wanted.results:
                    result["out"] = judged.out()
            except (ValueError, EngineError) as exc:
                result = _refused(number, exc, self.options)
                summary.add(result)
                refused.append(json.dumps(result, separators=(",", ":")) + "\n")
                continue
            if ranked:
                (heapq.heappush if len(self.best) < TOP else heapq.heapreplace)(self.best, key)
            summary.add(result, ranked=ranked)
            if self.wanted.results:
                results.append(result["out"] + "\n")
            if table is not None:  # read back from the JSON, so the rows hold the values as written
                _rows(table, number, judged.area, orjson.loads(judged.evaluation_json()))
        return Block(count, "".join(results), rows.getvalue(), "".join(refused), summary)


def _numbered(first: int, text: str) -> Iterator[tuple[int, str]]:
    """The lines of a block of whole lines whose first is line ``first``, numbered, each ending
    in its newline as the file gave it (blank ones skipped, numbers kept)."""
    pieces = text.split("\n")
    last = pieces.pop()  # after the block's last newline: empty, but at the end of a file
    for number, piece in enumerate(pieces, start=first):
        if piece.strip():
            yield number, piece + "\n"
    if last.strip():
        yield first + len(pieces), last


def _blocks(corpus: IO[str], size: int) -> Iterator[tuple[int, str]]:
    """The corpus in blocks of whole lines of about ``size`` characters (the first ones smaller,
    growing), each with the number of its first line. Lines end at a newline only, as when the
    file is read line by line."""
    number, ask = 1, min(size, FIRST_BLOCK)
    while text := corpus.read(ask):
        if not text.endswith("\n"):
            text += corpus.readline()
        yield number, text
        number += text.count("\n")
        ask = min(size, ask * 2)


def judge_corpus(
    corpus: IO[str], rules_dir: str, options: ReplayOptions, wanted: Wanted, workers: int, size: int = BLOCK
) -> Iterator[Block]:
    """The corpus's blocks judged, in order. With one worker the work runs in this process. With
    more, a block's lines travel as one text and come back as the text of each file and a
    summary, so this process, which shares the cores with the workers, does little per line;
    at most ``AHEAD`` blocks per worker are in flight, so memory stays flat."""
    blocks = _blocks(corpus, size)
    if workers <= 1:
        judge = BlockJudge(registry_for(Path(rules_dir)), options, wanted)
        yield from (judge(first, text) for first, text in blocks)
        return
    yield from _in_order(workers, (rules_dir, options, wanted), _judge_block, blocks)


def _judge_block(first: int, text: str) -> Block:
    return _STATE["blocks"](first, text)  # type: ignore[no-any-return]


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
    watch: Callable[[Iterator[Block]], Iterator[Block]] = lambda blocks: blocks,
) -> dict[str, Any]:
    """Replay a corpus file, writing each result where ``files`` says; returns the summary (also
    written as a file or the report when asked). ``watch`` sees the judged blocks go by (a
    progress bar)."""
    options.check(registry)
    summary = Summary()
    wanted = Wanted(results=bool(files.out), rows=bool(files.csv))
    with ExitStack() as opened:
        lines = opened.enter_context(open_corpus(corpus))
        out = opened.enter_context(open(files.out, "w", encoding="utf-8")) if files.out else None
        errors = opened.enter_context(open(files.errors_path, "w", encoding="utf-8"))
        table = None
        if files.csv:
            table = opened.enter_context(open(files.csv, "w", encoding="utf-8", newline=""))
            csv.DictWriter(table, CSV_FIELDS, lineterminator="\n").writeheader()
        for block in watch(judge_corpus(lines, rules_dir, options, wanted, workers)):
            summary.merge(block.summary)
            errors.write(block.refused)
            if out:
                out.write(block.results)
            if table:
                table.write(block.rows)
    data = summary.as_dict(registry)
    data["errors_file"] = files.errors_path
    if files.report:
        from misper.api.replay.report import write_report

        write_report(Path(files.report), data, registry)
    if files.summary:
        Path(files.summary).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return data


def _rows(table: Any, number: int, area: str | None, evaluation: dict[str, Any]) -> None:
    """One row per finding (in ``CSV_FIELDS`` order), each with its incident's quality rating;
    an incident with no finding has one row with its rating alone, so every incident's rating
    is in the file."""
    incident = [number, evaluation["incident_id"], area or "", evaluation["policy"]["id"]]
    rating = (evaluation.get("quality") or {}).get("rating", "")
    if not evaluation["findings"]:
        table.writerow([*incident, "", "", "", "", "", "", "", "", rating])
    for f in evaluation["findings"]:
        table.writerow(
            [
                *incident,
                f["clause"],
                f["code"],
                f["severity"],
                f["at"],
                f["rule"],
                f["basis"] or "",
                " ".join(f["evidence"]),
                f["message"],
                rating,
            ]
        )
