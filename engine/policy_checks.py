"""Semantic checks of a policy folder: every name against the vocabularies, every value against
its unit. Each problem names the file, the rule or deadline, and the field."""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.compiler import Problems, template_fields
from engine.names import unknown
from engine.policy import DeadlineSpec, Parameter, PolicyMeta, Trigger
from engine.vocabulary import EventType, FindingCode, Grade, RiskFactor, Role

DURATION_UNITS = {"minutes": 60, "hours": 3600, "days": 86400}
DERIVED_INDICATORS = {"looked_after", "under_age", "frequent_episodes"}
DEADLINE_MESSAGE_FIELDS = {
    "breached_live": {"duty", "due", "overdue"},
    "breached_complete": {"duty", "due"},
    "met_late": {"duty", "due", "met", "late_by"},
    "due_soon": {"duty", "due", "remaining"},
}
APPLIES_IF_FIELDS = {"response_plan", "looked_after", "philomena_profile"}
# Parameters the fact builder reads by name, with the unit each must have.
REQUIRED_PARAMETERS = {
    "high_risk_indicators": "indicators",
    "aggravating_factors": "indicators",
    "high_risk_age_under": "years",
    "aggravating_count_for_high": "count",
    "frequent_episodes_in_window": "count",
    "repeat_window": "days",
    "repeat_threshold": "count",
    "child_blaming_phrases": "phrases",
    "intelligence_cover_from": "local_time",
    "intelligence_cover_until": "local_time",
}


def check_meta(
    meta: PolicyMeta, params: dict[str, Parameter], deadlines: list[DeadlineSpec], problems: Problems
) -> None:
    try:
        ZoneInfo(meta.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.add("policy.yaml: timezone", f"unknown time zone {meta.timezone!r}")
    ids = {d.id for d in deadlines}
    for grade, deadline_id in meta.oversight.items():
        problems.add(f"policy.yaml: oversight.{grade}", unknown("grade", grade, Grade))
        problems.add(f"policy.yaml: oversight.{grade}", unknown("deadline", deadline_id, ids))
    for key, fields in DEADLINE_MESSAGE_FIELDS.items():
        template = meta.deadline_messages.get(key)  # type: ignore[call-overload]
        if template is None:
            problems.add(f"policy.yaml: deadline_messages.{key}", "is required")
            continue
        for name in template_fields(template):
            problems.add(f"policy.yaml: deadline_messages.{key}", unknown("placeholder", name, fields))
    indicators = set(RiskFactor) | DERIVED_INDICATORS
    for name in meta.indicator_labels:
        problems.add(f"policy.yaml: indicator_labels.{name}", unknown("indicator", name, indicators))


def check_parameters(meta: PolicyMeta, params: dict[str, Parameter], problems: Problems) -> None:
    for name, unit in REQUIRED_PARAMETERS.items():
        if name not in params:
            problems.add(f"parameters.yaml: {name}", "is required by the engine and missing")
        elif params[name].unit != unit:
            problems.add(f"parameters.yaml: {name}", f"must have unit {unit!r}")
    indicators = set(RiskFactor) | DERIVED_INDICATORS
    for name, param in params.items():
        where = f"parameters.yaml: {name}"
        problems.add(f"{where}.clause", unknown("clause", param.clause, meta.clauses))
        problems.add(where, check_parameter_value(param))
        if param.unit == "indicators" and isinstance(param.value, list):
            for item in param.value:
                bad = unknown("indicator", item, indicators)
                problems.add(
                    where, bad or unknown("indicator label in policy.yaml", item, meta.indicator_labels)
                )


def check_parameter_value(param: Parameter) -> str | None:
    value, unit = param.value, param.unit
    if unit in DURATION_UNITS or unit in ("count", "years", "percent"):
        ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
        return None if ok else f"a {unit} value is a positive whole number, got {value!r}"
    if unit == "local_time":
        ok = isinstance(value, str) and re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value) is not None
        return None if ok else f"a local time is HH:MM, got {value!r}"
    ok = isinstance(value, list) and bool(value) and all(isinstance(v, str) and v.strip() for v in value)
    return None if ok else f"a list of {unit} must be a non-empty list of names or phrases"


def check_names(clause: str, code: str, meta: PolicyMeta, where: Problems) -> None:
    where.add("clause", unknown("clause", clause, meta.clauses))
    where.add("code", unknown("finding code", code, FindingCode))


def check_deadline(
    spec: DeadlineSpec, meta: PolicyMeta, params: dict[str, Parameter], where: Problems
) -> None:
    check_names(spec.clause, spec.code, meta, where)
    where.add("owner", unknown("role", spec.owner, Role))
    for i, trigger in enumerate(spec.start_triggers):
        check_trigger(trigger, f"starts[{i}]" if isinstance(spec.starts, list) else "starts", where)
    for i, trigger in enumerate(spec.met_by):
        check_trigger(trigger, f"met_by[{i}]", where)
    for i, trigger in enumerate(spec.not_applicable_when):
        check_trigger(trigger, f"not_applicable_when[{i}]", where)
    _check_duration(spec, params, where)
    for key, value in spec.applies_if.items():
        where.add(f"applies_if.{key}", unknown("child field", key, APPLIES_IF_FIELDS))
        if not isinstance(value, bool):
            where.add(f"applies_if.{key}", f"expected true or false, got {value!r}")
    if spec.repeat and spec.each_start:
        where.add(
            "repeat", "a deadline either repeats after each meeting or starts at each trigger, not both"
        )


def _check_duration(spec: DeadlineSpec, params: dict[str, Parameter], where: Problems) -> None:
    if (spec.due_after is None) == (spec.due_after_by_grade is None):
        where.add("due_after", "give exactly one of due_after and due_after_by_grade")
    durations = {n for n, p in params.items() if p.unit in DURATION_UNITS}
    if spec.due_after is not None:
        where.add("due_after", unknown("duration parameter", spec.due_after, durations))
    for grade, name in (spec.due_after_by_grade or {}).items():
        where.add(f"due_after_by_grade.{grade}", unknown("grade", grade, set(Grade) | {"default"}))
        where.add(f"due_after_by_grade.{grade}", unknown("duration parameter", name, durations))
    if spec.due_after_by_grade is not None and "default" not in spec.due_after_by_grade:
        where.add("due_after_by_grade", "needs a 'default' entry for a grade it does not list")


def check_trigger(trigger: Trigger, at: str, where: Problems) -> None:
    given = [k for k in ("event", "grade_becomes", "grade_leaves") if getattr(trigger, k) is not None]
    if len(given) != 1:
        where.add(at, "give exactly one of event, grade_becomes, grade_leaves")
        return
    if trigger.event is not None:
        where.add(f"{at}.event", unknown("event type", trigger.event, EventType))
    for role in trigger.by or []:
        where.add(f"{at}.by", unknown("role", role, Role))
    for key in ("grade_becomes", "grade_leaves"):
        if getattr(trigger, key) is not None:
            where.add(f"{at}.{key}", unknown("grade", getattr(trigger, key), Grade))


def check_test_ids(tests: list[Any], where: Problems) -> None:
    seen: set[str] = set()
    for test in tests:
        if test.id in seen:
            where.add(f"tests.{test.id}", "test id used twice")
        seen.add(test.id)
