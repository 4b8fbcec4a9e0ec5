"""The engine gives the answers recorded for a few hundred generated timelines (see
tests/differential.py): rewriting how rules are matched must not change what is found."""

from __future__ import annotations

import json

import pytest

from tests.differential import CASES, answer, reference

REFERENCE = reference()


def test_the_reference_covers_every_case() -> None:
    assert [r["case"] for r in REFERENCE] == list(range(CASES))
    assert not [r for r in REFERENCE if "error" in r], "every generated timeline is valid"


@pytest.mark.parametrize("chunk", range(10))
def test_same_answers_as_the_reference(chunk: int) -> None:
    differ = []
    for n in range(chunk, CASES, 10):
        got = answer(n)
        if got != REFERENCE[n]:
            differ.append(n)
    if differ:
        n = differ[0]
        got, want = answer(n), REFERENCE[n]
        detail = json.dumps({"got": got, "want": want}, indent=1)[:6000]
        pytest.fail(f"cases {differ} differ from the reference; the first:\n{detail}")


def test_why_not_over_generated_timelines_agrees_with_the_findings() -> None:
    """For every code a policy can raise, on a third of the generated cases: why-not says a rule
    fired exactly when the evaluation has a finding from that rule. (It runs probe rulesets
    through the rule engine; this also exercises their joins and absences for crashes.)"""
    from misper.engine import default_registry, evaluate, parse_timeline
    from misper.engine.inputs import choose_policy
    from tests.differential import case

    registry = default_registry()
    for n in range(0, CASES, 3):
        timeline = parse_timeline(json.dumps(case(n)))
        policy = choose_policy(registry, timeline)
        plain = evaluate(timeline, policy)
        for code in sorted({r.code for r in policy.compiled.values()}):
            why = evaluate(timeline, policy, why_not=code).trace.why_not  # type: ignore[union-attr]
            assert why is not None
            fired = {r.rule for r in why.rules if r.fired}
            assert fired == {f.rule for f in plain.findings if f.code == code}, (n, code)
