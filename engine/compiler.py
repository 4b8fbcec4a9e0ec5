"""Rule conditions from the policy files, checked against the fact schema and compiled to
durable-rules' JSON form. Checking and compiling are one walk, so they cannot disagree.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Any

from engine.facts_schema import BOOL, DISPLAY_FIELDS, FACT_FIELDS, INT, TEXT
from engine.names import unknown

OPERATORS = {"ne": "$neq", "lt": "$lt", "lte": "$lte", "gt": "$gt", "gte": "$gte"}
REF = re.compile(r"^\$([a-z_][a-z0-9_]*)\.([a-z_][a-z0-9_]*)$")


@dataclass
class Problems:
    """Collects (where, message) pairs while a file is checked."""

    where: str
    items: list[tuple[str, str]]

    def add(self, field: str, message: str | None) -> None:
        if message:
            where = self.where if self.where.endswith("/") or not field else self.where + ": "
            self.items.append((f"{where}{field}" if field else self.where, message))


def compile_when(
    when: dict[str, dict[str, Any]], problems: Problems, deadline_ids: set[str] | None = None
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Aliases in order -> durable 'all' list; also returns alias -> fact kind. A deadline named
    in a condition must be one the policy declares."""
    compiled: list[dict[str, Any]] = []
    kinds: dict[str, str] = {}
    for alias, spec in when.items():
        if alias.endswith("$not") or not re.fullmatch(r"[a-z][a-z0-9_]*", alias):
            problems.add(f"when.{alias}", "an alias is lower-case letters, digits and _")
            continue
        kind = spec.get("fact")
        bad = unknown("fact kind", kind, FACT_FIELDS)
        if bad:
            problems.add(f"when.{alias}.fact", bad)
            continue
        assert isinstance(kind, str)
        terms: list[dict[str, Any]] = [{"kind": kind}]
        for field, value in spec.items():
            if field == "fact":
                continue
            term = _compile_field(
                kind,
                field,
                value,
                kinds,
                problems.__class__(f"{problems.where}: when.{alias}.{field}", problems.items),
                frozenset(deadline_ids) if deadline_ids is not None and field == "deadline" else None,
            )
            if term is not None:
                terms.append(term)
        kinds[alias] = kind
        compiled.append({alias: terms[0] if len(terms) == 1 else {"$and": terms}})
    return compiled, kinds


def _compile_field(
    kind: str,
    field: str,
    value: Any,
    kinds: dict[str, str],
    problems: Problems,
    names: frozenset[str] | None = None,
) -> dict[str, Any] | None:
    fields = FACT_FIELDS[kind]
    bad = unknown(f"field of fact '{kind}'", field, fields)
    if bad:
        problems.add("", bad)
        return None
    allowed = names if names is not None and fields[field] == TEXT else fields[field]
    if isinstance(value, list):
        if not value:
            problems.add("", "an empty list matches nothing")
            return None
        for item in value:
            problems.add("", _check_value(allowed, item))
        terms = [{field: item} for item in value]
        return terms[0] if len(terms) == 1 else {"$or": terms}
    if isinstance(value, dict):
        return _compile_operator(field, allowed, value, kinds, problems)
    problems.add("", _check_value(allowed, value))
    return {field: value}


def _compile_operator(
    field: str,
    allowed: str | frozenset[str],
    value: dict[str, Any],
    kinds: dict[str, str],
    problems: Problems,
) -> dict[str, Any] | None:
    if len(value) != 1:
        problems.add("", f"one operator per field, one of: {', '.join(OPERATORS)}")
        return None
    op, operand = next(iter(value.items()))
    bad = unknown("operator", op, OPERATORS)
    if bad:
        problems.add("", bad)
        return None
    if isinstance(operand, str) and operand.startswith("$"):
        ref = REF.match(operand)
        if not ref:
            problems.add("", f"a reference looks like $alias.field, not {operand!r}")
            return None
        alias, other = ref.groups()
        bad = unknown("alias (it must be declared earlier in 'when')", alias, kinds)
        if bad:
            problems.add("", bad)
            return None
        problems.add("", unknown(f"field of fact '{kinds[alias]}'", other, FACT_FIELDS[kinds[alias]]))
        return {OPERATORS[op]: {field: {alias: other}}}
    problems.add("", _check_value(allowed, operand))
    return {OPERATORS[op]: {field: operand}}


def _check_value(allowed: str | frozenset[str], value: Any) -> str | None:
    if allowed == INT:
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


def check_template(template: str, kinds: dict[str, str], problems: Problems) -> None:
    """Every {alias.field} in a rule message names a declared alias and a field of its fact."""
    try:
        names = template_fields(template)
    except ValueError as exc:
        problems.add("message", f"is not a valid template: {exc}")
        return
    for name in names:
        alias, _, field = name.partition(".")
        bad = unknown("alias", alias, kinds)
        if bad:
            problems.add("message", bad)
            continue
        known = set(FACT_FIELDS[kinds[alias]]) | DISPLAY_FIELDS[kinds[alias]]
        problems.add("message", unknown(f"field of fact '{kinds[alias]}'", field, known))
