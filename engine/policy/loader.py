"""Load a policy folder: parse, check every name, hash the content, compile the rules."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin

from pydantic import BaseModel, ValidationError

from misper.engine.errors import FieldError, PolicyInvalid
from misper.engine.policy import checks
from misper.engine.policy.compiler import (
    EXPRESSION,
    check_template,
    compile_when,
    duration_seconds,
    not_a_duration,
)
from misper.engine.policy.facts_schema import FACT_FIELDS, INSTANT
from misper.engine.policy.faults import Faults
from misper.engine.policy.files import ClauseFile, DeadlineSpec, Parameter, PolicyMeta, RuleSpec, Trigger
from misper.engine.policy.model import START_KIND, START_RULE, CompiledRule, Policy
from misper.engine.policy.names import unknown
from misper.engine.policy.yamlfile import YamlProblems, read_yaml

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
    compiled, ruleset, applies = _compile(meta, params, deadlines, rules, problems, folder.name)
    ladder = _compile_ladder(
        meta, params, Faults(f"{folder.name}/policy.yaml: recommendation", problems.items)
    )
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
        applies=applies,
        ladder=ladder,
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
            raw[path.name] = read_yaml(path.read_text(encoding="utf-8"))
        except YamlProblems as exc:
            for problem in exc.problems:
                problems.add(path.name, problem)
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
        said: set[tuple[Any, ...]] = set()
        errors = exc.errors(include_url=False)
        tags: dict[tuple[Any, ...], list[str]] = {}
        for err in errors:
            if _union_member(data, tuple(err["loc"])):
                tags.setdefault(tuple(err["loc"])[:-1], []).append(str(err["loc"][-1]))
        for err in errors:
            loc, message = _explained(model, data, err, tags)
            if loc not in said:
                said.add(loc)
                problems.add(f"{name}: {_describe_loc(data, loc)}", message)
        return None


TYPE_TEXT = {
    "str": "a text",
    "int": "a whole number",
    "bool": "true or false",
    "float": "a number",
    "list[str]": "a list of texts",
}


def _explained(
    model: type[BaseModel], data: Any, err: Any, tags: dict[tuple[Any, ...], list[str]]
) -> tuple[tuple[Any, ...], str]:
    """Where an error is, as the author wrote it (no validator's names in the path), and what to
    write instead."""
    loc, message = tuple(err["loc"]), str(err["msg"]).removeprefix("Value error, ")
    if _union_member(data, loc):
        # One error per member of a union (applies_if.placement.str, .int, .bool): one message.
        wanted = " or ".join(dict.fromkeys(TYPE_TEXT.get(t, t) for t in tags[loc[:-1]]))
        return loc[:-1], f"expected {wanted}, not {_shown(_at(data, loc[:-1]))}"
    if err["type"] == "extra_forbidden":
        keys = _keys_at(model, loc[:-1]) or _SPEC_KEYS
        message = unknown("key", loc[-1], keys) or message
    elif err["type"] in ("dict_type", "model_type") and len(loc) >= 2 and loc[-2] == "when":
        above = _keys_at(model, loc[:-2])
        message = (
            f"each entry under when is an alias naming a fact ({{fact: event, ...}}); {loc[-1]!r} is not one"
        )
        if loc[-1] in above:
            message += f": {loc[-1]!r} is a key of the rule itself, beside when (indented one level less)"
    elif err["type"] in ("model_type", "dict_type") and isinstance(_at(data, loc), str):
        wanted = ", ".join(sorted(_keys_at(model, loc)))
        message = f"expected a mapping ({wanted}), not the text {_at(data, loc)!r}" if wanted else message
    elif err["type"] == "string_type" and isinstance(_at(data, loc), datetime | date):
        message = f"an instant is quoted in YAML, as text: write '{_at(data, loc).isoformat()}'"
    elif err["type"] == "missing" and loc[-1] == "unit" and _duration_text(_at(data, loc[:-1])):
        message = "a duration is a number and a unit, given apart: value: 72 and unit: hours"
    return loc, message


def _union_member(data: Any, loc: tuple[Any, ...]) -> bool:
    """Whether the error's last step names a member of a union (str, int, list[str]) rather than
    a key the author wrote."""
    if not loc or not isinstance(loc[-1], str) or not (loc[-1] in TYPE_TEXT or "[" in loc[-1]):
        return False
    parent = _at(data, loc[:-1])
    return not (isinstance(parent, dict) and loc[-1] in parent)


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return repr(value)


def _duration_text(spec: Any) -> bool:
    value = spec.get("value") if isinstance(spec, dict) else None
    return isinstance(value, str) and bool(re.fullmatch(r"\s*\d+\s*[a-z]+\s*", value))


def _at(data: Any, loc: tuple[Any, ...]) -> Any:
    node = data
    for part in loc:
        if isinstance(node, dict | list) and _has(node, part):
            node = node[part]
        else:
            return None
    return node


def _keys_at(model: type[BaseModel], loc: tuple[Any, ...]) -> set[str]:
    """The keys of the model at ``loc`` inside ``model`` (empty when it is not a model)."""
    current: Any = model
    for part in loc:
        current = _step(current, part)
        if current is None:
            return set()
    found = _model_of(current)
    return set(found.model_fields) if found else set()


def _step(annotation: Any, part: Any) -> Any:
    found = _model_of(annotation)
    if found is not None and isinstance(part, str) and part in found.model_fields:
        return found.model_fields[part].annotation
    for arg in (*get_args(annotation), annotation):
        origin = get_origin(arg)
        if origin in (list, tuple) and isinstance(part, int):
            return get_args(arg)[0]
        if origin is dict and isinstance(part, str):
            return get_args(arg)[1]
    return None


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_of(arg) if get_origin(arg) is None else None
        if found is not None:
            return found
    return None


def _describe_loc(data: Any, loc: tuple[Any, ...]) -> str:
    """'rules[2].when' -> 'rule G4.under-graded: when', so an author finds the rule by its id."""
    parts: list[str] = []
    node = data
    for i, part in enumerate(loc):
        node = node[part] if isinstance(node, dict | list) and _has(node, part) else None
        if isinstance(part, int) and isinstance(node, dict) and "id" in node and i <= 1:
            parts = [f"{str(loc[0]).rstrip('s')} {node['id']}:"]
        elif isinstance(part, int) and isinstance(node, dict) and "id" in node and loc[i - 1] == "tests":
            parts[-1:] = [f" test {node['id']}:"]
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
) -> tuple[dict[str, CompiledRule], dict[str, Any], dict[str, Any]]:
    compiled: dict[str, CompiledRule] = {}
    applies: dict[str, Any] = {}
    ruleset: dict[str, Any] = {START_RULE: {"all": [{"m": {"kind": START_KIND}}], "run": START_RULE}}
    deadline_ids = {d.id for _, d in deadlines}
    origins: dict[str, str] = {START_RULE: "the engine"}
    declared: dict[str, str] = {}
    for file, spec in deadlines:
        where = Faults(f"{folder}/{file}: deadline {spec.id}", problems.items)
        if spec.id in declared:
            where.add(
                "id", f"the deadline id {spec.id!r} is used twice: {declared[spec.id]} has it too; rename one"
            )
        declared.setdefault(spec.id, file)
        checks.check_deadline(spec, meta, params, where, deadline_ids)
        applies[spec.id] = _compile_applies(spec.applies_if, params, where)
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
            _add(name, rule, compiled_when.conditions, compiled, ruleset, where, (file, origins))
    for file, rule_spec in rules:
        where = Faults(f"{folder}/{file}: rule {rule_spec.id}", problems.items)
        compiled_rule, conditions = _compile_rule(rule_spec, meta, params, deadline_ids, where)
        _add(rule_spec.id, compiled_rule, conditions, compiled, ruleset, where, (file, origins))
    return compiled, ruleset, applies


APPLIES_TO = ("child", "repeat")  # the facts a deadline's applies_if may read


def _compile_applies(
    given: dict[str, Any], params: dict[str, Parameter], where: Faults
) -> tuple[tuple[str, dict[str, Any]], ...]:
    """A deadline's applies_if, compiled as a rule's when on the child and the repeat count:
    (fact kind, condition) pairs, all of which must hold. {looked_after: true} is short for
    {child: {looked_after: true}}."""
    if given and not set(given) & set(FACT_FIELDS):
        given = {"child": given}  # the short form: fields of the child
    return compile_conditions(given, params, where, "applies_if", APPLIES_TO)


LADDER_READS = ("child", "repeat", "risk")  # the facts a recommendation rung may read


def compile_conditions(
    given: dict[str, Any], params: dict[str, Parameter], where: Faults, named: str, kinds: tuple[str, ...]
) -> tuple[tuple[str, dict[str, Any]], ...]:
    """Conditions on single facts of ``kinds`` in the when language (no fact matched against
    another), compiled by the rules' compiler: (fact kind, condition) pairs, all of which must
    hold. Problems are named from ``named`` as the author wrote them (applies_if.child.age_years)."""
    out = []
    for kind, fields in given.items():
        if kind not in kinds or not isinstance(fields, dict) or not fields:
            bad = unknown(f"fact ({named} reads {', '.join(kinds)})", kind, kinds)
            where.add(f"{named}.{kind}", bad or "maps the fact's fields to the values they must have")
            continue
        if any(isinstance(v, str) and v.startswith("$") for v in _operands(fields)):
            where.add(f"{named}.{kind}", "compares with values and parameters only: no other fact here")
            continue
        found = Faults("", [])
        when = compile_when({kind: {"fact": kind, **fields}}, found, params)
        for field, message in found.items:
            where.add(f"{named}." + field.removeprefix(": ").removeprefix("when."), message)
        if found.items or kind in when.absent or not when.conditions:
            continue
        ((_, condition),) = when.conditions[0].items()
        out.append((kind, condition))
    return tuple(out)


def _compile_ladder(meta: PolicyMeta, params: dict[str, Parameter], where: Faults) -> tuple[Any, ...]:
    """The recommendation ladder: (grade, reason, conditions) per rung, top down."""
    if meta.recommendation is None:
        return ()
    checks.check_ladder(meta, params, where)
    return tuple(
        (
            rung.grade,
            rung.reason,
            compile_conditions(rung.when, params, where, f"rungs[{i}].when", LADDER_READS),
        )
        for i, rung in enumerate(meta.recommendation.rungs)
    )


def _operands(fields: dict[str, Any]) -> list[Any]:
    values: list[Any] = []
    for value in fields.values():
        values += list(value.values()) if isinstance(value, dict) else [value]
    return values


def _compile_rule(
    rule: RuleSpec,
    meta: PolicyMeta,
    params: dict[str, Parameter],
    deadline_ids: set[str],
    where: Faults,
) -> tuple[CompiledRule, list[dict[str, Any]]]:
    checks.check_names(rule.clause, rule.code, meta, where)
    when = compile_when(rule.when, where, params, deadline_ids)
    if not any(p.unit == "calendar" for p in params.values()):
        for alias, fields in when.fields.items():
            if when.kinds.get(alias) == "event" and "working_day" in fields:
                where.add(
                    f"when.{alias}.working_day",
                    "working days are counted on the policy's bank-holiday calendar: declare it in "
                    "parameters.yaml (bank_holidays: {value: GB-ENG, unit: calendar, ...})",
                )
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
        inlined=tuple(dict.fromkeys(when.inlined)),
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
            bad = bad or not_a_duration(duration)
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
    origin: tuple[str, dict[str, str]],
) -> None:
    """Register a compiled rule; ``origin`` is its file and where every rule so far came from."""
    file, origins = origin
    if name in compiled:
        other = compiled[name]
        kind = f"deadline {other.deadline}" if other.deadline else "the rule"
        where.add(
            "id", f"the rule id {name!r} is used twice: {kind} in {origins[name]} has it too; rename one"
        )
        return
    compiled[name] = rule
    origins[name] = file
    ruleset[name] = {"all": conditions, "run": name}
