"""Semantic checks of a policy folder: every name against the vocabularies, every value against
its unit. Each problem names the file, the rule or deadline, and the field."""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from misper.engine.contract.vocabulary import (
    ALLOCATED,
    FORCE_CODE_PATTERN,
    GRADE_RANK,
    EventType,
    FindingCode,
    FoundOutcome,
    Grade,
    RiskFactor,
    Role,
)
from misper.engine.policy.compiler import duration_seconds, not_a_duration, template_fields
from misper.engine.policy.faults import Faults
from misper.engine.policy.files import DeadlineSpec, Parameter, PolicyMeta, Trigger
from misper.engine.policy.names import unknown
from misper.engine.workdays import CALENDAR, calendar_problem

DURATION_UNITS = {"minutes": 60, "hours": 3600, "days": 86400}
DERIVED_INDICATORS = {"looked_after", "under_age", "frequent_episodes"}
# Every template may also name {allowed}: the time the duty allows, from its start to its due instant.
DEADLINE_MESSAGE_FIELDS = {
    "breached_live": {"duty", "due", "overdue", "allowed"},
    "breached_complete": {"duty", "due", "allowed"},
    "breached_stopped": {"duty", "due", "ended", "allowed"},
    "met_late": {"duty", "due", "met", "late_by", "allowed"},
    "due_soon": {"duty", "due", "remaining", "allowed"},
    "due_now": {"duty", "due", "allowed"},
}
# What an indicator's label may quote: the child's own value and the policy's threshold.
LABEL_VALUES = {"age", "high_risk_age_under", "episodes", "window_days", "frequent_episodes_in_window"}
# Parameters the fact builder reads by name, with the unit each must have.
REQUIRED_PARAMETERS = {
    "high_risk_indicators": "indicators",
    "aggravating_factors": "indicators",
    "high_risk_age_under": "years",
    "aggravating_count_for_high": "count",
    "frequent_episodes_in_window": "count",
    "repeat_window": "days",
    "lowest_grade_allowed": "grade",
    "control_room_roles": "roles",
    "due_soon_share": "percent",
}
FORCE_CODE = re.compile(FORCE_CODE_PATTERN)
# Parameters a policy may leave out (the clause they serve is then absent), with their units;
# those grouped together come together.
OPTIONAL_PARAMETERS = {
    "repeat_threshold": "count",
    "child_blaming_phrases": "phrases",
    "intelligence_cover_from": "local_time",
    "intelligence_cover_until": "local_time",
}
TOGETHER = [("intelligence_cover_from", "intelligence_cover_until")]


def check_identity(meta: PolicyMeta, folder_name: str, problems: Faults) -> None:
    """The folder is named after the policy id, and the effective dates run forwards."""
    if meta.id != folder_name:
        problems.add(
            "policy.yaml: id",
            f"is {meta.id!r} but the folder is named {folder_name!r}; name the folder after the policy id",
        )
    if meta.effective_to is not None and meta.effective_to < meta.effective_from:
        problems.add(
            "policy.yaml: effective_to",
            f"{meta.effective_to} is before effective_from {meta.effective_from}",
        )


def check_meta(
    meta: PolicyMeta, params: dict[str, Parameter], deadlines: list[DeadlineSpec], problems: Faults
) -> None:
    try:
        ZoneInfo(meta.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.add("policy.yaml: timezone", f"unknown time zone {meta.timezone!r}")
    ids = {d.id for d in deadlines}
    for grade, deadline_id in meta.oversight.items():
        problems.add(f"policy.yaml: oversight.{grade}", unknown("grade", grade, Grade))
        problems.add(f"policy.yaml: oversight.{grade}", unknown("deadline", deadline_id, ids))
    check_messages(meta.deadline_messages, "policy.yaml: deadline_messages", problems, required=True)
    check_escalation(meta, params, problems)
    check_quality(meta, problems)
    if meta.below_high_reason is None and meta.recommendation is None:
        problems.add("policy.yaml: below_high_reason", "is needed: the recommendation's reason below high")
    try:
        fields = template_fields(meta.below_high_reason or "")
    except ValueError as exc:
        fields = []
        problems.add("policy.yaml: below_high_reason", f"is not a valid template: {exc}")
    for name in fields:
        problems.add("policy.yaml: below_high_reason", unknown("placeholder", name, {"needed"}))
    _check_labels(meta, problems)
    for code, meaning in meta.finding_codes.items():
        where = f"policy.yaml: finding_codes.{code}"
        if code in set(FindingCode):
            problems.add(
                where, "is one of contract v1's codes, which keep their meaning: use it without declaring it"
            )
        elif not FORCE_CODE.fullmatch(code):
            problems.add(
                where, "a finding code is 3-64 capital letters, digits and _, starting with a letter"
            )
        if not meaning.strip():
            problems.add(where, "needs a sentence saying what the code means")


def _check_labels(meta: PolicyMeta, problems: Faults) -> None:
    """Each label names an indicator and quotes only the values a label may quote."""
    indicators = set(RiskFactor) | DERIVED_INDICATORS
    for name, label in meta.indicator_labels.items():
        where = f"policy.yaml: indicator_labels.{name}"
        problems.add(where, unknown("indicator", name, indicators))
        try:
            placeholders = template_fields(label)
        except ValueError as exc:
            placeholders = []
            problems.add(where, f"is not a valid template: {exc}")
        for field in placeholders:
            problems.add(where, unknown("placeholder", field, LABEL_VALUES))


def check_quality(meta: PolicyMeta, problems: Faults) -> None:
    """The rubric names the policy's own clauses and real grades, and is tested (and the floor
    of a recommendation below high is a grade)."""
    if meta.below_high is not None:
        for i, grade in enumerate([meta.below_high.otherwise, *meta.below_high.never]):
            where = "otherwise" if i == 0 else f"never[{i - 1}]"
            problems.add(f"policy.yaml: below_high.{where}", unknown("grade", grade, Grade))
    for i, breach in enumerate(meta.quality.inadequate_when):
        where = f"policy.yaml: quality.inadequate_when[{i}]"
        problems.add(f"{where}.clause", unknown("clause", breach.clause, meta.clauses))
        if breach.grade is not None:
            problems.add(f"{where}.grade", unknown("grade", breach.grade, Grade))
    if not meta.quality.tests:
        problems.add("policy.yaml: quality.tests", "the rubric needs embedded tests, like every rule")
    for case in meta.quality.tests:
        if case.expect_quality is None:
            problems.add(f"policy.yaml: quality.tests.{case.id}", "a quality test needs expect_quality")


def check_escalation(meta: PolicyMeta, params: dict[str, Parameter], problems: Faults) -> None:
    """Each step names two roles and a duration parameter; following the steps from any role ends
    (a chain that came back to a role would escalate for ever)."""
    for role, step in meta.escalation.items():
        where = f"policy.yaml: escalation.{role}"
        problems.add(where, unknown("role", role, Role))
        problems.add(f"{where}.to", unknown("role", step.to, Role))
        bad = unknown("parameter", step.after, params)
        if bad is None and duration_seconds(params[step.after]) is None:
            bad = not_a_duration(step.after)
        problems.add(f"{where}.after", bad)
        seen, at = [role], step.to
        while at in meta.escalation and at not in seen:
            seen.append(at)
            at = meta.escalation[at].to
        if at in seen:
            problems.add(where, "the chain comes back to a role it passed: " + " -> ".join([*seen, at]))


def check_messages(messages: Any, where: str, problems: Faults, required: bool = False) -> None:
    """Deadline message templates: each placeholder one its status provides."""
    for key, fields in DEADLINE_MESSAGE_FIELDS.items():
        template = messages.get(key)
        if template is None:
            if required:
                problems.add(f"{where}.{key}", "is required")
            continue
        try:
            names = template_fields(template)
        except ValueError as exc:
            problems.add(f"{where}.{key}", f"is not a valid template: {exc}")
            continue
        for name in names:
            problems.add(f"{where}.{key}", unknown("placeholder", name, fields))


LADDER_PLACEHOLDERS = {
    "needed",
    "listed",
    "aggravating",
    "age",
    "high_risk_age_under",
    "episodes",
    "window_days",
    "frequent_episodes_in_window",
}


def check_ladder(meta: PolicyMeta, params: dict[str, Parameter], where: Faults) -> None:
    """Each rung's grade is known and allowed; the last rung, and only it, has no condition (the
    floor: every child gets a grade); a reason quotes only what a recommendation knows."""
    ladder = meta.recommendation
    assert ladder is not None
    if meta.below_high is not None:
        where.add("", "give recommendation or below_high, not both: each says the grade below high")
    floor = str(params["lowest_grade_allowed"].value) if "lowest_grade_allowed" in params else None
    for i, rung in enumerate(ladder.rungs):
        bad = unknown("grade", rung.grade, Grade)
        if not bad and floor in set(Grade) and GRADE_RANK[Grade(rung.grade)] < GRADE_RANK[Grade(floor)]:
            bad = f"{rung.grade} is below the lowest grade allowed ({floor})"
        where.add(f"rungs[{i}].grade", bad)
        last = i == len(ladder.rungs) - 1
        if last and rung.when:
            where.add(
                f"rungs[{i}].when", "the last rung has no condition: it is the grade every other child gets"
            )
        if not last and not rung.when:
            where.add(
                f"rungs[{i}].when",
                "only the last rung has no condition: the rungs below it would never be reached",
            )
        try:
            for name in template_fields(rung.reason):
                where.add(f"rungs[{i}].reason", unknown("placeholder", name, LADDER_PLACEHOLDERS))
        except ValueError as exc:
            where.add(f"rungs[{i}].reason", f"is not a valid template: {exc}")


def check_parameters(meta: PolicyMeta, params: dict[str, Parameter], problems: Faults) -> None:
    _check_engine_parameters(params, problems)
    calendars = [n for n, p in params.items() if p.unit == CALENDAR]
    if len(calendars) > 1:
        problems.add(f"parameters.yaml: {calendars[1]}", f"a policy has one calendar; {calendars[0]} is one")
    for name in (n for n, p in params.items() if p.unit == "working_days" and not calendars):
        problems.add(
            f"parameters.yaml: {name}",
            "working days are counted on the policy's bank-holiday calendar: declare it, e.g. "
            "bank_holidays: {value: GB-ENG, unit: calendar, clause: null, provenance: statutory}",
        )
    indicators = set(RiskFactor) | DERIVED_INDICATORS
    for name, param in params.items():
        where = f"parameters.yaml: {name}"
        if param.clause is not None:
            problems.add(f"{where}.clause", unknown("clause", param.clause, meta.clauses))
        problems.add(where, check_parameter_value(param))
        if param.unit == "roles" and isinstance(param.value, list):
            for role in param.value:
                problems.add(where, unknown("role", role, Role))
        if param.unit == "indicators" and isinstance(param.value, list):
            for item in param.value:
                bad = unknown("indicator", item, indicators)
                problems.add(
                    where, bad or unknown("indicator label in policy.yaml", item, meta.indicator_labels)
                )


def _check_engine_parameters(params: dict[str, Parameter], problems: Faults) -> None:
    """The parameters the engine reads by name: present (unless optional) with their units."""
    for name, unit in REQUIRED_PARAMETERS.items():
        if name not in params:
            problems.add(f"parameters.yaml: {name}", "is required by the engine and missing")
        elif params[name].unit != unit:
            problems.add(f"parameters.yaml: {name}", f"must have unit {unit!r}")
    for name, unit in OPTIONAL_PARAMETERS.items():
        if name in params and params[name].unit != unit:
            problems.add(f"parameters.yaml: {name}", f"must have unit {unit!r}")
    for group in TOGETHER:
        given = [n for n in group if n in params]
        if given and len(given) != len(group):
            missing = ", ".join(n for n in group if n not in params)
            problems.add(f"parameters.yaml: {given[0]}", f"comes with {missing}, which is missing")


def check_parameter_value(param: Parameter) -> str | None:
    value, unit = param.value, param.unit
    if unit == CALENDAR:
        return calendar_problem(value)
    if unit in DURATION_UNITS or unit in ("working_days", "count", "years", "percent"):
        ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
        if ok and unit == "percent" and isinstance(value, int) and value >= 100:
            return f"a percent value is below 100, got {value!r}"
        return None if ok else f"a {unit} value is a positive whole number, got {value!r}"
    if unit == "grade":
        return unknown("grade", value, Grade)
    if unit == "local_time":
        ok = isinstance(value, str) and re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value) is not None
        return None if ok else f"a local time is HH:MM, got {value!r}"
    ok = isinstance(value, list) and bool(value) and all(isinstance(v, str) and v.strip() for v in value)
    return None if ok else f"a list of {unit} must be a non-empty list of names or phrases"


def check_names(clause: str, code: str, meta: PolicyMeta, where: Faults) -> None:
    """The clause is the policy's; the code is contract v1's or one the policy declares."""
    where.add("clause", unknown("clause", clause, meta.clauses))
    bad = unknown("finding code", code, set(FindingCode) | set(meta.finding_codes))
    if bad:
        bad += "; a force's own code is declared under finding_codes in policy.yaml, with its meaning"
    where.add("code", bad)


def resolve_roles(spec: DeadlineSpec, params: dict[str, Parameter], where: Faults) -> DeadlineSpec:
    """A trigger's ``by`` may name a parameter holding roles (control_room_roles): the deadline
    is given the roles themselves. A trigger on an allocation that names no task takes the
    investigation's, what an allocation naming none allocates."""

    def resolved(trigger: Trigger, at: str) -> Trigger:
        if trigger.not_before is not None:
            trigger = trigger.model_copy(
                update={"not_before": resolved(trigger.not_before, f"{at}.not_before")}
            )
        if trigger.event == "officer_allocated" and trigger.task is None:
            trigger = trigger.model_copy(update={"task": [ALLOCATED]})
        if not isinstance(trigger.by, str):
            return trigger
        param = params.get(trigger.by)
        if param is None or param.unit != "roles" or not isinstance(param.value, list):
            roles = {n for n, p in params.items() if p.unit == "roles"}
            where.add(
                f"{at}.by", unknown("parameter of roles", trigger.by, roles) or "is not a list of roles"
            )
            return trigger.model_copy(update={"by": None})
        return trigger.model_copy(update={"by": list(param.value)})

    return spec.model_copy(
        update={
            "starts": [resolved(t, f"starts[{i}]") for i, t in enumerate(spec.start_triggers)]
            if isinstance(spec.starts, list)
            else resolved(spec.starts, "starts"),
            "met_by": [resolved(t, f"met_by[{i}]") for i, t in enumerate(spec.met_by)],
            "not_applicable_when": [
                resolved(t, f"not_applicable_when[{i}]") for i, t in enumerate(spec.not_applicable_when)
            ],
            "brought_forward_by": [
                resolved(t, f"brought_forward_by[{i}]") for i, t in enumerate(spec.brought_forward_by)
            ],
        }
    )


def check_deadline(
    spec: DeadlineSpec,
    meta: PolicyMeta,
    params: dict[str, Parameter],
    where: Faults,
    deadline_ids: set[str],
) -> None:
    check_names(spec.clause, spec.code, meta, where)
    where.add("owner", unknown("role", spec.owner, Role))
    _check_triggers(spec, where, deadline_ids)
    _check_markings(spec, params, where)
    if spec.repeat and spec.met_from == "report":
        where.add("met_from", "a repeating duty is met by events after each start, not from the report")
    if spec.brought_forward_by and spec.due_after_by_grade is None:
        where.add("brought_forward_by", "needs due_after_by_grade: the interval follows the grade")
    check_messages(spec.messages, "messages", where)
    _check_duration(spec, params, where)
    if spec.repeat and spec.each_start:
        where.add(
            "repeat", "a deadline either repeats after each meeting or starts at each trigger, not both"
        )


def _check_triggers(spec: DeadlineSpec, where: Faults, deadline_ids: set[str]) -> None:
    """Each list of triggers takes its own kinds; nth counts meeting events only."""
    for i, trigger in enumerate(spec.start_triggers):
        at = f"starts[{i}]" if isinstance(spec.starts, list) else "starts"
        check_trigger(trigger, at, where, {"event", "grade_becomes", "grade_leaves", "deadline_stopped"})
        if trigger.deadline_stopped is not None:
            where.add(f"{at}.deadline_stopped", unknown("deadline", trigger.deadline_stopped, deadline_ids))
    lists = (
        ("met_by", spec.met_by, {"event"}),
        (
            "not_applicable_when",
            spec.not_applicable_when,
            {"event", "grade_becomes", "grade_leaves", "grade_at_due"},
        ),
        ("brought_forward_by", spec.brought_forward_by, {"event", "grade_becomes", "grade_leaves"}),
    )
    for key, triggers, kinds in lists:
        for i, trigger in enumerate(triggers):
            check_trigger(trigger, f"{key}[{i}]", where, kinds)
            _check_not_before(trigger, f"{key}[{i}]", key == "met_by", where)
            if trigger.nth != 1 and key != "met_by":
                where.add(f"{key}[{i}].nth", "nth counts meeting events: it is for met_by only")
    if any(t.nth != 1 for t in spec.start_triggers):
        where.add("starts", "nth counts meeting events: it is for met_by only")
    if any(t.not_before is not None for t in spec.start_triggers):
        where.add("starts", "not_before is for met_by only")


MEETINGS = frozenset({"discussion", "complex"})
TASKS = frozenset({"investigation", "prevention_interview"})
# A trigger's filters on an event's marking: the field, the one event that carries it, its values.
FILTERS = (
    ("meeting", "strategy_discussion", MEETINGS, "only a strategy discussion is marked as a meeting"),
    ("task", "officer_allocated", TASKS, "only an allocation (officer_allocated) names a task"),
)


def _check_markings(spec: DeadlineSpec, params: dict[str, Parameter], where: Faults) -> None:
    """``meeting`` filters strategy discussions by their marking, ``task`` allocations by what they
    allocate; ``unmarked_after_report``, for a meeting event with a marking, names the duration
    parameter of the unmarked reading."""
    lists = (
        ("starts", spec.start_triggers),
        ("met_by", spec.met_by),
        ("not_applicable_when", spec.not_applicable_when),
        ("brought_forward_by", spec.brought_forward_by),
    )
    durations = {n for n, p in params.items() if p.unit in DURATION_UNITS}
    for key, triggers in lists:
        for i, t in enumerate(triggers):
            at = f"{key}[{i}]"
            for name, event, known, alone in FILTERS:
                values = getattr(t, name)
                if values is not None:
                    if t.event != event:
                        where.add(f"{at}.{name}", alone)
                    for value in values:
                        where.add(f"{at}.{name}", unknown(name, value, known))
            if t.unmarked_after_report is not None:
                if key != "met_by" or t.meeting is None:
                    where.add(f"{at}.unmarked_after_report", "is for a meeting event that names its meeting")
                bad = unknown("duration parameter", t.unmarked_after_report, durations)
                where.add(f"{at}.unmarked_after_report", bad)


def _check_not_before(trigger: Trigger, at: str, meeting: bool, where: Faults) -> None:
    """not_before gates a meeting event on an event or a regrade; it does not nest."""
    if trigger.not_before is None:
        return
    if not meeting:
        where.add(f"{at}.not_before", "not_before is for met_by only")
    check_trigger(trigger.not_before, f"{at}.not_before", where, {"event", "grade_becomes"})
    if trigger.not_before.not_before is not None:
        where.add(f"{at}.not_before.not_before", "not_before does not nest")


def _check_duration(spec: DeadlineSpec, params: dict[str, Parameter], where: Faults) -> None:
    if (spec.due_after is None) == (spec.due_after_by_grade is None):
        where.add("due_after", "give exactly one of due_after and due_after_by_grade")
    durations = {n for n, p in params.items() if p.unit in (*DURATION_UNITS, "working_days")}
    if spec.due_after is not None:
        where.add("due_after", unknown("duration parameter", spec.due_after, durations))
    for grade, name in (spec.due_after_by_grade or {}).items():
        where.add(f"due_after_by_grade.{grade}", unknown("grade", grade, set(Grade) | {"default"}))
        where.add(f"due_after_by_grade.{grade}", unknown("duration parameter", name, durations))
    if spec.due_after_by_grade is not None and "default" not in spec.due_after_by_grade:
        where.add("due_after_by_grade", "needs a 'default' entry for a grade it does not list")


TRIGGER_KINDS = ("event", "grade_becomes", "grade_leaves", "grade_at_due", "deadline_stopped")


def check_trigger(trigger: Trigger, at: str, where: Faults, kinds: set[str]) -> None:
    given = [k for k in TRIGGER_KINDS if getattr(trigger, k) is not None]
    allowed = [k for k in TRIGGER_KINDS if k in kinds]
    if len(given) != 1 or given[0] not in kinds:
        where.add(at, "give exactly one of " + ", ".join(allowed))
        return
    if trigger.event is not None:
        where.add(f"{at}.event", unknown("event type", trigger.event, EventType))
    elif trigger.by or trigger.outcome or trigger.nth != 1:
        where.add(at, "by, outcome and nth go with event")
    for role in trigger.by or []:
        where.add(f"{at}.by", unknown("role", role, Role))
    if trigger.outcome is not None:
        if trigger.event != "found":
            where.add(f"{at}.outcome", "only a found event has an outcome")
        for outcome in trigger.outcome:
            where.add(f"{at}.outcome", unknown("outcome", outcome, FoundOutcome))
    for key in ("grade_becomes", "grade_leaves", "grade_at_due"):
        given = getattr(trigger, key)
        for grade in [given] if isinstance(given, str) else given or []:
            where.add(f"{at}.{key}", unknown("grade", grade, Grade))


def check_deadline_links(deadlines: list[DeadlineSpec], problems: Faults) -> None:
    """A deadline started by another must not, through others, start itself."""
    parent = {d.id: t.deadline_stopped for d in deadlines for t in d.start_triggers if t.deadline_stopped}
    for spec_id in parent:
        seen, node = [spec_id], parent.get(spec_id)
        while node is not None and node not in seen:
            seen.append(node)
            node = parent.get(node)
        if node == spec_id:
            problems.add(
                f"deadline {spec_id}: starts",
                "deadlines start each other in a cycle: " + " -> ".join(seen + [spec_id]),
            )


def check_test_ids(tests: list[Any], where: Faults) -> None:
    seen: set[str] = set()
    for test in tests:
        if test.id in seen:
            where.add(f"tests.{test.id}", "test id used twice")
        seen.add(test.id)
