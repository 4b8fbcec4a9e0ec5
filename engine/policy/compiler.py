"""Rule conditions from the policy files, checked against the fact schema and the policy's
parameters and compiled to durable-rules' JSON form. Checking and compiling are one walk, so
they cannot disagree.

The ``when`` language (docs/writing-rules.md is the author's guide):

    alias: {fact: KIND, FIELD: CONDITION, ...}            a fact of that kind matching them all
    alias: {fact: KIND, absent: true, FIELD: ...}         no fact matches (judged over the whole
                                                           timeline, once every fact is in)

A CONDITION is a value (``grade: high``), a list of values (any of them), the name of a
parameter (its value; a list parameter means any of its items), or a mapping of comparisons
``{eq|ne|lt|lte|gt|gte: OPERAND, ...}`` that must all hold. An OPERAND is a value, a parameter
name, or a reference to an alias declared earlier, with optional time arithmetic by a named
duration: ``$report.at``, ``$high.at + la_strategy_discussion``, ``$grading.at - initial_grading``.
Parameters convert to the field's terms: durations to seconds, local times to minutes after
local midnight, a grade to its rank when compared with a rank.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from typing import Any

from misper.engine.contract.vocabulary import GRADE_RANK, Grade
from misper.engine.policy.facts_schema import BOOL, DISPLAY_FIELDS, FACT_FIELDS, INSTANT, NUMBERS, TEXT
from misper.engine.policy.faults import Faults
from misper.engine.policy.files import Parameter
from misper.engine.policy.names import unknown

OPERATORS = {"eq": None, "ne": "$neq", "lt": "$lt", "lte": "$lte", "gt": "$gt", "gte": "$gte"}
EXPRESSION = re.compile(
    r"^\$(?P<alias>[a-z_][a-z0-9_]*)\.(?P<field>[a-z_][a-z0-9_]*)"
    r"(?:\s*(?P<sign>[+-])\s*(?P<duration>[a-z_][a-z0-9_]*))?$"
)
ALIAS = re.compile(r"[a-z][a-z0-9_]*")
LITERAL_DURATION = re.compile(r"^(?P<head>\$\S+)\s*[+-]\s*(?P<value>\d+)\s*(?P<unit>[a-z]*)$")


def _not_an_expression(text: str) -> str:
    """Why a reference cannot be read, saying what to write instead."""
    literal = LITERAL_DURATION.match(text.strip())
    if literal:
        value, unit = literal.group("value", "unit")
        return (
            "a duration in a rule is a parameter's name, not a number: declare it in parameters.yaml "
            f"(e.g. my_duration: {{value: {value}, unit: {unit or 'hours'}, clause: ..., provenance: ...}}) "
            f"and write {literal.group('head')} + my_duration"
        )
    return f"a reference is $alias.field or $alias.field + duration, not {text!r}"


END_ALIAS = "__end"  # the end-marker fact, joined before absences so they see every fact
DURATION_SECONDS = {"minutes": 60, "hours": 3600, "days": 86400}
CLOCK_FIELD = ("incident", "as_of")  # comparing a time with this makes a rule depend on as_of


# A comparison read the other way round: ``x.at lt $incident.as_of`` holds when as_of gt x.at.
FLIPPED = {"eq": "eq", "ne": "ne", "lt": "gt", "lte": "gte", "gt": "lt", "gte": "lte"}


@dataclass(frozen=True)
class Clock:
    """A rule comparing as_of with an instant: ``as_of OP fact.field + offset`` seconds (a
    comparison written the other way round is stored turned about), for the instants at which
    an evaluation may change by the clock alone."""

    kind: str
    field: str
    offset: int
    op: str = "gte"

    def instants(self, at: int) -> tuple[int, ...]:
        """The first instants at which the comparison's answer changes, for a fact's ``at``: as_of
        gte T turns true at T and as_of lt T false at T; gt and lte change a second later (the
        engine counts whole seconds); eq and ne change at T and again a second later."""
        t = at + self.offset
        return {"gte": (t,), "lt": (t,), "gt": (t + 1,), "lte": (t + 1,)}.get(self.op, (t, t + 1))


@dataclass
class When:
    """A compiled condition: durable-rules' ``all`` list, and what the rest of the loader needs."""

    conditions: list[dict[str, Any]] = field(default_factory=list)
    kinds: dict[str, str] = field(default_factory=dict)  # every alias -> its fact kind
    absent: set[str] = field(default_factory=set)
    clocks: list[Clock] = field(default_factory=list)
    # alias -> the field each compiled term after the kind tests (a field compared twice: twice)
    fields: dict[str, list[str]] = field(default_factory=dict)
    # Each parameter whose value was written into a condition: where, its name, the value written.
    inlined: list[tuple[str, str, Any]] = field(default_factory=list)


def not_a_duration(name: str) -> str:
    return (
        f"{name!r} is not a duration (minutes, hours or days; working days time only a deadline's due_after)"
    )


def duration_seconds(param: Parameter) -> int | None:
    unit = DURATION_SECONDS.get(param.unit)
    return param.value * unit if unit and isinstance(param.value, int) else None


def compile_when(
    when: dict[str, dict[str, Any]],
    problems: Faults,
    params: dict[str, Parameter],
    deadline_ids: set[str] | None = None,
) -> When:
    """Aliases in order -> a durable 'all' list. A deadline named in a condition must be one the
    policy declares; a parameter named must exist and have a unit the field can take."""
    out = When()
    for alias, spec in when.items():
        if not isinstance(spec, dict) or not ALIAS.fullmatch(alias):
            problems.add(f"when.{alias}", "an alias is lower-case letters, digits and _, and maps to a fact")
            continue
        kind = spec.get("fact")
        bad = unknown("fact kind", kind, FACT_FIELDS)
        if bad:
            problems.add(f"when.{alias}.fact", bad)
            continue
        _compile_alias(alias, str(kind), spec, out, problems, params, deadline_ids)
    if out.kinds and len(out.absent) == len(out.kinds):
        problems.add("when", "needs at least one fact that is present; every alias is absent")
    return out


def _compile_alias(
    alias: str,
    kind: str,
    spec: dict[str, Any],
    out: When,
    problems: Faults,
    params: dict[str, Parameter],
    deadline_ids: set[str] | None,
) -> None:
    absent = spec.get("absent", False)
    if not isinstance(absent, bool):
        problems.add(f"when.{alias}.absent", f"expected true or false, got {absent!r}")
    terms: list[dict[str, Any]] = [{"kind": kind}]
    fields: list[str] = []
    for name, value in spec.items():
        if name in ("fact", "absent"):
            continue
        where = problems.under(f"when.{alias}.{name}")
        names = frozenset(deadline_ids) if deadline_ids is not None and name == "deadline" else None
        compiled = _Field(kind, name, out, where, params, names, alias).compile(value) or []
        terms.extend(compiled)
        fields.extend([name] * len(compiled))
    out.fields[alias] = fields
    if absent is True:
        if not out.absent:  # the end marker first: every absence is judged over the whole timeline
            out.conditions.append({END_ALIAS: {"kind": "end"}})
        out.absent.add(alias)
    out.kinds[alias] = kind
    key = f"{alias}$not" if absent is True else alias
    out.conditions.append({key: terms[0] if len(terms) == 1 else {"$and": terms}})


@dataclass
class _Field:
    """One field's condition in one alias."""

    kind: str
    name: str
    when: When
    problems: Faults
    params: dict[str, Parameter]
    names: frozenset[str] | None
    alias: str = ""

    @property
    def allowed(self) -> str | frozenset[str]:
        allowed = FACT_FIELDS[self.kind][self.name]
        return self.names if self.names is not None and allowed == TEXT else allowed

    def compile(self, value: Any) -> list[dict[str, Any]] | None:
        bad = unknown(f"field of fact '{self.kind}'", self.name, FACT_FIELDS[self.kind])
        if bad:
            self.problems.add("", bad)
            return None
        if isinstance(value, dict):
            if not value:
                self.problems.add("", f"a comparison needs one or more of: {', '.join(OPERATORS)}")
                return None
            terms = [self._comparison(op, operand) for op, operand in value.items()]
            return [t for t in terms if t is not None] if all(terms) else None
        values = self._values(value)
        if values is None:
            return None
        ors = [{self.name: v} for v in values]
        return [ors[0] if len(ors) == 1 else {"$or": ors}]

    def _values(self, value: Any) -> list[Any] | None:
        """A plain condition: one value, a list, or a parameter (a list parameter: its items)."""
        if isinstance(value, list):
            if not value:
                self.problems.add("", "an empty list matches nothing")
                return None
            found = [self._literal(v) for v in value]
            return None if any(v is _BAD for v in found) else found
        resolved = self._literal(value, lists=True)
        if resolved is _BAD:
            return None
        return resolved if isinstance(resolved, list) else [resolved]

    def _comparison(self, op: str, operand: Any) -> dict[str, Any] | None:
        bad = unknown("comparison", op, OPERATORS)
        if bad:
            self.problems.add("", bad)
            return None
        if op not in ("eq", "ne") and self.allowed not in NUMBERS:
            self.problems.add("", f"{op} compares numbers and instants; {self.name} is not one")
            return None
        if isinstance(operand, str) and operand.startswith("$"):
            right = self._expression(operand)
        else:
            right = self._literal(operand)
        if right is _BAD:
            return None
        self._clock(op, operand)
        durable_op = OPERATORS[op]
        return {self.name: right} if durable_op is None else {durable_op: {self.name: right}}

    def _expression(self, text: str) -> Any:
        match = EXPRESSION.match(text)
        if not match:
            self.problems.add("", _not_an_expression(text))
            return _BAD
        alias, other, sign, duration = match.group("alias", "field", "sign", "duration")
        if alias in self.when.absent:
            self.problems.add("", f"{alias!r} is an absent fact: nothing can refer to it")
            return _BAD
        bad = unknown("alias (it must be declared earlier in 'when')", alias, self.when.kinds)
        if bad:
            self.problems.add("", bad)
            return _BAD
        kind = self.when.kinds[alias]
        bad = unknown(f"field of fact '{kind}'", other, FACT_FIELDS[kind])
        if bad:
            self.problems.add("", bad)
            return _BAD
        ref: dict[str, Any] = {alias: other}
        if duration:
            seconds = self._duration(duration)
            if seconds is None:
                return _BAD
            ref = {"$add" if sign == "+" else "$sub": {"$l": ref, "$r": seconds}}
        return ref

    def _clock(self, op: str, operand: Any) -> None:
        """A comparison of as_of with an instant (either way round) makes the rule a clock."""
        match = EXPRESSION.match(operand) if isinstance(operand, str) else None
        if match is None or self.allowed != INSTANT:
            return
        alias, other, sign, duration = match.group("alias", "field", "sign", "duration")
        kind = self.when.kinds[alias]
        seconds = self._duration(duration) if duration else 0
        offset = (seconds or 0) * (-1 if sign == "-" else 1)
        if (self.kind, self.name) == CLOCK_FIELD and FACT_FIELDS[kind][other] == INSTANT:
            self.when.clocks.append(Clock(kind, other, offset, op))
        elif (kind, other) == CLOCK_FIELD:
            # field OP as_of + offset, i.e. as_of FLIPPED(OP) field - offset
            self.when.clocks.append(Clock(self.kind, self.name, -offset, FLIPPED[op]))

    def _duration(self, name: str) -> int | None:
        bad = unknown("parameter", name, self.params)
        seconds = duration_seconds(self.params[name]) if not bad else None
        if bad or seconds is None:
            self.problems.add("", bad or not_a_duration(name))
            return None
        self._inlined(name, seconds)
        return seconds

    def _inlined(self, name: str, value: Any) -> None:
        self.when.inlined.append((f"when.{self.alias}.{self.name}", name, value))

    def _literal(self, value: Any, lists: bool = False) -> Any:
        """A value the field can hold, or a parameter's value in the field's terms."""
        allowed = self.allowed
        if isinstance(value, str) and value in self.params and not _is_value(allowed, value):
            return self._parameter(value, lists)
        problem = _check_value(allowed, value)
        if problem and isinstance(value, str) and allowed in NUMBERS and not value.startswith("$"):
            # A word where a number goes is a parameter's name, misspelt or not declared.
            problem = unknown("parameter", value, self.params)
            self.problems.add("", f"{problem}; a number goes here, or a parameter's name")
            return _BAD
        if problem:
            hint = " or a parameter" if allowed in NUMBERS or isinstance(allowed, frozenset) else ""
            self.problems.add("", problem + (f" (expected a value{hint})" if hint else ""))
            return _BAD
        return value

    def _parameter(self, name: str, lists: bool) -> Any:
        value = self._parameter_value(name, lists)
        if value is not _BAD:
            self._inlined(name, value)
        return value

    def _parameter_value(self, name: str, lists: bool) -> Any:
        param, allowed = self.params[name], self.allowed
        value = param.value
        if allowed in NUMBERS:
            if param.unit == "grade":
                return GRADE_RANK[Grade(str(value))]
            if param.unit == "local_time" and isinstance(value, str):
                hours, minutes = value.split(":")
                return int(hours) * 60 + int(minutes)
            seconds = duration_seconds(param)
            if seconds is not None:
                return seconds
            if isinstance(value, int):
                return value
        elif isinstance(allowed, frozenset):
            items = value if isinstance(value, list) else [value]
            if (lists or not isinstance(value, list)) and all(isinstance(v, str) for v in items):
                bad = [v for v in items if v not in allowed]
                if not bad:
                    return list(items) if isinstance(value, list) else value
                self.problems.add("", f"parameter {name!r} holds {bad[0]!r}, which {self.name} never is")
                return _BAD
        self.problems.add("", f"parameter {name!r} ({param.unit}) cannot be compared with {self.name}")
        return _BAD


class _Bad:
    pass


_BAD: Any = _Bad()


def _is_value(allowed: str | frozenset[str], value: str) -> bool:
    return isinstance(allowed, frozenset) and value in allowed


def _check_value(allowed: str | frozenset[str], value: Any) -> str | None:
    if allowed in NUMBERS:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else f"expected a whole number, got {value!r}"
    if allowed == BOOL:
        return None if isinstance(value, bool) else f"expected true or false, got {value!r}"
    if allowed == TEXT:
        return None if isinstance(value, str) else f"expected text, got {value!r}"
    assert isinstance(allowed, frozenset)
    return unknown("value", value, allowed)


def template_fields(template: str) -> list[str]:
    """The {placeholders} of a message template."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def check_template(template: str, when: When, params: dict[str, Parameter], problems: Faults) -> None:
    """Every {alias.field} in a rule message names a present alias and a field of its fact;
    every {parameters.name} a parameter."""
    try:
        names = template_fields(template)
    except ValueError as exc:
        problems.add("message", f"is not a valid template: {exc}")
        return
    present = {a: k for a, k in when.kinds.items() if a not in when.absent}
    for name in names:
        alias, _, field_name = name.partition(".")
        if alias == "parameters":
            problems.add("message", unknown("parameter", field_name, params))
            continue
        bad = unknown("alias (an absent one has nothing to quote)", alias, present)
        if bad:
            problems.add("message", bad)
            continue
        known = set(FACT_FIELDS[present[alias]]) | DISPLAY_FIELDS[present[alias]]
        problems.add("message", unknown(f"field of fact '{present[alias]}'", field_name, known))
