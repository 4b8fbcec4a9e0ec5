"""evaluate(): a checked timeline, a loaded policy and an instant in; an explained evaluation out."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, Literal

from engine.context import Context, build_context
from engine.deadlines import DeadlineResult, compute_deadlines
from engine.errors import FieldError, InvalidTimeline
from engine.evaluation import (
    Deadline,
    Evaluation,
    Finding,
    GradeView,
    OversightView,
    PolicyRef,
    RepeatMissing,
)
from engine.facts import Fact, build_facts
from engine.grading import count_repeat, recommend
from engine.loader import Policy
from engine.localtime import human_duration, human_local, iso_local
from engine.rete import RULE_ENGINE, Match
from engine.timeline import RANGE_MESSAGE, Timeline, in_range


def evaluate(
    timeline: Timeline, policy: Policy, as_of: datetime | None = None, *, trace: bool = False
) -> Evaluation:
    """Judge the timeline at ``as_of`` (argument, else the timeline's, else now: live use only)."""
    moment = as_of or timeline.as_of or datetime.now(UTC)
    check_as_of(timeline, moment)
    ctx = build_context(timeline, moment)
    deadlines = compute_deadlines(policy, ctx, timeline.child)
    repeat = count_repeat(policy, ctx, timeline.child)
    rec = recommend(policy, timeline.child, repeat)
    facts = build_facts(policy, ctx, timeline.child, deadlines, repeat, rec)
    matches = RULE_ENGINE.run(policy, (f.message() for f in facts if policy.may_match(f.kind, f.fields)))
    by_id = {f.id: f for f in facts}
    tz = policy.meta.timezone
    findings = sorted(
        (_finding(policy, ctx, m, by_id) for m in matches), key=lambda f: _finding_order(policy, f)
    )
    # The engine builds its own output from checked values: model_construct skips re-validation.
    return Evaluation.model_construct(
        incident_id=timeline.incident_id,
        policy=PolicyRef.model_construct(id=policy.id, sha256=policy.sha256, title=policy.meta.title),
        as_of=iso_local(ctx.as_of, tz),
        mode="complete" if ctx.complete else "live",
        grade=GradeView.model_construct(
            current=ctx.current_grade, recommended=rec.grade, reasons=rec.reasons
        ),
        oversight=_oversight(policy, ctx, deadlines),
        repeat_missing=RepeatMissing.model_construct(
            episodes_in_window=repeat.episodes_in_window,
            window_days=repeat.window_days,
            threshold=repeat.threshold,
            response_plan_required=repeat.required,
            response_plan_exists=timeline.child.response_plan,
        ),
        deadlines=[_deadline(d, ctx, tz) for d in sorted(deadlines, key=_deadline_order(policy))],
        findings=findings,
        trace=_trace(facts, matches) if trace else None,
    )


def check_as_of(timeline: Timeline, moment: datetime, name: str = "as_of") -> None:
    """An instant to judge at must carry an offset, lie in range and not precede the report."""
    report_at = timeline.report().at
    problem = None
    if moment.tzinfo is None:
        problem = "must carry a UTC offset"
    elif not in_range(moment):
        problem = RANGE_MESSAGE
    elif moment < report_at:
        problem = f"is before the report was received ({report_at.isoformat()})"
    if problem:
        raise InvalidTimeline("the timeline does not follow contract v1", [FieldError(name, problem)])


def _finding(policy: Policy, ctx: Context, match: Match, by_id: dict[str, Fact]) -> Finding:
    name, aliases = match
    rule = policy.compiled[name]
    facts = {alias: by_id[fact_id] for alias, fact_id in aliases.items()}
    tz = policy.meta.timezone
    if rule.deadline is not None:
        severity, message = _deadline_message(policy, ctx, facts["deadline"])
        chosen = [facts["deadline"]]
    else:
        assert rule.severity is not None and rule.message is not None
        severity = rule.severity
        view = {a: SimpleNamespace(**f.fields, **f.display()) for a, f in facts.items()}
        message = rule.message.format_map(view)
        chosen = [facts[a] for a in rule.evidence] or list(facts.values())
    evidence = list(dict.fromkeys(e for f in chosen for e in f.evidence))
    at = (
        chosen[0].at
        if not rule.at
        else int(getattr(SimpleNamespace(**facts[rule.at.split(".")[0]].fields), rule.at.split(".")[1]))
    )
    return Finding.model_construct(
        code=rule.code,
        clause=rule.clause,
        severity=severity,
        message=message,
        at=iso_local(at, tz),
        evidence=evidence,
        rule=name,
    )


def _deadline_message(policy: Policy, ctx: Context, fact: Fact) -> tuple[str, str]:
    status = fact.fields["status"]
    due, met = fact.fields["due_at"], fact.fields["met_at"]
    templates = policy.meta.deadline_messages
    display = fact.display()
    values = {"duty": display["duty"], "due": display["due_text"], "met": display["met_text"]}
    if status == "due_soon":
        return "warning", templates["due_soon"].format(**values, remaining=human_duration(due - ctx.as_of))
    if status == "met_late":
        return "breach", templates["met_late"].format(**values, late_by=human_duration(met - due))
    key: Literal["breached_complete", "breached_live"] = (
        "breached_complete" if ctx.complete else "breached_live"
    )
    return "breach", templates[key].format(**values, overdue=human_duration(ctx.as_of - due))


def _finding_order(policy: Policy, f: Finding) -> tuple[Any, ...]:
    return (f.at, policy.clause_rank[f.clause], f.code, f.rule, f.evidence)


def _deadline_order(policy: Policy) -> Any:
    declared = policy.deadline_rank
    return lambda d: (d.due_at, declared[d.spec.id], d.occurrence)


def _deadline(d: DeadlineResult, ctx: Context, tz: str) -> Deadline:
    closing = d.met or d.stop
    return Deadline.model_construct(
        id=d.spec.id,
        occurrence=d.occurrence,
        clause=d.spec.clause,
        code=d.spec.code,
        owner=d.spec.owner,
        duty=d.spec.duty,
        starts_at=iso_local(d.starts_at, tz),
        due_at=iso_local(d.due_at, tz),
        met_at=iso_local(d.met.at, tz) if d.met else None,
        met_by=d.met.id if d.met else None,
        status=d.status,
        reason=_reason(d, ctx, tz),
        evidence=list(dict.fromkeys([d.start.id] + ([closing.id] if closing else []))),
    )


def _reason(d: DeadlineResult, ctx: Context, tz: str) -> str | None:
    if d.status == "not_applicable":
        if d.stop is not None:
            what = d.stop.type.replace("_", " ") if not d.stop.grade else f"graded {d.stop.grade}"
            return f"{what} at {human_local(d.stop.at, tz)}, before it was due"
        return "the record ended before it was due"
    if d.status == "breached":
        return "never happened" if ctx.complete or d.stop is not None else "not yet done"
    return None


def _oversight(policy: Policy, ctx: Context, deadlines: list[DeadlineResult]) -> OversightView:
    """O1-O3: the role follows the current grade; before any grade, medium's arrangement holds."""
    mapping = policy.meta.oversight
    deadline_id = mapping.get(ctx.current_grade or "medium", mapping["medium"])
    spec = policy.deadline_specs[deadline_id]
    latest = [d for d in deadlines if d.spec.id == deadline_id][-1:]
    accepted = latest[0].met.at if latest and latest[0].met else None
    return OversightView.model_construct(
        required_role=spec.owner,
        deadline=deadline_id,
        accepted_at=iso_local(accepted, policy.meta.timezone) if accepted else None,
    )


def _trace(facts: list[Fact], matches: list[Match]) -> dict[str, Any]:
    return {
        "facts": [f.message() for f in facts],
        "fired": [{"rule": name, "facts": aliases} for name, aliases in matches],
    }
