"""Deadlines as declared in the policy, computed on the timeline: start, due, met, status.

Statuses (contract v1): met, met_late, breached, pending, due_soon, not_applicable. A meeting
event at exactly the due instant is in time; with no meeting event, a deadline is breached from
its due instant on. A stop (e.g. the child found) before the due instant makes it not applicable;
a stop at or after it leaves it breached. A complete record is judged at its end (the closing
event): a duty due by then that never happened is breached; a clock still running at the end is
not applicable (a deadline may declare it breached instead).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Any, NamedTuple

from misper.engine.clock.context import Context, Ev
from misper.engine.policy.conditions import meets
from misper.engine.policy.files import DeadlineSpec, Trigger
from misper.engine.policy.model import Policy


def due_soon_at(start: int, due: int, percent: int) -> int:
    """The first whole second at which the policy's due-soon share (contract v1: 75%) of the time
    from start to due is used."""
    return start + -(-(due - start) * percent // 100)


def next_change(policy: Policy, results: list[DeadlineResult], as_of: int) -> int | None:
    """The next instant after as_of at which a deadline's status changes by the clock alone
    (pending to due soon, or to breached); None when no clock is running."""
    instants = []
    for d in results:
        if d.status == "pending":
            soon = due_soon_at(d.starts_at, d.due_at, policy.due_soon_percent)
            instants.append(soon if soon > as_of else d.due_at)
        elif d.status == "due_soon":
            instants.append(d.due_at)
    return min((t for t in instants if t > as_of), default=None)


class DeadlineResult(NamedTuple):
    spec: DeadlineSpec
    occurrence: int
    start: Ev
    starts_at: int
    due_at: int
    met: Ev | None
    stop: Ev | None
    status: str
    parameter: str  # the duration parameter that set the due instant
    repeat_of: Ev | None = None  # for a repeating duty, the event that met the one before


class _Hits:
    """Every trigger's hits on this timeline, found once per evaluation and kept in time order,
    so each occurrence finds its start, stop and meeting event by bisection: the work stays
    about linear in the number of events however many occurrences there are."""

    def __init__(self, ctx: Context, keys: dict[int, tuple[Any, ...]], policy: Policy) -> None:
        self.ctx = ctx
        self.policy = policy
        self._keys = keys
        self._found: dict[Any, tuple[list[Ev], list[int]]] = {}
        self._instants: dict[Any, list[int]] = {}

    def instants(self, trigger: Trigger) -> list[int]:
        """The instants of an event trigger's hits, in time order (found once)."""
        key = self._keys.get(id(trigger), id(trigger))
        if key not in self._instants:
            self._instants[key] = [e.at for e in self.of(trigger, {})[0]]
        return self._instants[key]

    def of(self, trigger: Trigger, done: dict[str, list[DeadlineResult]]) -> tuple[list[Ev], list[int]]:
        key = self._keys.get(id(trigger), id(trigger))
        if key not in self._found:
            hits = _matches(trigger, self.ctx, done, self.policy)
            self._found[key] = (hits, [e.pos for e in hits])
        return self._found[key]


def compute_deadlines(
    policy: Policy, ctx: Context, subject: dict[str, dict[str, Any]]
) -> list[DeadlineResult]:
    """Every deadline's occurrences; a deadline applies when ``subject`` (the child's and the repeat
    count's fields, as their facts hold them) meets its applies_if."""
    results: list[DeadlineResult] = []
    done: dict[str, list[DeadlineResult]] = {}
    hits = _Hits(ctx, policy.trigger_keys, policy)
    for spec in policy.deadlines_in_order:
        if all(meets(condition, subject[kind]) for kind, condition in policy.applies.get(spec.id, ())):
            done[spec.id] = _occurrences(spec, policy, hits, done)
            results.extend(done[spec.id])
    return results


def _occurrences(
    spec: DeadlineSpec, policy: Policy, hits: _Hits, done: dict[str, list[DeadlineResult]]
) -> list[DeadlineResult]:
    triggered = {e.pos: e for t in spec.start_triggers for e in hits.of(t, done)[0]}
    starts = [triggered[pos] for pos in sorted(triggered)]
    if not starts:
        return []
    if spec.each_start:
        return [_judge(spec, policy, hits, n + 1, start) for n, start in enumerate(starts)]
    out = [_judge(spec, policy, hits, 1, starts[0])]
    # Each repeat starts at the event that met the one before, so the chain ends with the events.
    while spec.repeat and out[-1].met is not None and out[-1].status in ("met", "met_late"):
        out.append(_judge(spec, policy, hits, len(out) + 1, out[-1].met, repeat=True))
    return out


def _judge(
    spec: DeadlineSpec, policy: Policy, hits: _Hits, occurrence: int, start: Ev, repeat: bool = False
) -> DeadlineResult:
    ctx = hits.ctx
    parameter = _parameter(spec, ctx, start)
    due = policy.due_from(parameter, start.at)
    shortest = policy.shortest_interval.get(spec.id, 0)
    for trigger in spec.brought_forward_by:
        events, positions = hits.of(trigger, {})
        for moved in events[bisect_right(positions, start.pos) :]:
            if moved.at + shortest >= due:
                break  # no later trigger can bring the due instant forward: the scan stays short
            sooner = _parameter(spec, ctx, moved)
            if policy.due_from(sooner, moved.at) < due:
                due, parameter = policy.due_from(sooner, moved.at), sooner
    stop = _first_stop(spec, hits, start, due)
    # Events at the stop's own instant still count (a grading at the instant the child is found).
    cutoff = ctx.last_at(stop.at) if stop is not None else len(ctx.events)
    # A repeat starts at the event that met the one before: only later events meet it.
    first = ctx.report.pos if spec.met_from == "report" else start.pos + (1 if repeat else 0)
    met = _first_meeting(spec.met_by, hits, first, cutoff)
    status = _status(spec, ctx, (start.at, due, policy.due_soon_percent), met, stop)
    return DeadlineResult(
        spec, occurrence, start, start.at, due, met, stop, status, parameter, start if repeat else None
    )


def _status(
    spec: DeadlineSpec, ctx: Context, clock: tuple[int, int, int], met: Ev | None, stop: Ev | None
) -> str:
    start, due, percent = clock
    if met is not None:
        return "met" if met.at <= due else "met_late"
    # A duty done at its due instant is in time, so one stopped at that instant was not late.
    if stop is not None and stop.at <= due:
        return "not_applicable"
    if stop is not None or ctx.end >= due:
        return "breached"
    if ctx.complete:
        return spec.if_record_ends_first
    if ctx.as_of >= due_soon_at(start, due, percent):
        return "due_soon"
    return "pending"


def _parameter(spec: DeadlineSpec, ctx: Context, start: Ev) -> str:
    if spec.due_after is not None:
        return spec.due_after
    by_grade = spec.due_after_by_grade or {}
    grade = ctx.grade_at(start.pos)
    return by_grade.get(grade or "default", by_grade["default"])


def _event_matches(trigger: Trigger, event: Ev) -> bool:
    return (
        event.type == trigger.event
        and (not trigger.by or event.by in trigger.by)
        and (not trigger.outcome or (event.outcome or "safe") in trigger.outcome)
        and (not trigger.meeting or event.meeting in trigger.meeting)
        and (not trigger.task or event.task in trigger.task)
    )


def unmarked_reading(trigger: Trigger, ctx: Context, policy: Policy) -> list[Ev] | None:
    """S5: when no event of the trigger's type carries a marking, the events read as marked:
    each after the first of its type, held at least the named duration after the report. None
    when the timeline marks its events (or the trigger has no such reading)."""
    if trigger.unmarked_after_report is None or trigger.event is None:
        return None
    events = ctx.of_type(trigger.event)
    if any(e.meeting for e in events):
        return None
    cutoff = ctx.report.at + policy.seconds(trigger.unmarked_after_report)
    return [e for e in events[1:] if e.at >= cutoff and (not trigger.by or e.by in trigger.by)]


def _matches(
    trigger: Trigger, ctx: Context, done: dict[str, list[DeadlineResult]], policy: Policy
) -> list[Ev]:
    """Every instant the trigger fires, in time order (for an event trigger with nth, the nth
    matching event and those after it)."""
    if trigger.event is not None:
        unmarked = unmarked_reading(trigger, ctx, policy)
        if unmarked is not None:
            return unmarked
        return [e for e in ctx.of_type(trigger.event) if _event_matches(trigger, e)]
    if trigger.deadline_stopped is not None:
        return [
            d.stop
            for d in done.get(trigger.deadline_stopped, [])
            if d.status == "not_applicable" and d.stop is not None
        ]
    out = []
    for change in ctx.grades:
        if trigger.grade_becomes and change.grade == trigger.grade_becomes != change.previous:
            out.append(change.event)
        if trigger.grade_leaves and change.previous == trigger.grade_leaves != change.grade:
            out.append(change.event)
    return out


def _first_stop(spec: DeadlineSpec, hits: _Hits, start: Ev, due: int) -> Ev | None:
    """The earliest event that makes the deadline not applicable: from the start on, or, for an
    event such as the child found or the record closed, before it too (a clock that would start
    after the child was found never applies). A grade change stops only what it follows."""
    found: list[Ev] = []
    for trigger in spec.not_applicable_when:
        if trigger.grade_at_due is not None:
            # S3: judged by the grade in force at the due instant (as known at as_of); a regrade
            # at that very instant counts, as every event at a due instant is in time.
            change = hits.ctx.change_before(due + 1)
            grades = [trigger.grade_at_due] if isinstance(trigger.grade_at_due, str) else trigger.grade_at_due
            if change is not None and change.grade in grades:
                found.append(change.event)
            continue
        events, positions = hits.of(trigger, {})
        i = 0 if trigger.event is not None else bisect_left(positions, start.pos)
        if i < len(events):
            found.append(events[i])
    return min(found, key=lambda e: e.pos, default=None)


def _first_meeting(triggers: list[Trigger], hits: _Hits, first: int, cutoff: int) -> Ev | None:
    """The earliest event that meets the deadline: for each trigger, its nth match from
    position ``first`` on, up to (and with) the stop event at ``cutoff``."""
    best: Ev | None = None
    for trigger in triggers:
        events, positions = hits.of(trigger, {})
        start = bisect_left(positions, first)
        if trigger.not_before is not None:
            gate = hits.of(trigger.not_before, {})[0]
            if not gate:
                continue  # what it must follow has not happened: nothing meets it yet
            start = max(start, bisect_left(hits.instants(trigger), gate[0].at))
        i = start + trigger.nth - 1
        if i < len(events) and events[i].pos <= cutoff and (best is None or events[i].pos < best.pos):
            best = events[i]
    return best
