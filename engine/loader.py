"""Load a policy folder: parse, check every name, hash the content, compile the rules."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ValidationError

from engine.compiler import Problems, check_template, compile_when, template_fields
from engine.errors import FieldError, PolicyInvalid
from engine.names import unknown
from engine.policy import ClauseFile, DeadlineSpec, Parameter, PolicyMeta, RuleSpec, Trigger
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
START_RULE = "__start__"
M = TypeVar("M", bound=BaseModel)
_SPEC_KEYS = {
    k for m in (ClauseFile, DeadlineSpec, RuleSpec, Trigger, Parameter, PolicyMeta) for k in m.model_fields
}


@dataclass(frozen=True)
class CompiledRule:
    """What an action needs when its rule fires: the rule's identity and how to word the finding."""

    name: str
    rule_id: str
    clause: str
    code: str
    severity: str | None = None
    message: str | None = None
    evidence: tuple[str, ...] = ()
    at: str | None = None
    deadline: str | None = None


@dataclass(frozen=True)
class Policy:
    """A loaded, validated policy version: an artefact with a content hash."""

    meta: PolicyMeta
    parameters: dict[str, Parameter]
    deadlines: tuple[DeadlineSpec, ...]
    rules: tuple[RuleSpec, ...]
    compiled: dict[str, CompiledRule]
    ruleset: dict[str, Any]
    sha256: str
    files: dict[str, str] = field(default_factory=dict)
    # kind -> field -> the values some rule accepts; a kind no rule uses is absent.
    fact_filters: dict[str, dict[str, frozenset[Any]]] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.meta.id

    @property
    def ruleset_name(self) -> str:
        return f"{self.meta.id}@{self.sha256[:16]}"

    def may_match(self, kind: str, fields: dict[str, Any]) -> bool:
        """False when no rule of this policy can match the fact, so it need not be asserted."""
        constraints = self.fact_filters.get(kind)
        if constraints is None:
            return False
        return all(fields.get(name) in allowed for name, allowed in constraints.items())

    def seconds(self, name: str) -> int:
        param = self.parameters[name]
        assert isinstance(param.value, int)
        return param.value * DURATION_UNITS[param.unit]

    def value(self, name: str) -> Any:
        return self.parameters[name].value


def load_policy(folder: str | Path) -> Policy:
    """Load and check one policy folder; raise PolicyInvalid listing every problem found."""
    folder = Path(folder)
    problems = Problems(folder.name + "/", [])
    raw = _read_yaml_files(folder, problems)
    meta = _model(PolicyMeta, raw.get("policy.yaml"), "policy.yaml", problems)
    params = _parameters(raw.get("parameters.yaml"), problems)
    clause_files = {
        name: _model(ClauseFile, data or {}, name, problems)
        for name, data in raw.items()
        if name not in ("policy.yaml", "parameters.yaml")
    }
    if meta is None or params is None or any(v is None for v in clause_files.values()):
        raise _invalid(folder, problems)
    deadlines = [(n, d) for n, cf in clause_files.items() if cf for d in cf.deadlines]
    rules = [(n, r) for n, cf in clause_files.items() if cf for r in cf.rules]
    _check_meta(meta, params, [d for _, d in deadlines], problems)
    _check_parameters(meta, params, problems)
    compiled, ruleset, whens = _compile(meta, params, deadlines, rules, problems, folder.name)
    if problems.items:
        raise _invalid(folder, problems)
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)
    return Policy(
        meta=meta,
        parameters=params,
        deadlines=tuple(d for _, d in deadlines),
        rules=tuple(r for _, r in rules),
        compiled=compiled,
        ruleset=ruleset,
        sha256=hashlib.sha256(canonical.encode()).hexdigest(),
        files={n: str(folder / n) for n in raw},
        fact_filters=_fact_filters(whens),
    )


def _fact_filters(whens: list[dict[str, Any]]) -> dict[str, dict[str, frozenset[Any]]]:
    """Per fact kind, the fields every rule alias of that kind pins to listed values.

    A fact whose value lies outside the union for such a field cannot match any alias, so the
    engine need not assert it. Computed once per policy.
    """
    specs: dict[str, list[dict[str, Any]]] = {}
    for when in whens:
        for spec in when.values():
            specs.setdefault(spec["fact"], []).append(spec)
    filters: dict[str, dict[str, frozenset[Any]]] = {}
    for kind, aliases in specs.items():
        pinned = set.intersection(
            *({k for k, v in a.items() if k != "fact" and not isinstance(v, dict)} for a in aliases)
        )
        filters[kind] = {
            name: frozenset(v for a in aliases for v in (a[name] if isinstance(a[name], list) else [a[name]]))
            for name in sorted(pinned)
        }
    return filters


def _invalid(folder: Path, problems: Problems) -> PolicyInvalid:
    errors = [FieldError(where, message) for where, message in problems.items]
    return PolicyInvalid(f"the policy folder {folder} is not valid ({len(errors)} problems)", errors)


def _read_yaml_files(folder: Path, problems: Problems) -> dict[str, Any]:
    if not folder.is_dir():
        problems.add("", f"{folder} is not a folder")
        return {}
    raw: dict[str, Any] = {}
    for path in sorted(folder.glob("*.yaml")):
        try:
            raw[path.name] = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            problems.add(path.name, f"is not valid YAML: {exc}")
    for required in ("policy.yaml", "parameters.yaml"):
        if required not in raw and not any(required in w for w, _ in problems.items):
            problems.add(required, "is missing from the policy folder")
    return raw


def _model(model: type[M], data: Any, name: str, problems: Problems) -> M | None:
    if data is None:
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            message = err["msg"]
            if err["type"] == "extra_forbidden":
                message = unknown("key", err["loc"][-1], _SPEC_KEYS) or message
            problems.add(f"{name}: {_describe_loc(data, err['loc'])}", message)
        return None


def _describe_loc(data: Any, loc: tuple[Any, ...]) -> str:
    """'rules[2].when' -> 'rule G4.under-graded: when', so an author finds the rule by its id."""
    parts: list[str] = []
    node = data
    for i, part in enumerate(loc):
        node = node[part] if isinstance(node, dict | list) and _has(node, part) else None
        if isinstance(part, int) and isinstance(node, dict) and "id" in node and i <= 1:
            parts = [f"{str(loc[0]).rstrip('s')} {node['id']}:"]
        else:
            parts.append(f"[{part}]" if isinstance(part, int) else f".{part}")
    return "".join(parts).lstrip(".").replace(":.", ": ")


def _has(node: Any, part: Any) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(part, int) and 0 <= part < len(node)


def _parameters(data: Any, problems: Problems) -> dict[str, Parameter] | None:
    if not isinstance(data, dict):
        if data is not None:
            problems.add("parameters.yaml", "must map parameter names to their settings")
        return None
    params = {}
    for name, spec in data.items():
        param = _model(Parameter, spec, f"parameters.yaml: {name}", problems)
        if param is not None:
            params[name] = param
    return params if len(params) == len(data) else None


def _check_meta(
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


def _check_parameters(meta: PolicyMeta, params: dict[str, Parameter], problems: Problems) -> None:
    for name, unit in REQUIRED_PARAMETERS.items():
        if name not in params:
            problems.add(f"parameters.yaml: {name}", "is required by the engine and missing")
        elif params[name].unit != unit:
            problems.add(f"parameters.yaml: {name}", f"must have unit {unit!r}")
    indicators = set(RiskFactor) | DERIVED_INDICATORS
    for name, param in params.items():
        where = f"parameters.yaml: {name}"
        problems.add(f"{where}.clause", unknown("clause", param.clause, meta.clauses))
        problems.add(where, _check_parameter_value(param))
        if param.unit == "indicators" and isinstance(param.value, list):
            for item in param.value:
                bad = unknown("indicator", item, indicators)
                problems.add(
                    where, bad or unknown("indicator label in policy.yaml", item, meta.indicator_labels)
                )


def _check_parameter_value(param: Parameter) -> str | None:
    value, unit = param.value, param.unit
    if unit in DURATION_UNITS or unit in ("count", "years", "percent"):
        ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
        return None if ok else f"a {unit} value is a positive whole number, got {value!r}"
    if unit == "local_time":
        ok = isinstance(value, str) and re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value) is not None
        return None if ok else f"a local time is HH:MM, got {value!r}"
    ok = isinstance(value, list) and bool(value) and all(isinstance(v, str) and v.strip() for v in value)
    return None if ok else f"a list of {unit} must be a non-empty list of names or phrases"


def _compile(
    meta: PolicyMeta,
    params: dict[str, Parameter],
    deadlines: list[tuple[str, DeadlineSpec]],
    rules: list[tuple[str, RuleSpec]],
    problems: Problems,
    folder: str,
) -> tuple[dict[str, CompiledRule], dict[str, Any], list[dict[str, Any]]]:
    compiled: dict[str, CompiledRule] = {}
    whens: list[dict[str, Any]] = []
    ruleset: dict[str, Any] = {START_RULE: {"all": [{"m": {"kind": "start"}}], "run": START_RULE}}
    for file, spec in deadlines:
        where = Problems(f"{folder}/{file}: deadline {spec.id}", problems.items)
        _check_deadline(spec, meta, params, where)
        _check_test_ids(spec.tests, where)
        for suffix, statuses in ((":late", ["breached", "met_late"]), (":due_soon", ["due_soon"])):
            name = f"{spec.clause}.{spec.id}{suffix}"
            when = {"deadline": {"fact": "deadline", "deadline": spec.id, "status": statuses}}
            whens.append(when)
            conditions, _ = compile_when(when, where)
            _add(
                name,
                CompiledRule(name, spec.id, spec.clause, spec.code, deadline=spec.id),
                conditions,
                compiled,
                ruleset,
                where,
            )
    for file, rule in rules:
        where = Problems(f"{folder}/{file}: rule {rule.id}", problems.items)
        _check_names(rule.clause, rule.code, meta, where)
        whens.append(rule.when)
        conditions, kinds = compile_when(rule.when, where)
        check_template(rule.message, kinds, where)
        for alias in rule.evidence:
            where.add("evidence", unknown("alias", alias, kinds))
        if rule.at:
            alias, _, fld = rule.at.partition(".")
            where.add("at", unknown("alias", alias, kinds))
        _check_test_ids(rule.tests, where)
        _add(
            rule.id,
            CompiledRule(
                rule.id,
                rule.id,
                rule.clause,
                rule.code,
                rule.severity,
                rule.message,
                tuple(rule.evidence),
                rule.at,
            ),
            conditions,
            compiled,
            ruleset,
            where,
        )
    return compiled, ruleset, whens


def _add(
    name: str,
    rule: CompiledRule,
    conditions: list[dict[str, Any]],
    compiled: dict[str, CompiledRule],
    ruleset: dict[str, Any],
    where: Problems,
) -> None:
    if name in compiled:
        where.add("id", f"the rule id {name!r} is used twice")
        return
    compiled[name] = rule
    ruleset[name] = {"all": conditions, "run": name}


def _check_names(clause: str, code: str, meta: PolicyMeta, where: Problems) -> None:
    where.add("clause", unknown("clause", clause, meta.clauses))
    where.add("code", unknown("finding code", code, FindingCode))


def _check_deadline(
    spec: DeadlineSpec, meta: PolicyMeta, params: dict[str, Parameter], where: Problems
) -> None:
    _check_names(spec.clause, spec.code, meta, where)
    where.add("owner", unknown("role", spec.owner, Role))
    _check_trigger(spec.starts, "starts", where)
    for i, trigger in enumerate(spec.met_by):
        _check_trigger(trigger, f"met_by[{i}]", where)
    for i, trigger in enumerate(spec.not_applicable_when):
        _check_trigger(trigger, f"not_applicable_when[{i}]", where)
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
    for key, value in spec.applies_if.items():
        where.add(f"applies_if.{key}", unknown("child field", key, APPLIES_IF_FIELDS))
        if not isinstance(value, bool):
            where.add(f"applies_if.{key}", f"expected true or false, got {value!r}")
    if spec.repeat and spec.each_start:
        where.add(
            "repeat", "a deadline either repeats after each meeting or starts at each trigger, not both"
        )


def _check_trigger(trigger: Trigger, at: str, where: Problems) -> None:
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


def _check_test_ids(tests: list[Any], where: Problems) -> None:
    seen: set[str] = set()
    for test in tests:
        if test.id in seen:
            where.add(f"tests.{test.id}", "test id used twice")
        seen.add(test.id)
