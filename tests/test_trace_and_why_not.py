"""Trace and why-not: the facts asserted and the rules fired, and for a code that was not raised the
first condition no fact met, in process, over HTTP and across generated timelines."""

from __future__ import annotations

import json

import pytest

from misper.engine import evaluate, parse_timeline
from tests.support.differential import CASES


@pytest.mark.slow
def test_why_not_over_generated_timelines_agrees_with_the_findings() -> None:
    """For every code a policy can raise, on a third of the generated cases: why-not says a rule
    fired exactly when the evaluation has a finding from that rule. (It runs probe rulesets
    through the rule engine; this also exercises their joins and absences for crashes.)"""
    from misper.engine import default_registry, evaluate, parse_timeline
    from misper.engine.inputs import choose_policy
    from tests.support.differential import case

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


def test_trace_instants_are_iso_and_every_event_is_a_fact(policy, case_study) -> None:
    """Issue 8: trace instants are ISO and every event is a fact."""
    result = evaluate(parse_timeline(json.dumps(case_study)), policy, trace=True)
    assert result.trace is not None
    events = [f for f in result.trace.facts if f["kind"] == "event"]
    assert [f["id"] for f in events] == [f"event:{e['id']}" for e in case_study["events"]]
    assert events[0]["at"] == "2023-07-11T19:40:00+01:00" and events[0]["local_time"] == 19 * 60 + 40
    grading = next(f for f in result.trace.facts if f["kind"] == "grading")
    assert (grading["at"], grading["until"]) == ("2023-07-11T22:40:00+01:00", "2023-07-12T07:40:00+01:00")
    unmet = next(f for f in result.trace.facts if f["kind"] == "deadline" and f["met_at"] is None)
    assert unmet["status"] in ("breached", "not_applicable")
    fired = {(r.rule, r.code) for r in result.trace.fired}
    assert ("F2.voice-of-child-missing", "VOICE_OF_CHILD_MISSING") in fired
    assert {f.rule for f in result.findings} == {rule for rule, _ in fired}


def test_why_not_over_http(api, case_study) -> None:
    """Issue 8: why-not over HTTP."""
    url = "/v1/evaluations?why_not=PHILOMENA_PROFILE_MISSING"
    answer = api.client.post(url, json=case_study, headers=api.auth("auditor"))
    assert answer.status_code == 200
    (rule,) = answer.json()["trace"]["why_not"]["rules"]
    assert rule["unmet"] == "child" and rule["conditions"][0]["unmet_field"] == "looked_after"
    assert rule["explanation"].endswith("no such fact meets looked_after: true.")
    bad = api.client.post(
        "/v1/evaluations?why_not=PHILOMENA_PROFILE", json=case_study, headers=api.auth("auditor")
    )
    assert bad.status_code == 422
    (error,) = bad.json()["errors"]
    assert (
        error["field"] == "query.why_not" and "did you mean 'PHILOMENA_PROFILE_MISSING'" in error["message"]
    )


def test_why_not_for_a_rule_that_fired(policy, case_study) -> None:
    """Issue 8: why-not for a rule that fired."""
    result = evaluate(parse_timeline(json.dumps(case_study)), policy, why_not="VOICE_OF_CHILD_MISSING")
    assert result.trace is not None and result.trace.why_not is not None
    (rule,) = result.trace.why_not.rules
    assert rule.fired and rule.unmet is None and all(c.met for c in rule.conditions)
