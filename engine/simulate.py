"""Step-through simulation for trainers: the evaluation at every event instant and at every
instant a deadline becomes due soon or falls due, each with the findings new at that step."""

from __future__ import annotations

from datetime import datetime

from engine.deadlines import DUE_SOON_PERCENT
from engine.errors import FieldError, InvalidTimeline
from engine.evaluate import check_as_of, evaluate
from engine.evaluation import DeadlineState, Evaluation, Simulation, Step
from engine.loader import Policy
from engine.localtime import iso_local
from engine.timeline import Timeline

# Each step is a full evaluation, so the work grows with steps x events: refuse, never truncate.
MAX_WORK = 200_000


def simulate(timeline: Timeline, policy: Policy, until: datetime | None = None) -> Simulation:
    """Steps in time order up to ``until`` (default: the timeline's as_of, else the last event
    or the last deadline instant, whichever is later)."""
    horizon = _horizon(timeline, policy, until)
    final = evaluate(timeline, policy, _dt(horizon, timeline))
    triggers = _instants(timeline, final, horizon)
    if len(triggers) * len(timeline.events) > MAX_WORK:
        raise InvalidTimeline(
            "the timeline is too large to simulate step by step",
            [
                FieldError(
                    "events",
                    f"{len(triggers)} steps of {len(timeline.events)} events is over the limit of "
                    f"{MAX_WORK} step-events; simulate a shorter span with until, or evaluate instead",
                )
            ],
        )
    steps: list[Step] = []
    seen: set[tuple[str, tuple[str, ...], str]] = set()
    for at in sorted(triggers):
        result = evaluate(timeline, policy, _dt(at, timeline))
        new = [f for f in result.findings if (f.rule, tuple(f.evidence), f.severity) not in seen]
        seen |= {(f.rule, tuple(f.evidence), f.severity) for f in result.findings}
        steps.append(
            Step.model_construct(
                at=result.as_of,
                triggers=sorted(triggers[at]),
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
        )
    return Simulation.model_construct(
        incident_id=timeline.incident_id,
        policy=final.policy,
        until=iso_local(horizon, policy.meta.timezone),
        steps=steps,
    )


def _dt(epoch: int, timeline: Timeline) -> datetime:
    return datetime.fromtimestamp(epoch, timeline.report().at.tzinfo)


def _horizon(timeline: Timeline, policy: Policy, until: datetime | None) -> int:
    if until is not None:
        check_as_of(timeline, until, "until")
        return int(until.timestamp() // 1)
    if timeline.as_of is not None:
        return int(timeline.as_of.timestamp() // 1)
    last_event = max(int(e.at.timestamp() // 1) for e in timeline.events)
    at_last = evaluate(timeline, policy, _dt(last_event, timeline))
    dues = [
        int(datetime.fromisoformat(d.due_at).timestamp())
        for d in at_last.deadlines
        if d.status in ("pending", "due_soon")
    ]
    return max([last_event, *dues])


def _instants(timeline: Timeline, final: Evaluation, horizon: int) -> dict[int, set[str]]:
    """Every instant worth a step, with why: events, due-soon thresholds and due instants."""
    out: dict[int, set[str]] = {}
    for event in timeline.events:
        at = int(event.at.timestamp() // 1)
        if at <= horizon:
            out.setdefault(at, set()).add(f"event:{event.id}")
    for d in final.deadlines:
        start = int(datetime.fromisoformat(d.starts_at).timestamp())
        due = int(datetime.fromisoformat(d.due_at).timestamp())
        soon = start + -(-(due - start) * DUE_SOON_PERCENT // 100)  # first whole second at 75%
        for at, why in ((soon, "due_soon"), (due, "due")):
            if at <= horizon:
                out.setdefault(at, set()).add(f"{why}:{d.id}#{d.occurrence}")
    return out
