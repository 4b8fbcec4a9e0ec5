"""Issue 8: rules decide over the timeline's facts. The when language (absence, time arithmetic,
parameters, several comparisons) is checked at load and compiled to durable-rules conditions that
join event facts; deadlines declare their findings; codes, role sets and the due-soon share are
data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from misper.engine import evaluate, load_policy, parse_timeline
from misper.engine.policy.facts_schema import FACT_FIELDS
from tests.conftest import misper, report_timeline
from tests.test_policy_loading import SHIPPED, copy_of_policy, edit, problems  # noqa: F401

WHERE = "suffolk-2023-02/looked_after.yaml: rule L1.philomena-profile-missing"


def set_when(folder: Path, when: dict, **more: object) -> None:
    edit(folder, "looked_after.yaml", lambda d: d["rules"][0].update(when=when, **more))


def test_compiled_rules_join_event_facts_not_booleans_made_for_them(policy) -> None:
    checks = policy.ruleset["C3.gap-report-without-checks-live"]["all"]
    assert [next(iter(c)) for c in checks] == ["report", "incident", "__end", "checks$not"]
    assert checks[3]["checks$not"]["$and"][:2] == [{"kind": "event"}, {"type": "intelligence_checks"}]
    assert {"$gte": {"local_time": 120}} in checks[0]["report"]["$and"]
    # The booleans once made for single rules are gone from the facts.
    assert "required" not in FACT_FIELDS["repeat"] and "checks_recorded" not in FACT_FIELDS["intel_gap"]
    assert "episode" not in FACT_FIELDS and set(FACT_FIELDS["incident"]) == {"mode", "as_of", "report_at"}
    r1 = policy.ruleset["R1.response-plan-required"]["all"][0]["repeat"]["$and"]
    assert {"$gte": {"episodes_in_window": 3}} in r1


def test_the_compiled_ruleset_can_be_read_from_the_command_line() -> None:
    done = misper("rules", "compiled", "suffolk-2023-02")
    assert done.returncode == 0, done.stderr
    compiled = json.loads(done.stdout)
    assert "checks$not" in json.dumps(compiled["C3.gap-report-without-checks"])


@pytest.mark.parametrize(
    ("when", "field", "expected"),
    [
        (
            {"child": {"fact": "child", "looked_after": True}, "x": {"fact": "event", "absent": "yes"}},
            "when.x.absent",
            "expected true or false, got 'yes'",
        ),
        (
            {"c": {"fact": "child", "looked_after": True, "absent": True}},
            "when",
            "needs at least one fact that is present; every alias is absent",
        ),
        (
            {"g": {"fact": "grading"}, "e": {"fact": "event", "at": {"lte": "$g.at + initial_gradin"}}},
            "when.e.at",
            "unknown parameter 'initial_gradin'; did you mean 'initial_grading'?",
        ),
        (
            {"g": {"fact": "grading"}, "e": {"fact": "event", "at": {"lte": "$g.at + repeat_threshold"}}},
            "when.e.at",
            "'repeat_threshold' is not a duration (minutes, hours or days)",
        ),
        (
            {"g": {"fact": "grading"}, "e": {"fact": "event", "at": {"lte": "$g.at * 2"}}},
            "when.e.at",
            "a reference is $alias.field or $alias.field + duration, not '$g.at * 2'",
        ),
        (
            {"c": {"fact": "child", "looked_after": {"gt": True}}},
            "when.c.looked_after",
            "gt compares numbers and instants; looked_after is not one",
        ),
        (
            {
                "c": {"fact": "child"},
                "n": {"fact": "event", "absent": True},
                "e": {"fact": "event", "at": "$n.at"},
            },
            "when.e.at",
            "expected a whole number, got '$n.at'",
        ),
        (
            {
                "c": {"fact": "child"},
                "n": {"fact": "event", "absent": True},
                "e": {"fact": "event", "at": {"eq": "$n.at"}},
            },
            "when.e.at",
            "'n' is an absent fact: nothing can refer to it",
        ),
        (
            {"e": {"fact": "event", "by": "child_blaming_phrases"}},
            "when.e.by",
            "parameter 'child_blaming_phrases' holds 'not unusual behaviour', which by never is",
        ),
        (
            {"e": {"fact": "event", "local_time": {"gte": "intelligence_cover_untill"}}},
            "when.e.local_time",
            "expected a whole number, got 'intelligence_cover_untill' (expected a value or a parameter)",
        ),
    ],
)
def test_the_when_language_is_checked_at_load(copy_of_policy, when, field, expected) -> None:  # noqa: F811
    set_when(copy_of_policy, when, message="x", evidence=[])
    found = problems(copy_of_policy)
    assert found[f"{WHERE}: {field}"].startswith(expected), found


def test_a_message_cannot_quote_an_absent_fact(copy_of_policy) -> None:  # noqa: F811
    set_when(
        copy_of_policy,
        {"child": {"fact": "child"}, "n": {"fact": "event", "type": "note", "absent": True}},
        message="{n.at_text}",
        evidence=["n"],
    )
    found = problems(copy_of_policy)
    assert found[f"{WHERE}: message"].startswith("unknown alias (an absent one has nothing to quote) 'n'")
    assert found[f"{WHERE}: evidence"].startswith("unknown alias (an absent one is no evidence) 'n'")


def test_codes_are_contract_v1s_or_declared_by_the_policy(copy_of_policy) -> None:  # noqa: F811
    edit(copy_of_policy, "looked_after.yaml", lambda d: d["rules"][0].update(code="MY_OWN_CODE"))
    edit(
        copy_of_policy,
        "policy.yaml",
        lambda d: d.update(finding_codes={"UNDER_GRADED": "mine now", "bad-code": "x", "EMPTY_MEANING": " "}),
    )
    found = problems(copy_of_policy)
    assert found[f"{WHERE}: code"].startswith("unknown finding code 'MY_OWN_CODE'")
    assert found["suffolk-2023-02/policy.yaml: finding_codes.UNDER_GRADED"].startswith(
        "is one of contract v1's codes"
    )
    assert found["suffolk-2023-02/policy.yaml: finding_codes.bad-code"].startswith(
        "a finding code is 3-64 capital letters"
    )
    assert (
        found["suffolk-2023-02/policy.yaml: finding_codes.EMPTY_MEANING"]
        == "needs a sentence saying what the code means"
    )


def test_a_trigger_names_a_role_parameter(copy_of_policy) -> None:  # noqa: F811
    edit(
        copy_of_policy,
        "grading.yaml",
        lambda d: d["deadlines"][0]["met_by"][0].update(by="control_room_role"),
    )
    found = problems(copy_of_policy)
    assert found["suffolk-2023-02/grading.yaml: deadline initial_grading: met_by[0].by"].startswith(
        "unknown parameter of roles 'control_room_role'; did you mean 'control_room_roles'?"
    )


def graded(minutes_after: int, as_of: str, by: str = "call_handler") -> dict:
    return report_timeline(
        [
            {
                "id": "g",
                "type": "risk_graded",
                "by": by,
                "grade": "high",
                "at": f"2023-07-11T{minutes_after}:00+01:00",
            }
        ],
        as_of=as_of,
    )


def test_role_sets_are_data(copy_of_policy) -> None:  # noqa: F811
    """Adding the frontline officer to control_room_roles makes their grading the initial one."""
    body = graded(20, "2023-07-11T21:00:00+01:00", by="frontline_officer")
    body["events"][1]["at"] = "2023-07-11T19:50:00+01:00"
    timeline = parse_timeline(json.dumps(body))
    assert _status(evaluate(timeline, load_policy(SHIPPED)), "initial_grading") == "breached"
    edit(
        copy_of_policy,
        "parameters.yaml",
        lambda d: d["control_room_roles"].update(
            value=["call_handler", "control_room_supervisor", "frontline_officer"]
        ),
    )
    assert _status(evaluate(timeline, load_policy(copy_of_policy)), "initial_grading") == "met"


def test_the_due_soon_share_is_data(copy_of_policy) -> None:  # noqa: F811
    """Initial grading is due 30 minutes after the report: at 75% it is due soon from 22m30s, at
    50% from 15 minutes."""
    timeline = parse_timeline(json.dumps(report_timeline([], as_of="2023-07-11T19:56:00+01:00")))
    assert _status(evaluate(timeline, load_policy(SHIPPED)), "initial_grading") == "pending"
    edit(copy_of_policy, "parameters.yaml", lambda d: d["due_soon_share"].update(value=50))
    assert _status(evaluate(timeline, load_policy(copy_of_policy)), "initial_grading") == "due_soon"
    edit(copy_of_policy, "parameters.yaml", lambda d: d["due_soon_share"].update(value=100))
    assert (
        problems(copy_of_policy)["suffolk-2023-02/parameters.yaml: due_soon_share"]
        == "a percent value is below 100, got 100"
    )


def test_a_deadline_declares_its_findings_severity(copy_of_policy) -> None:  # noqa: F811
    timeline = parse_timeline(json.dumps(report_timeline([], as_of="2023-07-11T20:30:00+01:00")))
    edit(copy_of_policy, "grading.yaml", lambda d: d["deadlines"][0].update(severity={"late": "advisory"}))
    edit(copy_of_policy, "policy.yaml", lambda d: d.update(deadline_severity={"due_soon": "action"}))
    result = evaluate(timeline, load_policy(copy_of_policy))
    severity = {f.rule: f.severity for f in result.findings}
    assert severity["G2.initial_grading:late"] == "advisory"
    assert severity["C1.compact_record:due_soon"] == "action"
    assert severity["G3.control_room_review:due_soon"] == "action"


def test_absence_is_judged_over_the_whole_timeline_in_any_order(policy) -> None:
    """C3: a report in the gap with intelligence checks anywhere in the record raises no
    'checks missing'; the facts are asserted in time order, so checks before or after the
    grading, and at the report's own instant, all count."""
    for at in ("03:00", "03:05", "05:59"):
        body = report_timeline(
            [
                {
                    "id": "c",
                    "type": "intelligence_checks",
                    "by": "call_handler",
                    "at": f"2023-07-12T{at}:00+01:00",
                }
            ],
            as_of="2023-07-12T06:00:00+01:00",
        )
        body["events"][0]["at"] = "2023-07-12T03:00:00+01:00"
        codes = [f.code for f in evaluate(parse_timeline(json.dumps(body)), policy).findings]
        assert "INTELLIGENCE_CHECKS_MISSING" not in codes and "INTELLIGENCE_GAP" in codes, at


def test_trace_instants_are_iso_and_every_event_is_a_fact(policy, case_study) -> None:
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
    result = evaluate(parse_timeline(json.dumps(case_study)), policy, why_not="VOICE_OF_CHILD_MISSING")
    assert result.trace is not None and result.trace.why_not is not None
    (rule,) = result.trace.why_not.rules
    assert rule.fired and rule.unmet is None and all(c.met for c in rule.conditions)


def _status(result, deadline_id: str) -> str:
    return next(d.status for d in result.deadlines if d.id == deadline_id)
