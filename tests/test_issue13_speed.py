"""What the engine does to be fast must not change what it says."""

from __future__ import annotations

import json

from engine import evaluate, parse_timeline
from engine.contract import evaluation


def test_trusted_models_equal_model_construct(case_study, policy) -> None:  # type: ignore[no-untyped-def]
    """Every output model built the fast way equals pydantic's model_construct: same fields,
    same fields set, same JSON, defaults copied (never shared between instances)."""
    result = evaluate(
        parse_timeline(json.dumps(case_study)), policy, trace=True, why_not="INITIAL_GRADING_LATE"
    )
    seen = 0

    def walk(model):  # type: ignore[no-untyped-def]
        nonlocal seen
        if isinstance(model, list):
            for item in model:
                walk(item)
            return
        if not isinstance(model, evaluation._Out):
            return
        seen += 1
        values = {k: getattr(model, k) for k in model.__pydantic_fields_set__}
        slow, fast = type(model).model_construct(**values), type(model).trusted(**values)
        assert fast == slow and fast.model_fields_set == slow.model_fields_set
        assert fast.model_dump_json() == slow.model_dump_json()
        for name in type(model).model_fields:
            walk(getattr(model, name))

    walk(result)
    assert seen > 40
    given = {k: getattr(result, k) for k in type(result).model_fields if k != "notes"}
    a, b = evaluation.Evaluation.trusted(**given), evaluation.Evaluation.trusted(**given)
    assert a.notes == [] and a.notes is not b.notes and a.to_json() == result.to_json()
