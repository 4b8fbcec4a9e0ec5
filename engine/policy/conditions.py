"""A deadline's conditions (``applies_if``), written in the rules' `when` language and compiled by
the same compiler, judged here in Python on the child's and the repeat count's fields: the same
comparisons a rule makes, without a rule engine round trip (a deadline applies or not before any
fact is asserted). Only what a condition on one fact compiles to is read: equalities, any-of
lists and comparisons with a value or a parameter."""

from __future__ import annotations

from typing import Any

COMPARE = {
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
    "$neq": lambda a, b: a != b,
}


def meets(condition: dict[str, Any], fields: dict[str, Any]) -> bool:
    """Whether fields meet a compiled condition ({"$and": [...]}, {"$or": [...]}, {"field": v},
    {"$lt": {"field": v}} ...). ``kind`` is the fact's, which the caller chose."""
    ((key, value),) = condition.items()
    if key == "$and":
        return all(meets(term, fields) for term in value)
    if key == "$or":
        return any(meets(term, fields) for term in value)
    if key in COMPARE:
        ((name, operand),) = value.items()
        have = fields.get(name)
        return have is not None and bool(COMPARE[key](have, operand))
    if key == "kind":
        return True
    return bool(fields.get(key) == value)
