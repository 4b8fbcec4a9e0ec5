"""Step-through simulation for trainers: the evaluation at every event instant and at every
instant a deadline becomes due soon or falls due, each with the findings new at that step.

A simulation is planned first (its steps and their cost, known from one evaluation at the
horizon) and refused before any step is worked out when it is too large; the steps are then
produced one at a time, so a caller can stream them without holding them all.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from engine.deadlines import due_soon_at
from engine.errors import FieldError, InvalidTimeline
from engine.evaluate import check_as_of, evaluate
from engine.evaluation import Deadline, DeadlineState, PolicyRef, Simulation, Step
from engine.loader import Policy
from engine.localtime import iso_local, to_epoch
from engine.timeline import Timeline

# Each step is an evaluation of the events up to it, so the work is the sum, over the steps, of
# the events at or before each step ("step-events"), about 110 us each on the reference machine
# (benchmarks/limits.py): this limit keeps the largest simulation to about 3.5 s.
MAX_WORK = 30_000


@dataclass(frozen=True)
class Plan:
    horizon: int
    policy: PolicyRef
    instants: list[tuple[int, list[str]]]  # (instant, why) in time order
    work: int


def plan(timeline: Timeline, policy: Policy, until: datetime | None = None) -> Plan:
    """The steps up to ``until`` (default: the timeline's as_of, else the last event or the last
    deadline instant, whichever is later), refused when their work is over MAX_WORK."""
    horizon = _horizon(timeline, policy, until)
    final = evaluate(timeline, policy, _dt(horizon, timeline))
    found = _instants(timeline, final.deadlines, horizon)
    event_instants = sorted(to_epoch(e.at) for e in timeline.events)
    work = sum(bisect_right(event_instants, at) for at in found)
    if work > MAX_WORK:
        raise InvalidTimeline(
            "the timeline is too large to simulate step by step",
            [
                FieldError(
                    "events",
                    f"{len(found)} steps over {len(timeline.events)} events is {work} step-events, over "
                    f"the limit of {MAX_WORK}; simulate a shorter span with until, or evaluate instead",
                )
            ],
        )
    instants = [(at, sorted(found[at])) for at in sorted(found)]
    return Plan(horizon, final.policy, instants, work)


def steps(timeline: Timeline, policy: Policy, planned: Plan) -> Iterator[Step]:
    """The planned steps, one evaluation each, in time order."""
    seen: set[tuple[str, tuple[str, ...], str]] = set()
    for at, triggers in planned.instants:
        result = evaluate(timeline, policy, _dt(at, timeline))
        new = [f for f in result.findings if (f.rule, tuple(f.evidence), f.severity) not in seen]
        seen |= {(f.rule, tuple(f.evidence), f.severity) for f in result.findings}
        yield Step.model_construct(
            at=result.as_of,
            triggers=triggers,
            mode=result.mode,
            grade=result.grade,
            oversight=result.oversight,
            deadlines=[
                DeadlineState.model_construct(
                    id=d.id, occurrence=d.occurrence, status=d.status, due_at=d.due_at
                )
                for d in result.deadlines
            ],
            new_findings=new,
        )


def header(timeline: Timeline, policy: Policy, planned: Plan) -> Simulation:
    """The simulation without its steps: what a streamed answer starts with."""
    return Simulation.model_construct(
        incident_id=timeline.incident_id,
        policy=planned.policy,
        until=iso_local(planned.horizon, policy.meta.timezone),
        steps=[],
    )


def simulate(timeline: Timeline, policy: Policy, until: datetime | None = None) -> Simulation:
    """The whole simulation at once (the CLI and tests; HTTP streams the same steps)."""
    planned = plan(timeline, policy, until)
    whole = header(timeline, policy, planned)
    return whole.model_copy(update={"steps": list(steps(timeline, policy, planned))})


def _dt(epoch: int, timeline: Timeline) -> datetime:
    return datetime.fromtimestamp(epoch, timeline.report().at.tzinfo)


def _horizon(timeline: Timeline, policy: Policy, until: datetime | None) -> int:
    if until is not None:
        check_as_of(timeline, until, "until")
        return to_epoch(until)
    if timeline.as_of is not None:
        return to_epoch(timeline.as_of)
    last_event = max(to_epoch(e.at) for e in timeline.events)
    at_last = evaluate(timeline, policy, _dt(last_event, timeline))
    dues = [
        to_epoch(datetime.fromisoformat(d.due_at))
        for d in at_last.deadlines
        if d.status in ("pending", "due_soon")
    ]
    return max([last_event, *dues])


def _instants(timeline: Timeline, deadlines: list[Deadline], horizon: int) -> dict[int, set[str]]:
    """Every instant worth a step, with why: events, due-soon thresholds and due instants."""
    out: dict[int, set[str]] = {}
    for event in timeline.events:
        at = to_epoch(event.at)
        if at <= horizon:
            out.setdefault(at, set()).add(f"event:{event.id}")
    for d in deadlines:
        start = to_epoch(datetime.fromisoformat(d.starts_at))
        due = to_epoch(datetime.fromisoformat(d.due_at))
        soon = due_soon_at(start, due)
        for at, why in ((soon, "due_soon"), (due, "due")):
            if at <= horizon:
                out.setdefault(at, set()).add(f"{why}:{d.id}#{d.occurrence}")
    return out
