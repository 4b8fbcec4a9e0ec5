"""`misper replay`: evaluate a corpus of historical incidents (JSON Lines, one timeline per line,
`.gz` accepted) in complete mode, streaming, on every core, with the same output whatever the
number of workers (results come back in line order and are aggregated in one process).

A corpus line is a contract v1 timeline, optionally with `area` (the force's area, for the
report's breakdown) beside its fields. A line that is not valid is written to the errors file
with its number and reason, counted, and skipped."""

from __future__ import annotations

import gzip
import io
import json
import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import IO, Any

import orjson

from misper.engine.clock.localtime import to_epoch, zone
from misper.engine.contract.evaluation import Evaluation
from misper.engine.contract.parse import BROKEN, duplicate_keys, parse_timeline
from misper.engine.contract.timeline import Timeline
from misper.engine.errors import EngineError, InvalidTimeline
from misper.engine.inputs import choose_policy
from misper.engine.judging.judge import evaluate
from misper.engine.policy.registry import PolicyRegistry, registry_for

MAX_LINE_BYTES = 1024 * 1024
AHEAD = 4  # chunks in flight per worker
_STATE: dict[str, Any] = {}


@dataclass(frozen=True)
class Job:
    rules_dir: str
    policy: str | None
    compare: str | None


def open_corpus(path: str) -> IO[str]:
    """The corpus file (gzip when it ends in .gz; - is standard input), as text."""
    if path == "-":
        import sys

        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8")
    if path.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def _init(job: Job) -> None:
    _STATE["job"] = job
    _STATE["registry"] = registry_for(Path(job.rules_dir))


def replay_line(item: tuple[int, str]) -> dict[str, Any]:
    """One corpus line -> its result, or the reason it could not be evaluated. A result is small
    for the process that aggregates: the facts the summary counts and ``out``, the result line
    as JSON text (line, area, evaluation and, when comparing, the other policy's evaluation),
    written by the engine's own serialiser; only what needs more parses it back."""
    number, text = item
    job: Job = _STATE["job"]
    registry: PolicyRegistry = _STATE["registry"]
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
        policy = choose_policy(registry, timeline, job.policy, "--policy")
        evaluation = evaluate(timeline, policy)
        facts = incident_facts(timeline, policy, evaluation)
        out = f'{{"line":{number},"area":{orjson.dumps(area).decode()},"evaluation":'
        out += evaluation.to_json(indent=None)
        if job.compare:
            compared = evaluate(timeline, registry.get(job.compare))
            facts["compare"] = [_comparable(evaluation), _comparable(compared)]
            out += f',"compared":{compared.to_json(indent=None)}'
        return {"line": number, "area": area, "facts": facts, "out": out + "}"}
    except (ValueError, EngineError) as exc:
        reason = exc.message if isinstance(exc, EngineError) else str(exc)
        fields = [e.as_dict() for e in exc.errors] if isinstance(exc, EngineError) else []
        return {"line": number, "error": reason, "errors": fields}


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


def replay(lines: Iterable[str], job: Job, workers: int, chunk: int = 32) -> Iterator[dict[str, Any]]:
    """Results in line order. With one worker the work runs in this process. With more, at most
    ``AHEAD`` chunks per worker are in flight, so memory stays flat however long the corpus is
    (a pool's imap keeps every result the workers make until this process takes it)."""
    numbered = ((n, text) for n, text in enumerate(lines, start=1) if text.strip())
    if workers <= 1:
        _init(job)
        yield from map(replay_line, numbered)
        return
    context = multiprocessing.get_context("spawn")  # the rule engine's C core: never fork
    with context.Pool(workers, initializer=_init, initargs=(job,)) as pool:
        pending: deque[AsyncResult[list[dict[str, Any]]]] = deque()
        while items := list(islice(numbered, chunk)):
            pending.append(pool.apply_async(_replay_items, (items,)))
            if len(pending) >= AHEAD * workers:
                yield from pending.popleft().get()
        while pending:
            yield from pending.popleft().get()


def _replay_items(items: list[tuple[int, str]]) -> list[dict[str, Any]]:
    return [replay_line(item) for item in items]


def replay_chunk(
    rules_dir: str,
    hashes: dict[str, str],
    policy: str | None,
    compare: str | None,
    items: list[tuple[int, str]],
) -> list[dict[str, Any]]:
    """A chunk of corpus lines, in a server's worker process (the rules checked at start-up)."""
    from misper.engine.jobs import registry_checked

    job = Job(rules_dir, policy, compare)
    if _STATE.get("job") != job:
        _STATE["job"] = job
        _STATE["registry"] = registry_checked(rules_dir, hashes)
    return _replay_items(items)
