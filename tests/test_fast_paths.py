"""Shortcuts taken for speed give exactly the answers of the full path: output models built without
validation, the rule session's fact gate, facts no rule could match left unbuilt, the quick
child-blaming phrase check."""

from __future__ import annotations

import json

from misper.engine import default_registry, evaluate, parse_timeline
from misper.engine.contract import evaluation
from misper.engine.session import RuleSession
from tests.support.facts import facts_of


def test_trusted_models_equal_model_construct(case_study, policy) -> None:  # type: ignore[no-untyped-def]
    """Issue 13: Every output model built the fast way equals pydantic's model_construct: same fields,
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


def test_facts_no_rule_could_match_are_not_built_and_nothing_changes(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Issue 13: Evaluation skips building event and deadline facts the session's gate would keep out: over
    the generated timelines the answers equal those with every fact built."""
    from misper.engine.inputs import choose_policy
    from misper.engine.session import RULE_SESSION, Gate
    from tests.support.differential import CASES, case

    timelines = [parse_timeline(json.dumps(case(n))) for n in range(0, CASES, 3)]
    registry = default_registry()
    pairs = [(t, choose_policy(registry, t)) for t in timelines]
    skipping = [evaluate(t, p).to_json() for t, p in pairs]
    gates = [RULE_SESSION.gate(p) for _, p in pairs]
    assert any(not g.admits({"kind": "event", "type": "note"}) for g in gates)  # something is skipped
    monkeypatch.setattr(RULE_SESSION, "gate", lambda policy: Gate({"any": {"all": [{"m": {}}]}}))
    built = [evaluate(t, p).to_json() for t, p in pairs]
    assert skipping == built


def test_the_quick_phrase_check_finds_what_full_normalising_finds(policy) -> None:  # type: ignore[no-untyped-def]
    """Issue 13: blaming_phrases skips normalising a text holding none of the phrases' first words; over
    texts made of the phrases' words, cut, joined and re-cased, it finds exactly what comparing
    the fully normalised texts finds."""
    from itertools import product

    from misper.engine.judging.facts import blaming_phrases, normalise

    phrases = tuple(policy.value("child_blaming_phrases"))
    words = sorted({w for p in phrases for w in p.split()}) + ["Enquiries", "CCTV", "STREET-wise"]
    texts = [
        sep.join(words[i : i + n]).upper() if upper else sep.join(words[i : i + n])
        for i, n, sep, upper in product(range(len(words)), (1, 2, 3), (" ", "-", ", ", "'"), (False, True))
    ]
    texts += [f"{p[:-1]}. {p}!" for p in phrases] + [p.replace(" ", "  ") for p in phrases]
    found = 0
    for text in texts:
        expected = [p for p in phrases if f" {normalise(p)} " in f" {normalise(text)} "]
        assert blaming_phrases(text, phrases) == tuple(expected), text
        found += bool(expected)
    assert found > 20


def test_the_gate_never_changes_what_fires() -> None:
    """Facts no condition could match are not sent to the core: on the generated timelines, for
    both policies and every why-not probe ruleset, the same rules fire on the same facts as when
    every fact is sent, and the gate kept facts out."""
    from misper.engine import default_registry
    from misper.engine.inputs import choose_policy
    from misper.engine.judging.explain import probe_ruleset
    from tests.support.differential import CASES, case

    gated, ungated = RuleSession(), RuleSession(gated=False)
    kept_out = 0
    for n in range(0, CASES, 2):
        body = case(n)
        timeline = parse_timeline(json.dumps(body))
        policy = choose_policy(default_registry(), timeline)
        facts = [f.message() for f in facts_of(policy, body)]
        rulesets = [(policy.ruleset_name, policy.ruleset)]
        if n % 10 == 0:
            rulesets += [probe_ruleset(policy, c) for c in sorted({r.code for r in policy.compiled.values()})]
        for name, definition in rulesets:
            assert gated.run_ruleset(name, definition, facts) == ungated.run_ruleset(name, definition, facts)
        kept_out += sum(not gated._handle(policy.ruleset_name, policy.ruleset)[1].admits(f) for f in facts)
    assert kept_out > 0


def test_the_gate_admits_what_it_cannot_read() -> None:
    """Only text equalities keep a fact out; numbers, comparisons, joins and unknown shapes
    never do, nor does a field the fact lacks or holds as a number."""
    from misper.engine.session import Gate

    gate = Gate(
        {
            "a": {"all": [{"x": {"$and": [{"kind": "event"}, {"type": "found"}, {"$gt": {"at": 5}}]}}]},
            "b": {
                "all": [
                    {
                        "y": {
                            "$and": [
                                {"kind": "deadline"},
                                {"$or": [{"status": "breached"}, {"status": "met_late"}]},
                            ]
                        }
                    }
                ]
            },
            "c": {"all": [{"z": {"$and": [{"kind": "grading"}, {"$lt": {"rank": {"x": "rank"}}}]}}]},
        }
    )
    assert gate.admits({"kind": "event", "type": "found", "at": 1})  # the number is the core's to judge
    assert not gate.admits({"kind": "event", "type": "note"})
    assert gate.admits({"kind": "event"}) and gate.admits({"kind": "event", "type": 3})
    assert gate.admits({"kind": "deadline", "status": "met_late"})
    assert not gate.admits({"kind": "deadline", "status": "met"})
    assert gate.admits({"kind": "grading", "rank": 1})
    assert not gate.admits({"kind": "child"})
    assert Gate({"odd": {"all": [{"x": {"$or": [{"kind": "a"}, {"type": "b"}]}}]}}).admits({"kind": "c"})
    assert Gate({"odd": {"some": []}}).admits({"kind": "anything"})
    assert Gate({"r": {"all": [{"x": {"$and": [{"kind": "event"}, {"tags": ["a"]}]}}]}}).admits(
        {"kind": "event", "tags": ["b"]}
    )
