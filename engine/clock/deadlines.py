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


# What a trigger's hits are found with where no deadline's results are needed (never changed).
NONE_DONE: dict[str, list[DeadlineResult]] = {}


class _Plan(NamedTuple):
    """A deadline's triggers resolved, once per policy, to slots of an evaluation's hit table, and
    its constant parts read once: what each evaluation needs without looking anything up."""

    spec: DeadlineSpec
    applies: tuple[tuple[str, dict[str, Any]], ...]
    starts: tuple[int, ...]
    # One start trigger on an event: its hits are already the starts, in time order, once each.
    single_event_start: bool
    # The duration parameter when one alone times it; its seconds when it is a plain duration
    # (not working days), else None.
    due_after: str | None
    fixed_seconds: int | None
    forward: tuple[int, ...]
    shortest: int
    # (slot, grade_at_due grades or None, whether the trigger is an event's) per stop trigger.
    stops: tuple[tuple[int, tuple[str, ...] | None, bool], ...]
    # (slot, nth, the slot of what it must not precede or -1) per meeting trigger.
    met: tuple[tuple[int, int, int], ...]


class _PolicyPlan(NamedTuple):
    triggers: tuple[Trigger, ...]  # by slot
    deadlines: tuple[_Plan, ...]  # in the order they are judged


def _make_plan(policy: Policy) -> _PolicyPlan:
    keys = policy.trigger_keys
    slots: dict[Any, int] = {}
    triggers: list[Trigger] = []

    def slot(trigger: Trigger) -> int:
        # Triggers that find the same instants share a slot; one on another deadline, or on the
        # grade at the due instant, keeps its own.
        key = keys.get(id(trigger), ("own", id(trigger)))
        if key not in slots:
            slots[key] = len(triggers)
            triggers.append(trigger)
        return slots[key]

    plans = []
    for spec in policy.deadlines_in_order:
        fixed = None
        if spec.due_after is not None and not policy.counts_working_days(spec.due_after):
            fixed = policy.durations[spec.due_after]
        stops = []
        for t in spec.not_applicable_when:
            grades = None
            if t.grade_at_due is not None:
                grades = (t.grade_at_due,) if isinstance(t.grade_at_due, str) else tuple(t.grade_at_due)
            stops.append((slot(t), grades, t.event is not None))
        met = [(slot(t), t.nth, slot(t.not_before) if t.not_before is not None else -1) for t in spec.met_by]
        plans.append(
            _Plan(
                spec,
                policy.applies.get(spec.id, ()),
                tuple(slot(t) for t in spec.start_triggers),
                len(spec.start_triggers) == 1 and spec.start_triggers[0].event is not None,
                spec.due_after,
                fixed,
                tuple(slot(t) for t in spec.brought_forward_by),
                policy.shortest_interval.get(spec.id, 0),
                tuple(stops),
                tuple(met),
            )
        )
    return _PolicyPlan(tuple(triggers), tuple(plans))


class _Hits:
    """Every trigger's hits on this timeline, found once per evaluation (on first use) and kept in
    time order with their positions, in the slots of the policy's plan, so each occurrence finds
    its start, stop and meeting event by bisection: the work stays about linear in the number
    of events however many occurrences there are."""

    __slots__ = ("ctx", "policy", "triggers", "found", "_instants")

    def __init__(self, ctx: Context, policy: Policy, triggers: tuple[Trigger, ...]) -> None:
        self.ctx = ctx
        self.policy = policy
        self.triggers = triggers
        self.found: list[tuple[list[Ev], list[int]] | None] = [None] * len(triggers)
        self._instants: dict[int, list[int]] = {}

    def of(self, slot: int, done: dict[str, list[DeadlineResult]]) -> tuple[list[Ev], list[int]]:
        found = self.found[slot]
        if found is None:
            hits = _matches(self.triggers[slot], self.ctx, done, self.policy)
            found = self.found[slot] = (hits, [e.pos for e in hits])
        return found

    def instants(self, slot: int) -> list[int]:
        """The instants of an event trigger's hits, in time order (found once)."""
        if slot not in self._instants:
            self._instants[slot] = [e.at for e in self.of(slot, NONE_DONE)[0]]
        return self._instants[slot]


def compute_deadlines(
    policy: Policy, ctx: Context, subject: dict[str, dict[str, Any]]
) -> list[DeadlineResult]:
    """Every deadline's occurrences; a deadline applies when ``subject`` (the child's and the repeat
    count's fields, as their facts hold them) meets its applies_if."""
    results: list[DeadlineResult] = []
    done: dict[str, list[DeadlineResult]] = {}
    plan = policy.kept("deadline_plan", _make_plan)
    hits = _Hits(ctx, policy, plan.triggers)
    for p in plan.deadlines:
        if not p.applies or all(meets(condition, subject[kind]) for kind, condition in p.applies):
            done[p.spec.id] = found = _occurrences(p, policy, hits, done)
            results.extend(found)
    return results


def _occurrences(
    p: _Plan, policy: Policy, hits: _Hits, done: dict[str, list[DeadlineResult]]
) -> list[DeadlineResult]:
    starts: list[Ev]
    if p.single_event_start:
        starts = hits.of(p.starts[0], done)[0]
    else:
        triggered = {e.pos: e for s in p.starts for e in hits.of(s, done)[0]}
        starts = [triggered[pos] for pos in sorted(triggered)]
    if not starts:
        return []
    spec = p.spec
    if spec.each_start:
        return [_judge(p, policy, hits, n + 1, start) for n, start in enumerate(starts)]
    out = [_judge(p, policy, hits, 1, starts[0])]
    # Each repeat starts at the event that met the one before, so the chain ends with the events.
    while spec.repeat and out[-1].met is not None and out[-1].status in ("met", "met_late"):
        out.append(_judge(p, policy, hits, len(out) + 1, out[-1].met, repeat=True))
    return out


def _judge(
    p: _Plan, policy: Policy, hits: _Hits, occurrence: int, start: Ev, repeat: bool = False
) -> DeadlineResult:
    ctx = hits.ctx
    spec = p.spec
    if p.fixed_seconds is not None:
        parameter, due = p.due_after, start.at + p.fixed_seconds
    else:
        parameter = _parameter(spec, ctx, start)
        due = policy.due_from(parameter, start.at)
    for s in p.forward:
        events, positions = hits.of(s, NONE_DONE)
        for moved in events[bisect_right(positions, start.pos) :]:
            if moved.at + p.shortest >= due:
                break  # no later trigger can bring the due instant forward: the scan stays short
            sooner = _parameter(spec, ctx, moved)
            if policy.due_from(sooner, moved.at) < due:
                due, parameter = policy.due_from(sooner, moved.at), sooner
    stop = _first_stop(p, hits, start, due) if p.stops else None
    # Events at the stop's own instant still count (a grading at the instant the child is found).
    cutoff = ctx.last_at(stop.at) if stop is not None else len(ctx.events)
    # A repeat starts at the event that met the one before: only later events meet it.
    first = ctx.report.pos if spec.met_from == "report" else start.pos + (1 if repeat else 0)
    met = _first_meeting(p.met, hits, first, cutoff)
    status = _status(spec, ctx, (start.at, due, policy.due_soon_percent), met, stop)
    assert parameter is not None
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


def _first_stop(p: _Plan, hits: _Hits, start: Ev, due: int) -> Ev | None:
    """The earliest event that makes the deadline not applicable: from the start on, or, for an
    event such as the child found or the record closed, before it too (a clock that would start
    after the child was found never applies). A grade change stops only what it follows."""
    best: Ev | None = None
    for slot, grades, on_event in p.stops:
        if grades is not None:
            # S3: judged by the grade in force at the due instant (as known at as_of); a regrade
            # at that very instant counts, as every event at a due instant is in time.
            change = hits.ctx.change_before(due + 1)
            if (
                change is not None
                and change.grade in grades
                and (best is None or change.event.pos < best.pos)
            ):
                best = change.event
            continue
        events, positions = hits.of(slot, NONE_DONE)
        i = 0 if on_event else bisect_left(positions, start.pos)
        if i < len(events) and (best is None or events[i].pos < best.pos):
            best = events[i]
    return best


def _first_meeting(met: tuple[tuple[int, int, int], ...], hits: _Hits, first: int, cutoff: int) -> Ev | None:
    """The earliest event that meets the deadline: for each trigger, its nth match from
    position ``first`` on, up to (and with) the stop event at ``cutoff``."""
    best: Ev | None = None
    for slot, nth, gate_slot in met:
        events, positions = hits.of(slot, NONE_DONE)
        start = bisect_left(positions, first)
        if gate_slot >= 0:
            gate = hits.of(gate_slot, NONE_DONE)[0]
            if not gate:
                continue  # what it must follow has not happened: nothing meets it yet
            start = max(start, bisect_left(hits.instants(slot), gate[0].at))
        i = start + nth - 1
        if i < len(events) and events[i].pos <= cutoff and (best is None or events[i].pos < best.pos):
            best = events[i]
    return best
