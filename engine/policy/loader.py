"""Load a policy folder: parse, check every name, hash the content, compile the rules."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from misper.engine.errors import FieldError, PolicyInvalid
from misper.engine.policy import checks
from misper.engine.policy.compiler import EXPRESSION, check_template, compile_when, duration_seconds
from misper.engine.policy.facts_schema import FACT_FIELDS, INSTANT
from misper.engine.policy.faults import Faults
from misper.engine.policy.files import ClauseFile, DeadlineSpec, Parameter, PolicyMeta, RuleSpec, Trigger
from misper.engine.policy.model import START_KIND, START_RULE, CompiledRule, Policy
from misper.engine.policy.names import unknown

M = TypeVar("M", bound=BaseModel)
_SPEC_KEYS = {
    k for m in (ClauseFile, DeadlineSpec, RuleSpec, Trigger, Parameter, PolicyMeta) for k in m.model_fields
}


def load_policy(folder: str | Path) -> Policy:
    """Load and check one policy folder; raise PolicyInvalid listing every problem found."""
    folder = Path(folder)
    problems = Faults(folder.name + "/", [])
    raw = _read_yaml_files(folder, problems)
    # A file missing or not YAML is reported by _read_yaml_files; one that is empty, here.
    meta = _model(PolicyMeta, raw["policy.yaml"], "policy.yaml", problems) if "policy.yaml" in raw else None
    params = _parameters(raw["parameters.yaml"], problems) if "parameters.yaml" in raw else None
    clause_files = {
        name: _model(ClauseFile, data or {}, name, problems)
        for name, data in raw.items()
        if name not in ("policy.yaml", "parameters.yaml")
    }
    if meta is None or params is None or any(v is None for v in clause_files.values()):
        raise _invalid(folder, problems)
    deadlines = [
        (n, checks.resolve_roles(d, params, Faults(f"{folder.name}/{n}: deadline {d.id}", problems.items)))
        for n, cf in clause_files.items()
        if cf
        for d in cf.deadlines
    ]
    rules = [(n, r) for n, cf in clause_files.items() if cf for r in cf.rules]
    checks.check_identity(meta, folder.name, problems)
    checks.check_meta(meta, params, [d for _, d in deadlines], problems)
    checks.check_parameters(meta, params, problems)
    checks.check_deadline_links([d for _, d in deadlines], problems)
    compiled, ruleset = _compile(meta, params, deadlines, rules, problems, folder.name)
    if problems.items:
        raise _invalid(folder, problems)
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)
    return Policy(
        meta=meta,
        parameters=params,
        deadlines=tuple(d for _, d in deadlines),
        rules=tuple(r for _, r in rules),
        compiled=compiled,
        ruleset=joins_first(ruleset),
        sha256=hashlib.sha256(canonical.encode()).hexdigest(),
        sources={**{d.id: n for n, d in deadlines}, **{r.id: n for n, r in rules}},
    )


def joins_first(ruleset: dict[str, Any]) -> dict[str, Any]:
    """The start rule, then rules that join two or more facts, then the rest.

    durable-rules 2.0.28 segfaults on asserting a fact when a rule joining two aliases by
    reference is registered after unrelated rules in some orders (jruizgit/rules#381, open);
    measured here: the baseline policy's BG4 crashed the process registered last and ran
    correctly registered first. The embedded tests exercise every join when a server starts.
    """

    names = list(ruleset)
    ordered = [START_RULE] + [n for n in names if n != START_RULE and len(ruleset[n]["all"]) > 1]
    ordered += [n for n in names if n not in ordered]
    return {n: ruleset[n] for n in ordered}


def _invalid(folder: Path, problems: Faults) -> PolicyInvalid:
    errors = [FieldError(where, message) for where, message in problems.items]
    return PolicyInvalid(f"the policy folder {folder} is not valid ({len(errors)} problems)", errors)


def _read_yaml_files(folder: Path, problems: Faults) -> dict[str, Any]:
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


def _model(model: type[M], data: Any, name: str, problems: Faults) -> M | None:
    if data is None:
        problems.add(name, "is empty; it needs its settings")
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


def _parameters(data: Any, problems: Faults) -> dict[str, Parameter] | None:
    if not isinstance(data, dict):
        problems.add("parameters.yaml", "must map parameter names to their settings")
        return None
    params = {}
    for name, spec in data.items():
        param = _model(Parameter, spec, f"parameters.yaml: {name}", problems)
        if param is not None:
            params[name] = param
    return params if len(params) == len(data) else None


def _compile(
    meta: PolicyMeta,
    params: dict[str, Parameter],
    deadlines: list[tuple[str, DeadlineSpec]],
    rules: list[tuple[str, RuleSpec]],
    problems: Faults,
    folder: str,
) -> tuple[dict[str, CompiledRule], dict[str, Any]]:
    compiled: dict[str, CompiledRule] = {}
    ruleset: dict[str, Any] = {START_RULE: {"all": [{"m": {"kind": START_KIND}}], "run": START_RULE}}
    deadline_ids = {d.id for _, d in deadlines}
    for file, spec in deadlines:
        where = Faults(f"{folder}/{file}: deadline {spec.id}", problems.items)
        checks.check_deadline(spec, meta, params, where, deadline_ids)
        checks.check_test_ids(spec.tests, where)
        severity = spec.severity or meta.deadline_severity
        for suffix, statuses, level in (
            (":late", ["breached", "met_late"], severity.late),
            (":due_soon", ["due_soon"], severity.due_soon),
        ):
            name = f"{spec.clause}.{spec.id}{suffix}"
            when = {"deadline": {"fact": "deadline", "deadline": spec.id, "status": statuses}}
            compiled_when = compile_when(when, where, params, deadline_ids)
            rule = CompiledRule(
                name,
                spec.clause,
                spec.code,
                level,
                deadline=spec.id,
                when=when,
                fields={a: tuple(f) for a, f in compiled_when.fields.items()},
            )
            _add(name, rule, compiled_when.conditions, compiled, ruleset, where)
    for file, rule_spec in rules:
        where = Faults(f"{folder}/{file}: rule {rule_spec.id}", problems.items)
        compiled_rule, conditions = _compile_rule(rule_spec, meta, params, deadline_ids, where)
        _add(rule_spec.id, compiled_rule, conditions, compiled, ruleset, where)
    return compiled, ruleset


def _compile_rule(
    rule: RuleSpec,
    meta: PolicyMeta,
    params: dict[str, Parameter],
    deadline_ids: set[str],
    where: Faults,
) -> tuple[CompiledRule, list[dict[str, Any]]]:
    checks.check_names(rule.clause, rule.code, meta, where)
    when = compile_when(rule.when, where, params, deadline_ids)
    check_template(rule.message, when, params, where)
    present = {a: k for a, k in when.kinds.items() if a not in when.absent}
    for name in rule.parameters:
        where.add("parameters", unknown("parameter", name, params))
    for alias in rule.evidence:
        where.add("evidence", unknown("alias (an absent one is no evidence)", alias, present))
    at = _finding_instant(rule.at, present, params, where) if rule.at else None
    checks.check_test_ids(rule.tests, where)
    return CompiledRule(
        rule.id,
        rule.clause,
        rule.code,
        rule.severity,
        rule.message,
        tuple(rule.evidence),
        at,
        parameters=tuple(rule.parameters),
        clocks=tuple(when.clocks),
        when=rule.when,
        fields={a: tuple(f) for a, f in when.fields.items()},
    ), when.conditions


def _finding_instant(
    text: str, present: dict[str, str], params: dict[str, Parameter], where: Faults
) -> tuple[str, str, int] | None:
    """A rule's ``at``: an instant of a matched fact, optionally moved by a named duration
    ("$high.at + la_strategy_discussion"; the older "alias.field" form is accepted too)."""
    match = EXPRESSION.match(text if text.startswith("$") else "$" + text)
    if not match:
        where.add("at", f"is $alias.field or $alias.field + duration, not {text!r}")
        return None
    alias, name, sign, duration = match.group("alias", "field", "sign", "duration")
    bad = unknown("alias", alias, present)
    instants = {f for f, kind in FACT_FIELDS.get(present.get(alias, ""), {}).items() if kind == INSTANT}
    bad = bad or unknown(f"instant of fact '{present[alias]}'", name, instants)
    offset = 0
    if not bad and duration:
        bad = unknown("parameter", duration, params)
        seconds = None if bad else duration_seconds(params[duration])
        if seconds is None:
            bad = bad or f"{duration!r} is not a duration (minutes, hours or days)"
        else:
            offset = seconds if sign == "+" else -seconds
    where.add("at", bad)
    return None if bad else (alias, name, offset)


def _add(
    name: str,
    rule: CompiledRule,
    conditions: list[dict[str, Any]],
    compiled: dict[str, CompiledRule],
    ruleset: dict[str, Any],
    where: Faults,
) -> None:
    if name in compiled:
        where.add("id", f"the rule id {name!r} is used twice")
        return
    compiled[name] = rule
    ruleset[name] = {"all": conditions, "run": name}
