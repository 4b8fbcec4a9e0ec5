"""The durable-rules wrapper against the traps in the notes: session cap, action errors, threads."""

from __future__ import annotations

import json
import shutil
import threading

import pytest
import yaml
from durable import engine as durable

from engine import RuleActionFailed, evaluate, load_policy, parse_timeline
from engine.registry import default_rules_dir
from engine.rete import RuleEngine
from tests.conftest import report_timeline


def test_many_more_evaluations_than_the_session_cap(policy, case_study) -> None:
    """A ruleset holds 1,024 live sessions; each evaluation deletes its own, so 1,500 run fine."""
    timeline = parse_timeline(json.dumps(case_study))
    first = evaluate(timeline, policy).to_json()
    for _ in range(1_500):
        result = evaluate(timeline, policy)
    assert result.to_json() == first


def facts_of(policy, body):  # type: ignore[no-untyped-def]
    """The facts an evaluation of this timeline body asserts (at its as_of)."""
    from engine.evaluate import build_context, build_facts, compute_deadlines, count_repeat, recommend

    timeline = parse_timeline(json.dumps(body))
    ctx = build_context(timeline, timeline.as_of)
    deadlines = compute_deadlines(policy, ctx, timeline.child)
    repeat = count_repeat(policy, ctx, timeline.child)
    return build_facts(
        policy, ctx, timeline.child, deadlines, repeat, recommend(policy, timeline.child, repeat)
    )


def test_an_exception_in_an_action_voids_the_evaluation(policy, case_study) -> None:
    engine = RuleEngine()
    facts = facts_of(policy, case_study)
    engine.run(policy, [f.message() for f in facts])  # registers the ruleset
    ruleset = engine._host.get_ruleset(policy.ruleset_name)
    ruleset._actions["S4.child-blaming-language"] = durable.Promise(lambda c: 1 / 0)
    with pytest.raises(RuleActionFailed, match="division by zero"):
        engine.run(policy, [f.message() for f in facts])
    # The failed session was deleted and the engine still works.
    ruleset._actions["S4.child-blaming-language"] = durable.Promise(lambda c: None)
    assert engine.run(policy, [f.message() for f in facts])


def test_threads_share_one_engine_safely(policy, case_study) -> None:
    timeline = parse_timeline(json.dumps(case_study))
    expected = evaluate(timeline, policy).to_json()
    results: list[str] = []

    def work() -> None:
        for _ in range(100):
            results.append(evaluate(timeline, policy).to_json())

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 800 and set(results) == {expected}


def test_two_versions_of_a_policy_live_side_by_side(tmp_path, policy) -> None:
    copy = tmp_path / "suffolk-2023-02"
    shutil.copytree(default_rules_dir() / "suffolk-2023-02", copy)
    path = copy / "parameters.yaml"
    data = yaml.safe_load(path.read_text())
    data["initial_grading"]["value"] = 90
    path.write_text(yaml.safe_dump(data))
    changed = load_policy(copy)
    body = report_timeline(
        [
            {
                "id": "g",
                "type": "risk_graded",
                "at": "2023-07-11T20:40:00+01:00",
                "by": "call_handler",
                "grade": "high",
            }
        ],
        as_of="2023-07-11T22:00:00+01:00",
    )
    timeline = parse_timeline(json.dumps(body))

    def status(p) -> str:
        return next(d.status for d in evaluate(timeline, p).deadlines if d.id == "initial_grading")

    assert (status(policy), status(changed), status(policy)) == ("met_late", "met", "met_late")
    assert changed.ruleset_name != policy.ruleset_name


def test_no_background_threads_are_started(policy) -> None:
    """A new engine makes its durable host on first use: no thread may start then or after.
    (Issue 7: the old test passed only when an earlier test had already made the host.)"""
    fresh = RuleEngine()
    assert fresh._host is None
    before = threading.enumerate()
    fresh.run(policy, [{"id": "child", "kind": "child", "looked_after": True}])
    assert fresh._host is not None
    assert threading.enumerate() == before


def test_issue7_caller_ids_never_reach_the_rule_engine(policy) -> None:
    """durable-rules hashes a fact's id to 32 bits: facts carry sequence numbers instead."""
    seen: list[object] = []
    engine = RuleEngine()
    original = durable.Host.assert_fact

    def spy(self, name, fact):  # type: ignore[no-untyped-def]
        seen.append(fact["id"])
        return original(self, name, fact)

    body = report_timeline(
        [
            {"id": "x9TD7QdPpf", "type": "found", "at": "2023-07-11T21:00:00+01:00"},
            {
                "id": "diwpHBcjCc",
                "type": "note",
                "at": "2023-07-11T21:10:00+01:00",
                "by": "sergeant",
                "text": "x",
            },
        ],
        as_of="2023-07-11T22:00:00+01:00",
    )
    facts = facts_of(policy, body)
    durable.Host.assert_fact = spy
    try:
        matches = engine.run(policy, [f.message() for f in facts])
    finally:
        durable.Host.assert_fact = original
    assert seen == list(range(-1, len(facts)))
    assert {fact_id for _, aliases in matches for fact_id in aliases.values()} <= {f.id for f in facts}


def test_issue7_sequence_ids_do_not_collide_in_one_session() -> None:
    """The ids an evaluation can use (far more than any timeline's facts) are all accepted."""
    from engine.rete import _QuietHost

    quiet = _QuietHost()
    quiet.register_rulesets(
        {
            "ids": {
                "s": {"all": [{"m": {"kind": "start"}}], "run": "s"},
                "r": {"all": [{"m": {"kind": "y"}}], "run": "r"},
            }
        }
    )
    quiet.assert_fact("ids", {"sid": "1", "id": -1, "kind": "start"})
    for n in range(50_000):
        try:
            quiet.assert_fact("ids", {"sid": "1", "id": n, "kind": "z"})
        except durable.MessageNotHandledException:
            pass
    assert quiet.get_state("ids", "1").get("exception") is None
    quiet.delete_state("ids", "1")


def test_issue7_a_rule_engine_failure_is_an_engine_error(policy, monkeypatch) -> None:
    from engine.errors import RuleEngineFailed

    engine = RuleEngine()

    def broken(self, name, fact):  # type: ignore[no-untyped-def]
        raise Exception("Could not assert message, error code: 102")

    monkeypatch.setattr(durable.Host, "assert_fact", broken)
    with pytest.raises(RuleEngineFailed) as info:
        engine.run(policy, [{"id": "child", "kind": "child", "looked_after": True}])
    assert "error code: 102" in info.value.message
