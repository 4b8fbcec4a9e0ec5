"""Step-through simulation for trainers: the evaluation at every event instant and at every
instant a deadline becomes due soon or falls due, each with the findings new at that step.

A simulation is planned first (its steps, known from one evaluation at the horizon, and the work
of each: one evaluation of the events up to it) and split into pages of bounded work, so one
request never does more than PAGE_WORK however long the incident; a caller asks for the next
page until it has them all.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from misper.engine.clock.context import Ordered, order_events
from misper.engine.clock.deadlines import due_soon_at
from misper.engine.contract.evaluation import (
    Deadline,
    DeadlineState,
    Evaluation,
    Finding,
    PolicyRef,
    Simulation,
    Step,
    StepEvent,
)
from misper.engine.contract.timeline import Timeline
from misper.engine.errors import FieldError, InvalidRequest
from misper.engine.judging.judge import check_as_of, evaluate, rule_clocks
from misper.engine.localtime import iso_local, to_epoch
from misper.engine.policy.model import Policy

# The work of a page: the sum, over its steps, of the events at or before each ("step-events"),
# about 110 us each on the reference machine (bench/limits.py), so a page takes at most
# about 3.5 s. A page always holds at least one step.
PAGE_WORK = 30_000


@dataclass(frozen=True)
class Plan:
    horizon: int
    policy: PolicyRef
    instants: list[tuple[int, list[str]]]  # (instant, why) in time order
    pages: list[tuple[int, int]]  # each page's steps, as [first, end) indexes into instants
    ordered: Ordered  # the timeline's events in time order, for every step's evaluation


def plan(timeline: Timeline, policy: Policy, until: datetime | None = None) -> Plan:
    """The steps up to ``until`` (default: the timeline's as_of, else the last event or the last
    deadline instant, whichever is later), in pages of at most PAGE_WORK step-events."""
    ordered = order_events(timeline)
    horizon = _horizon(timeline, policy, until, ordered)
    final = evaluate(timeline, policy, _dt(horizon, timeline), ordered=ordered)
    found = _instants(timeline, policy, final.deadlines, horizon)
    for at in rule_clocks(timeline, policy, _dt(horizon, timeline), ordered):
        found.setdefault(at, set()).add("rule_clock")
    instants = [(at, sorted(found[at])) for at in sorted(found)]
    event_instants = sorted(to_epoch(e.at) for e in timeline.events)
    pages: list[tuple[int, int]] = []
    first, work = 0, 0
    for i, (at, _) in enumerate(instants):
        cost = bisect_right(event_instants, at)
        if i > first and work + cost > PAGE_WORK:
            pages.append((first, i))
            first, work = i, 0
        work += cost
    pages.append((first, len(instants)))
    return Plan(horizon, final.policy, instants, pages, ordered)


def steps(timeline: Timeline, policy: Policy, planned: Plan, page: int = 1) -> Iterator[Step]:
    """One page's steps, one evaluation each, in time order. A step that has no event and changes
    nothing (no status, grade or oversight, no new finding) is left out. A step's new findings are
    those the step before did not have (for a page's first step, the instant before it)."""
    first, end = _page(planned, page)
    seen: set[tuple[str, ...]] = set()
    state: tuple[object, ...] = ()
    if first > 0:
        before = evaluate(
            timeline, policy, _dt(planned.instants[first - 1][0], timeline), ordered=planned.ordered
        )
        seen, state = _keys(before.findings), _state(before)
    by_instant: dict[int, list[StepEvent]] = {}
    for event in timeline.events:
        by_instant.setdefault(to_epoch(event.at), []).append(_event(event))
    for at, triggers in planned.instants[first:end]:
        result = evaluate(timeline, policy, _dt(at, timeline), ordered=planned.ordered)
        new = [f for f in result.findings if _key(f) not in seen]
        events = by_instant.get(at, [])
        changed = _state(result) != state
        seen, state = _keys(result.findings), _state(result)
        if not (events or new or changed):
            continue
        yield _step(result, triggers, new, events)


def state_at(timeline: Timeline, policy: Policy, at: datetime) -> Step:
    """The state at one instant (a trainer jumping to a time): every finding counts as new."""
    result = evaluate(timeline, policy, at)
    moment = to_epoch(at)
    events = [_event(e) for e in timeline.events if to_epoch(e.at) == moment]
    return _step(result, [f"event:{e.id}" for e in events] or ["at"], result.findings, events)


def _step(result: Evaluation, triggers: list[str], new: list[Finding], events: list[StepEvent]) -> Step:
    return Step.trusted(
        at=result.as_of,
        triggers=triggers,
        mode=result.mode,
        grade=result.grade,
        oversight=result.oversight,
        deadlines=[
            DeadlineState.trusted(
                id=d.id,
                occurrence=d.occurrence,
                status=d.status,
                due_at=d.due_at,
                clause=d.clause,
                owner=d.owner,
                duty=d.duty,
                starts_at=d.starts_at,
            )
            for d in result.deadlines
        ],
        new_findings=new,
        events=events,
        findings=result.findings,
    )


def _event(event: Any) -> StepEvent:
    return StepEvent.trusted(
        id=event.id,
        type=event.type,
        by=getattr(event, "by", None),
        grade=getattr(event, "grade", None),
        text=getattr(event, "text", None),
    )


def _state(result: Evaluation) -> tuple[object, ...]:
    """What a trainer sees change: the grades, the oversight and every deadline's status."""
    return (
        result.grade.current,
        result.grade.recommended,
        result.oversight.required_role,
        result.oversight.accepted_at,
        tuple((d.id, d.occurrence, d.status) for d in result.deadlines),
    )


def simulate(
    timeline: Timeline,
    policy: Policy,
    until: datetime | None = None,
    page: int = 1,
    at: datetime | None = None,
) -> Simulation:
    """One page of the simulation (the first by default; ``pages`` says how many there are), or
    with ``at`` the state at that one instant."""
    if at is not None:
        check_as_of(timeline, at, "at", parameter=True)
        return Simulation.trusted(
            incident_id=timeline.incident_id,
            policy=PolicyRef.trusted(
                id=policy.id, force=policy.meta.force, sha256=policy.sha256, title=policy.meta.title
            ),
            until=iso_local(to_epoch(at), policy.meta.timezone),
            page=1,
            pages=1,
            steps=[state_at(timeline, policy, at)],
        )
    planned = plan(timeline, policy, until)
    return Simulation.trusted(
        incident_id=timeline.incident_id,
        policy=planned.policy,
        until=iso_local(planned.horizon, policy.meta.timezone),
        page=page,
        pages=len(planned.pages),
        steps=list(steps(timeline, policy, planned, page)),
    )


def _page(planned: Plan, page: int) -> tuple[int, int]:
    if not 1 <= page <= len(planned.pages):
        raise InvalidRequest(
            "there is no such page of this simulation",
            [
                FieldError(
                    "page", f"must be between 1 and {len(planned.pages)}, the number of pages", parameter=True
                )
            ],
        )
    return planned.pages[page - 1]


def _key(f: Finding) -> tuple[str, ...]:
    """A finding's identity across steps: its rule, severity and first evidence (a deadline's
    start: the child found later adds evidence to the same breach, it is not a new one), and for a
    rule's finding its instant too (C3 raises one per night from the same start)."""
    deadline_rule = ":" in f.rule
    return (f.rule, str(f.severity), f.evidence[0] if f.evidence else "", "" if deadline_rule else str(f.at))


def _keys(findings: list[Finding]) -> set[tuple[str, ...]]:
    return {_key(f) for f in findings}


def _dt(epoch: int, timeline: Timeline) -> datetime:
    return datetime.fromtimestamp(epoch, timeline.report().at.tzinfo)


def _horizon(timeline: Timeline, policy: Policy, until: datetime | None, ordered: Ordered) -> int:
    if until is not None:
        check_as_of(timeline, until, "until")
        return to_epoch(until)
    if timeline.as_of is not None:
        return to_epoch(timeline.as_of)
    last_event = max(to_epoch(e.at) for e in timeline.events)
    at_last = evaluate(timeline, policy, _dt(last_event, timeline), ordered=ordered)
    dues = [
        to_epoch(datetime.fromisoformat(d.due_at))
        for d in at_last.deadlines
        if d.status in ("pending", "due_soon")
    ]
    return max([last_event, *dues])


def _instants(
    timeline: Timeline, policy: Policy, deadlines: list[Deadline], horizon: int
) -> dict[int, set[str]]:
    """Every instant worth a step, with why: events, due-soon thresholds and due instants."""
    out: dict[int, set[str]] = {}
    for event in timeline.events:
        at = to_epoch(event.at)
        if at <= horizon:
            out.setdefault(at, set()).add(f"event:{event.id}")
    for d in deadlines:
        start = to_epoch(datetime.fromisoformat(d.starts_at))
        due = to_epoch(datetime.fromisoformat(d.due_at))
        soon = due_soon_at(start, due, policy.due_soon_percent)
        for at, why in ((soon, "due_soon"), (due, "due")):
            if at <= horizon:
                out.setdefault(at, set()).add(f"{why}:{d.id}#{d.occurrence}")
    return out
