"""`misper replay`: evaluate a corpus of historical incidents (JSON Lines, one timeline per line,
`.gz` accepted) in complete mode, streaming, on every core, with the same output whatever the
number of workers (results come back in line order and are aggregated in one process).

A corpus line is a contract v1 timeline, optionally with `area` (the force's area, for the
report's breakdown) beside its fields. A line that is not valid is written to the errors file
with its number and reason, counted, and skipped."""

from __future__ import annotations

import gzip
import io
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

from engine.clock.localtime import to_epoch, zone
from engine.contract.parse import duplicate_keys, parse_timeline
from engine.contract.timeline import Timeline
from engine.errors import EngineError, InvalidTimeline
from engine.inputs import choose_policy
from engine.judging.judge import evaluate
from engine.policy.registry import PolicyRegistry, registry_for

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
    """One corpus line -> its result: the evaluation(s) and the facts the summary counts, or the
    reason it could not be evaluated."""
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
        result = orjson.loads(evaluate(timeline, policy).to_json(indent=None))
        out: dict[str, Any] = {
            "line": number,
            "area": area,
            "evaluation": result,
            "facts": incident_facts(timeline, policy, result),
        }
        if job.compare:
            other = registry.get(job.compare)
            out["compared"] = orjson.loads(evaluate(timeline, other).to_json(indent=None))
        return out
    except (ValueError, EngineError) as exc:
        reason = exc.message if isinstance(exc, EngineError) else str(exc)
        fields = [e.as_dict() for e in exc.errors] if isinstance(exc, EngineError) else []
        return {"line": number, "error": reason, "errors": fields}


def _parse(text: str, body: dict[str, Any]) -> Timeline:
    """The line's timeline; a key repeated in one object of the line is refused, as over HTTP
    (the parsed body keeps only one of the two values)."""
    repeated = duplicate_keys(text)
    try:
        timeline = parse_timeline(orjson.dumps(body), keys_checked=True)
    except InvalidTimeline as exc:
        raise InvalidTimeline(exc.message, repeated + exc.errors) from None
    if repeated:
        raise InvalidTimeline("the timeline does not follow contract v1", repeated)
    return timeline


def incident_facts(timeline: Any, policy: Any, result: dict[str, Any]) -> dict[str, Any]:
    """What the summary counts of one incident (small: the full evaluation is not kept)."""
    control_room = policy.control_room
    initial = next(
        (
            e.grade
            for e in sorted(timeline.events, key=lambda e: e.at)
            if e.type == "risk_graded" and e.by in control_room
        ),
        None,
    )
    report = timeline.report().at
    local = datetime.fromtimestamp(to_epoch(report), zone(policy.meta.timezone))
    delays = []
    for d in result["deadlines"]:
        if d["status"] in ("met", "met_late"):
            late = (
                to_epoch(datetime.fromisoformat(d["met_at"])) - to_epoch(datetime.fromisoformat(d["due_at"]))
            ) // 60
            delays.append([d["id"], d["clause"], int(late)])
        elif d["status"] == "breached":
            delays.append([d["id"], d["clause"], None])
    return {
        "incident_id": timeline.incident_id,
        "child_id": timeline.child.child_id,
        "month": f"{local:%Y-%m}",
        "initial_grade": initial,
        "final_grade": result["grade"]["current"],
        "recommended_grade": result["grade"]["recommended"],
        "applicable": sorted({d["clause"] for d in result["deadlines"] if d["status"] != "not_applicable"}),
        "breached": sorted({f["clause"] for f in result["findings"] if f["severity"] == "breach"}),
        "breaches": sum(f["severity"] == "breach" for f in result["findings"]),
        "delays": delays,
        # For the report's drawing of the incidents with the most breaches (no free text).
        "events": [
            {
                "id": e.id,
                "type": e.type,
                "at": e.at.isoformat(),
                "by": getattr(e, "by", None),
                "grade": getattr(e, "grade", None),
            }
            for e in sorted(timeline.events, key=lambda e: e.at)
        ],
    }


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
    from engine.jobs import registry_checked

    job = Job(rules_dir, policy, compare)
    if _STATE.get("job") != job:
        _STATE["job"] = job
        _STATE["registry"] = registry_checked(rules_dir, hashes)
    return _replay_items(items)
