"""evaluate(): a checked timeline, a loaded policy and an instant in; an explained evaluation out."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from functools import lru_cache
from types import SimpleNamespace
from typing import Any, NamedTuple

from misper.engine.clock.context import Context, Ev, Ordered, build_context
from misper.engine.clock.deadlines import DeadlineResult, compute_deadlines, next_change, unmarked_reading
from misper.engine.contract.evaluation import (
    Deadline,
    EngineRef,
    Evaluation,
    Finding,
    GradeView,
    OversightView,
    PolicyRef,
    Quality,
    RepeatMissing,
)
from misper.engine.contract.parse import BROKEN
from misper.engine.contract.timeline import RANGE_MESSAGE, Child, Timeline, in_range
from misper.engine.contract.vocabulary import (
    GRADE_OF,
    GRADE_RANK,
    ROLE_OF,
    SEVERITY_OF,
    STATUS_OF,
    Grade,
    Mode,
    finding_code,
)
from misper.engine.errors import FieldError, InvalidTimeline
from misper.engine.judging.explain import check_code
from misper.engine.judging.explain import trace as explain
from misper.engine.judging.facts import GATED_IN_FACTS, Fact, build_facts, next_gap_entry, subject
from misper.engine.judging.grading import Recommendation, RepeatCount, count_repeat, recommend
from misper.engine.judging.wording import change_phrase, event_phrase, grade_text, parameter_text
from misper.engine.localtime import (
    clocks_changed,
    human_duration,
    human_local,
    iso_local,
    text_epoch,
    to_epoch,
)
from misper.engine.policy.files import Trigger
from misper.engine.policy.model import Policy
from misper.engine.session import RULE_SESSION, Match
from misper.engine.version import ENGINE_NAME, __version__

ENGINE = EngineRef.trusted(name=ENGINE_NAME, version=__version__)


def judged_at(timeline: Timeline, as_of: datetime | None = None, now: datetime | None = None) -> datetime:
    """The instant to judge at: the one given, else the timeline's, else (unless the timeline
    asks for live use) the end of a complete record, else now (live use only).

    A closed record ends at its first `closed` event; one marked complete with none ends at its
    last event. So a complete record with no as_of gives the same answer on every run.
    """
    if as_of is not None:
        return as_of
    if timeline.as_of is not None:
        return timeline.as_of
    if timeline.mode != Mode.LIVE:
        closed = [e.at for e in timeline.events if e.type == "closed"]
        if closed:
            return min(closed)
        if timeline.mode == Mode.COMPLETE:
            return max(e.at for e in timeline.events)
    return now or datetime.now(UTC)


def evaluate(
    timeline: Timeline,
    policy: Policy,
    as_of: datetime | None = None,
    *,
    trace: bool = False,
    why_not: str | None = None,
    ordered: Ordered | None = None,
) -> Evaluation:
    """Judge the timeline at ``judged_at(timeline, as_of)``. With ``trace``, say which facts were
    asserted and which rules fired; with ``why_not`` (a finding code), also why that code's rules
    did not fire. ``ordered``: the timeline's events already in time order (a simulation judges
    one timeline at many instants)."""
    check_code(policy, why_not)
    moment = judged_at(timeline, as_of)
    check_as_of(timeline, moment)
    ctx = build_context(timeline, moment, ordered)
    judged = _judge(policy, ctx, timeline.child, every_fact=bool(trace or why_not))
    deadlines, repeat, rec, findings = judged.deadlines, judged.repeat, judged.rec, judged.findings
    tz = policy.meta.timezone
    shown = policy.kept("shown", _shown)
    # The engine builds its own output from checked values: trusted() skips re-validation.
    return Evaluation.trusted(
        incident_id=timeline.incident_id,
        policy=PolicyRef.trusted(
            id=policy.id, force=policy.meta.force, sha256=policy.sha256, title=policy.meta.title
        ),
        engine=ENGINE,
        as_of=iso_local(ctx.as_of, tz),
        mode="complete" if ctx.complete else "live",
        next_change_at=_next_change(policy, timeline.child, ctx, judged),
        grade=GradeView.trusted(
            current=GRADE_OF[ctx.current_grade] if ctx.current_grade else None,
            recommended=GRADE_OF[rec.grade],
            reasons=rec.reasons,
        ),
        oversight=_oversight(policy, ctx, deadlines, rec.grade),
        repeat_missing=RepeatMissing.trusted(
            episodes_in_window=repeat.episodes_in_window,
            window_days=repeat.window_days,
            threshold=repeat.threshold,
            response_plan_required=repeat.required,
            response_plan_exists=timeline.child.response_plan,
        ),
        deadlines=[
            _deadline(policy, d, ctx, shown[d.spec.id])
            for d in sorted(deadlines, key=_deadline_order(policy))
        ],
        findings=findings,
        quality=_quality(policy, ctx, findings),
        notes=_notes(policy, ctx),
        trace=explain(policy, judged.facts, judged.matches, why_not) if trace or why_not else None,
    )


def check_as_of(timeline: Timeline, moment: datetime, name: str = "as_of", parameter: bool = False) -> None:
    """An instant to judge at must carry an offset, lie in range and not precede the report."""
    report_at = timeline.report().at
    problem = None
    if moment.tzinfo is None:
        problem = "must carry a UTC offset"
    elif not in_range(moment):
        problem = RANGE_MESSAGE
    elif to_epoch(moment) < to_epoch(report_at):  # the engine counts whole seconds
        problem = f"is before the report was received ({report_at.isoformat()})"
    if problem:
        raise InvalidTimeline(BROKEN, [FieldError(name, problem, parameter=parameter)])


class _Judged(NamedTuple):
    deadlines: list[DeadlineResult]
    repeat: RepeatCount
    rec: Recommendation
    facts: list[Fact]
    matches: list[Match]
    findings: list[Finding]


def _judge(policy: Policy, ctx: Context, child: Child, every_fact: bool = False) -> _Judged:
    repeat = count_repeat(policy, ctx, child)
    deadlines = compute_deadlines(policy, ctx, subject(child, repeat))
    rec = recommend(policy, child, repeat, ctx.current_grade)
    # A trace lists every fact, and a rule clock on an event or a deadline reads facts the rules
    # may not match (the gate keeps only those out): then all are built.
    gate = None if every_fact or policy.clocks_on_gated_facts else RULE_SESSION.gate(policy)
    facts = build_facts(policy, ctx, child, deadlines, repeat, rec, gate)
    matches = RULE_SESSION.run(policy, (f.message() for f in facts), GATED_IN_FACTS if gate else frozenset())
    by_id = {f.id: f for f in facts}
    findings = sorted(
        (_finding(policy, ctx, m, by_id) for m in matches),
        key=lambda f: _finding_order(policy, f),
    )
    return _Judged(deadlines, repeat, rec, facts, matches, findings)


# The instants at which a rule clock or a new night of a high-risk period may change the findings
# are each tried (one evaluation each) before the earliest deadline change; after this many, the
# next one is given unchecked (an early next_change_at costs a caller one needless look).
CLOCK_CHECKS = 8


def _next_change(policy: Policy, child: Child, ctx: Context, judged: _Judged) -> str | None:
    """The earliest instant after as_of at which the statuses, finding codes, severities or
    evidence would change by the clock alone, on the events known at as_of; None for a complete
    record (nothing in it changes any more) or when nothing would.

    A deadline's status changes exactly when it becomes due soon or falls due. A rule comparing
    as_of with an instant, or a high-risk period entering another night's intelligence gap, may
    change the findings: each such instant before the deadlines' is tried, with the same events
    judged there, and kept if anything changed."""
    if ctx.complete:
        return None
    exact = next_change(policy, judged.deadlines, ctx.as_of)
    maybe = set(rule_clock_instants(policy, judged.facts, ctx.as_of))
    gap = next_gap_entry(policy, ctx)
    if gap is not None:
        maybe.add(gap)
    before = _clock_signature(judged)
    found = exact
    for n, at in enumerate(sorted(t for t in maybe if exact is None or t < exact)):
        later = replace(ctx, as_of=at, end=at)
        if n == CLOCK_CHECKS or _clock_signature(_judge(policy, later, child)) != before:
            found = at
            break
    return iso_local(found, policy.meta.timezone) if found is not None else None


def _clock_signature(judged: _Judged) -> tuple[Any, ...]:
    """What next_change_at watches: every deadline's status and every finding's code, clause,
    severity and evidence (not its wording, such as how long a duty has been overdue)."""
    return (
        [(d.spec.id, d.occurrence, d.status) for d in judged.deadlines],
        sorted((f.code, f.clause, f.severity, f.rule, tuple(f.evidence)) for f in judged.findings),
    )


def rule_clocks(
    timeline: Timeline, policy: Policy, moment: datetime, ordered: Ordered | None = None
) -> list[int]:
    """The instants up to ``moment`` at which a rule comparing as_of with a fact's time may change
    its answer (for the steps of a simulation); none for a policy without such rules."""
    if not policy.clocks:
        return []
    ctx = build_context(timeline, moment, ordered)
    repeat = count_repeat(policy, ctx, timeline.child)
    deadlines = compute_deadlines(policy, ctx, subject(timeline.child, repeat))
    facts = build_facts(
        policy,
        ctx,
        timeline.child,
        deadlines,
        repeat,
        recommend(policy, timeline.child, repeat, ctx.current_grade),
    )
    return [t for t in rule_clock_instants(policy, facts, ctx.report.at - 1) if t <= ctx.as_of]


def rule_clock_instants(policy: Policy, facts: list[Fact], as_of: int) -> list[int]:
    """Instants after as_of that a rule compares as_of with (a fact's time plus a named
    duration): the rule's answer may change there with no new event."""
    out = []
    for clock in policy.clocks:
        for f in facts:
            if f.kind == clock.kind:
                out += [at for at in clock.instants(int(f.fields[clock.field])) if at > as_of]
    return out


def _quality(policy: Policy, ctx: Context, findings: list[Finding]) -> Quality:
    """The rubric (policy data): inadequate when a breach left the child exposed (its clause, and
    the grade in force at the instant it cites, are listed) or breaches of enough different
    clauses; requires improvement for any other breach; good otherwise (advisories, actions and
    warnings do not lower it)."""
    rubric = policy.meta.quality
    breaches = [f for f in findings if f.severity == "breach"]
    exposing = [
        f for f in breaches if any(_exposes(ctx, b.clause, b.grade, f) for b in rubric.inadequate_when)
    ]
    clauses = {f.clause for f in breaches}
    if exposing or len(clauses) >= rubric.inadequate_clauses:
        rating, behind = "inadequate", exposing if exposing else breaches
    elif breaches:
        rating, behind = "requires_improvement", breaches
    else:
        rating, behind = "good", []
    return Quality.trusted(
        rating=rating,
        reasons=list(dict.fromkeys(f.code for f in behind)),
        basis=rubric.provenance,
        so_far=not ctx.complete,
    )


def _exposes(ctx: Context, clause: str, grade: str | None, finding: Finding) -> bool:
    if finding.clause != clause:
        return False
    if grade is None:
        return True
    change = ctx.change_before(_epoch_of(finding.at) + 1)
    return change is not None and change.grade == grade


@lru_cache(maxsize=8192)
def _epoch_of(instant: str) -> int:
    """An instant the engine wrote, read back (findings give theirs as text)."""
    return text_epoch(instant)


def _notes(policy: Policy, ctx: Context) -> list[str]:
    """A policy named for a report it was not in force at is allowed (that is how policies are
    compared), but the evaluation says so."""
    if policy.in_force_at(ctx.report.at):
        return []
    tz = policy.meta.timezone
    ends = policy.meta.effective_to
    span = f"from {policy.meta.effective_from}" + (f" to {ends}" if ends else "")
    return [
        f"The report at {human_local(ctx.report.at, tz)} was received when policy {policy.id} was not "
        f"in force (it applies {span}); it is judged by that policy because the policy was named."
    ]


def _finding(
    policy: Policy,
    ctx: Context,
    match: Match,
    by_id: dict[str, Fact],
) -> Finding:
    name, aliases = match
    rule = policy.compiled[name]
    facts = {alias: by_id[fact_id] for alias, fact_id in aliases.items()}
    tz = policy.meta.timezone
    assert rule.severity is not None
    if rule.deadline is not None:
        result = facts["deadline"].deadline
        assert result is not None
        message, evidence = _deadline_message(policy, ctx, result)
        chosen = [facts["deadline"]]
        param_names = policy.interval_parameters(result.parameter)
    else:
        assert rule.message is not None
        view: dict[str, Any] = {a: SimpleNamespace(**f.fields, **f.display()) for a, f in facts.items()}
        view["parameters"] = policy.parameter_texts
        message = rule.message.format_map(view)
        chosen = [facts[a] for a in rule.evidence] or list(facts.values())
        evidence = list(dict.fromkeys(e for f in chosen for e in f.evidence))
        param_names = list(rule.parameters)
    if rule.at:
        alias, field, offset = rule.at
        at = int(facts[alias].fields[field]) + offset
    else:
        at = chosen[0].at
    provenance, note = policy.basis(param_names)
    return Finding.trusted(
        code=finding_code(rule.code),
        clause=rule.clause,
        severity=SEVERITY_OF[rule.severity],
        message=message,
        at=iso_local(at, tz),
        evidence=evidence,
        rule=name,
        basis=provenance,
        basis_note=note,
    )


def duty_text(policy: Policy, ctx: Context, d: DeadlineResult) -> str:
    """The duty and, unless its clock starts at the report, what started it: 'The periodic review
    of the investigation after the sergeant's review at 03:40 on 12 July 2023 (BST)'."""
    tz = policy.meta.timezone
    start = d.start
    if start.type == "report_received" and d.repeat_of is None:
        return d.spec.duty
    change = ctx.change_at(start.pos)
    by_grade = policy.kept("shown", _shown)[d.spec.id].started_by_grade
    if by_grade and d.repeat_of is None and change is not None and change.event is start:
        return f"{d.spec.duty} after {change_phrase(change, tz)}"
    return f"{d.spec.duty} after {event_phrase(start, tz)}"


def _allowed_text(policy: Policy, d: DeadlineResult) -> str:
    """The time the duty allows, in the unit its parameter was written in ('72 hours') when it is
    one of the deadline's parameters, else as a duration ('2 hours 5 minutes')."""
    for name, text in policy.kept("shown", _shown)[d.spec.id].intervals:
        if policy.due_from(name, d.starts_at) == d.due_at:
            return text
    return human_duration(d.due_at - d.starts_at)


def _deadline_message(policy: Policy, ctx: Context, d: DeadlineResult) -> tuple[str, list[str]]:
    """The sentence and evidence of a deadline that is late, never met or due soon."""
    tz = policy.meta.timezone
    templates = policy.kept("shown", _shown)[d.spec.id].templates
    values = {
        "duty": duty_text(policy, ctx, d),
        "due": human_local(d.due_at, tz),
        "met": human_local(d.met.at, tz) if d.met else "",
        "allowed": _allowed_text(policy, d),
    }
    evidence = [d.start.id]
    if d.status == "due_soon":
        return (
            templates["due_soon"].format(**values, remaining=human_duration(d.due_at - ctx.as_of)),
            evidence,
        )
    if d.status == "met_late" and d.met is not None:
        late_by = human_duration(d.met.at - d.due_at) + clocks_changed(d.due_at, d.met.at, tz)
        text = templates["met_late"].format(**values, late_by=late_by)
        return text, evidence + [d.met.id]
    ended = _ended(d, ctx)
    if ended is not None:
        text = templates["breached_stopped"].format(**values, ended=stop_phrase(ctx, ended, tz))
        return text, list(dict.fromkeys(evidence + [ended.id]))
    if ctx.complete:
        return templates["breached_complete"].format(**values), evidence
    if ctx.as_of - d.due_at < 60:
        # Judged at its due instant (or within its minute) with nothing done: it is due now,
        # never "less than a minute overdue" (settled reading 2026-12-05).
        return templates["due_now"].format(**values), evidence
    text = templates["breached_live"].format(**values, overdue=human_duration(ctx.as_of - d.due_at))
    return text, evidence


def stop_phrase(ctx: Context, stop: Ev, tz: str) -> str:
    """What ended a clock: a regrade says whether the grade was raised or lowered and to what."""
    change = ctx.change_at(stop.pos)
    if change is not None and change.event is stop and stop.type not in ("found", "closed"):
        return change_phrase(change, tz)
    return event_phrase(stop, tz)


def _ended(d: DeadlineResult, ctx: Context) -> Ev | None:
    """What ended a breached duty's clock: its stop, else the close of a complete record."""
    return d.stop or (ctx.first("closed") if ctx.complete else None)


def _finding_order(policy: Policy, f: Finding) -> tuple[Any, ...]:
    return (f.at, policy.clause_rank[f.clause], f.code, f.rule, f.evidence)


def _deadline_order(policy: Policy) -> Any:
    declared = policy.deadline_rank
    return lambda d: (d.due_at, declared[d.spec.id], d.occurrence)


class _Shown(NamedTuple):
    """What the output and the findings of a deadline take from its declaration alone: worked
    out once per policy, not once per occurrence."""

    clause: str
    code: Any
    owner: Any
    duty: str
    unmarked: tuple[Trigger, ...]  # meeting triggers with an unmarked reading (S5)
    templates: dict[Any, str]  # the policy's sentences with the deadline's own over them
    intervals: tuple[tuple[str, str], ...]  # each duration parameter timing it, as a message reads it
    started_by_grade: bool  # some trigger starting it is a change of grade


def _shown(policy: Policy) -> dict[str, _Shown]:
    return {
        d.id: _Shown(
            d.clause,
            finding_code(d.code),
            ROLE_OF[d.owner],
            d.duty,
            tuple(t for t in d.met_by if t.unmarked_after_report),
            {**policy.meta.deadline_messages, **d.messages},
            tuple(
                (name, parameter_text(policy.parameters[name]))
                for name in filter(None, [d.due_after, *(d.due_after_by_grade or {}).values()])
            ),
            any(t.grade_becomes or t.grade_leaves for t in d.start_triggers),
        )
        for d in policy.deadlines
    }


def _deadline(policy: Policy, d: DeadlineResult, ctx: Context, shown: _Shown) -> Deadline:
    tz = policy.meta.timezone
    met, stop, start = d.met, d.stop, d.start
    closing = met or stop
    reason, basis = _reason(d, ctx, tz), policy.parameters[d.parameter].provenance
    read = _unmarked(policy, d, ctx, shown.unmarked) if met is not None and shown.unmarked else None
    if read is not None:
        # S5: met by a discussion the timeline did not mark (settled reading 2026-12-05).
        reason, basis = read, "assumed"
    return Deadline.trusted(
        id=d.spec.id,
        occurrence=d.occurrence,
        clause=shown.clause,
        code=shown.code,
        owner=shown.owner,
        duty=shown.duty,
        starts_at=iso_local(d.starts_at, tz),
        due_at=iso_local(d.due_at, tz),
        met_at=iso_local(met.at, tz) if met else None,
        met_by=met.id if met else None,
        status=STATUS_OF[d.status],
        reason=reason,
        basis=basis,
        evidence=[start.id] if closing is None or closing.id == start.id else [start.id, closing.id],
    )


def _unmarked(policy: Policy, d: DeadlineResult, ctx: Context, triggers: tuple[Trigger, ...]) -> str | None:
    """The note of a duty met by an event read as marked (none was), else None."""
    if d.met is None:
        return None
    for t in triggers:
        if t.unmarked_after_report and unmarked_reading(t, ctx, policy) is not None:
            after = human_duration(policy.seconds(t.unmarked_after_report))
            marked = " or ".join(t.meeting or [])
            return (
                f"the timeline marks no {grade_text(t.event or '')} as the {marked} one: "
                f"{event_phrase(d.met, policy.meta.timezone)}, {after} or more after the report and not the "
                "first, is read as it (an assumed reading)"
            )
    return None


def _reason(d: DeadlineResult, ctx: Context, tz: str) -> str | None:
    if d.status == "not_applicable":
        if d.stop is not None:
            return f"{stop_phrase(ctx, d.stop, tz)}, before it was due"
        return "the record ended before it was due"
    if d.status == "breached":
        ended = _ended(d, ctx)
        if ended is not None:
            return f"never happened before {stop_phrase(ctx, ended, tz)}"
        return "never happened" if ctx.complete else "not yet done"
    return None


def _oversight(
    policy: Policy, ctx: Context, deadlines: list[DeadlineResult], recommended: str
) -> OversightView:
    """O1-O3: the role follows the grade in force; before any grade, medium's arrangement holds,
    and a grade below the policy's lowest allowed is held to that. Where the recommended grade is
    higher, the role it would require is named too."""
    mapping = policy.meta.oversight
    floor = str(policy.value("lowest_grade_allowed"))
    in_force = max(ctx.current_grade or Grade.MEDIUM, floor, key=lambda g: GRADE_RANK[Grade(g)])
    deadline_id = mapping.get(in_force)
    spec = policy.deadline_specs[deadline_id] if deadline_id else None
    latest = [d for d in deadlines if d.spec.id == deadline_id][-1:]
    accepted = latest[0].met.at if latest and latest[0].met else None
    recommended_role = None
    if GRADE_RANK[Grade(recommended)] > GRADE_RANK[Grade(in_force)] and recommended in mapping:
        recommended_role = ROLE_OF[policy.deadline_specs[mapping[recommended]].owner]
    return OversightView.trusted(
        required_role=ROLE_OF[spec.owner] if spec else None,
        deadline=deadline_id,
        accepted_at=iso_local(accepted, policy.meta.timezone) if accepted else None,
        recommended_role=recommended_role,
    )
