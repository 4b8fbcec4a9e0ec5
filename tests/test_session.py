"""The rule session over durable-rules' C core, against the traps in the notes: session cap,
threads, fact ids and field names, background threads, errors."""

from __future__ import annotations

import json
import shutil
import threading

import durable_rules_engine as core
import pytest
import yaml

from misper.engine import evaluate, load_policy, parse_timeline
from misper.engine.policy.facts_schema import DISPLAY_FIELDS, FACT_FIELDS
from misper.engine.policy.registry import shipped_rules_dir
from misper.engine.session import RuleSession
from tests.support.facts import facts_of
from tests.support.timelines import report_timeline


def test_fact_fields_never_shadow_the_fact_identity() -> None:
    """A field named 'kind' or 'id' would overwrite the fact's own kind or id in the rule engine."""
    for kind, fields in FACT_FIELDS.items():
        assert not {"kind", "id", "sid"} & set(fields), kind
        assert not set(fields) & DISPLAY_FIELDS[kind], kind


@pytest.mark.slow
def test_many_more_evaluations_than_the_session_cap(policy, case_study) -> None:
    """A ruleset holds 1,024 live sessions; each evaluation deletes its own, so 1,500 run fine."""
    timeline = parse_timeline(json.dumps(case_study))
    first = evaluate(timeline, policy).to_json()
    for _ in range(1_500):
        result = evaluate(timeline, policy)
    assert result.to_json() == first


@pytest.mark.slow
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
    shutil.copytree(shipped_rules_dir() / "suffolk-2023-02", copy)
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
    """A new session object creates its ruleset on first use: no thread may start then or after."""
    fresh = RuleSession()
    before = threading.enumerate()
    fresh.run(policy, [{"id": "child", "kind": "child", "looked_after": True}])
    assert fresh._handles and threading.enumerate() == before


def test_caller_ids_never_reach_the_rule_engine(policy, monkeypatch) -> None:
    """Issue 7: durable-rules hashes a fact's id to 32 bits: facts carry sequence numbers instead."""
    seen: list[object] = []
    session = RuleSession()
    original = core.assert_fact

    def spy(handle, text):  # type: ignore[no-untyped-def]
        seen.append(json.loads(text)["id"])
        return original(handle, text)

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
    monkeypatch.setattr(core, "assert_fact", spy)
    matches = session.run(policy, [f.message() for f in facts])
    # the start marker, the facts some rule could match (numbered in order), the end marker
    assert seen == [-1, *range(len(seen) - 2), -2] and 2 < len(seen) < len(facts) + 2
    assert {fact_id for _, aliases in matches for fact_id in aliases.values()} <= {f.id for f in facts}


def test_only_the_fields_some_condition_names_reach_the_rule_engine(policy, case_study, monkeypatch) -> None:
    """The core parses every field it is sent: a field no condition of the ruleset names (as a key
    or as a join's text) is left out, and the answers stay those of the full facts (the
    differential test holds them to the recorded answers)."""
    sent: list[set[str]] = []
    original = core.assert_fact

    def spy(handle, text):  # type: ignore[no-untyped-def]
        sent.append(set(json.loads(text)))
        return original(handle, text)

    named: set[str] = set()

    def texts(value: object) -> None:
        if isinstance(value, dict):
            named.update(map(str, value))
            for item in value.values():
                texts(item)
        elif isinstance(value, list):
            for item in value:
                texts(item)
        elif isinstance(value, str):
            named.add(value)

    texts(policy.ruleset)
    facts = facts_of(policy, case_study)
    monkeypatch.setattr(core, "assert_fact", spy)
    RuleSession().run(policy, [f.message() for f in facts])
    assert len(sent) > 3
    assert all(fields <= named | {"id", "sid", "kind"} for fields in sent)
    given = {field for f in facts for field in f.fields}
    assert given - named, "the case study's facts hold a field no rule reads, so something is left out"


def test_sequence_ids_do_not_collide_in_one_session() -> None:
    """Issue 7: The ids an evaluation can use (far more than any timeline's facts) are all accepted."""
    definition = {"s": {"all": [{"m": {"kind": "start"}}]}, "r": {"all": [{"m": {"kind": "y"}}]}}
    handle = core.create_ruleset("ids-test", json.dumps(definition))
    code, state = core.assert_fact(handle, json.dumps({"sid": "1", "id": -1, "kind": "start"}))
    assert code == 0 and core.start_action_for_state(handle, state)
    assert core.complete_and_start_action(handle, state) is None
    codes = {
        core.assert_fact(handle, json.dumps({"sid": "1", "id": n, "kind": "z"}))[0] for n in range(50_000)
    }
    assert codes == {1}  # matched no rule, and never "seen before"
    core.delete_state(handle, "1")


def test_a_rule_engine_failure_is_an_engine_error(policy, monkeypatch) -> None:
    """Issue 7: a rule engine failure is an engine error."""
    from misper.engine.errors import RuleEngineFailed

    session = RuleSession()

    def broken(handle, text):  # type: ignore[no-untyped-def]
        raise Exception("Could not assert message, error code: 102")

    monkeypatch.setattr(core, "assert_fact", broken)
    with pytest.raises(RuleEngineFailed) as info:
        session.run(policy, [{"id": "child", "kind": "child", "looked_after": True}])
    assert "error code: 102" in info.value.message


def test_a_ruleset_the_core_refuses_is_an_engine_error_from_the_gate_too(monkeypatch, policy) -> None:  # type: ignore[no-untyped-def]
    """Asking a policy's gate creates its ruleset on first use: a refusal by the C core is a
    RuleEngineFailed there as in a run, never a bare Exception."""
    import durable_rules_engine

    from misper.engine.errors import RuleEngineFailed

    def refuse(name: str, text: str) -> int:
        raise Exception("Could not create ruleset, error code: 101")

    monkeypatch.setattr(durable_rules_engine, "create_ruleset", refuse)
    for ask in (lambda s: s.gate(policy), lambda s: s.run(policy, [])):
        with pytest.raises(RuleEngineFailed, match="error code: 101"):
            ask(RuleSession())
