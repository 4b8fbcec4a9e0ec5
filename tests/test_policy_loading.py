"""The policy is data: deadlines, phrases, role sets, severities and the due-soon share change by
editing YAML; unknown names, empty files and missing settings fail at load, naming the file, rule
and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from misper.engine import evaluate, load_policy, parse_timeline
from tests.support.policies import SHIPPED_POLICY, edit, edit_yaml, problems, registry_problems
from tests.support.timelines import report_timeline


def graded_at(minutes: int) -> dict:
    return report_timeline(
        [
            {
                "id": "g",
                "type": "risk_graded",
                "by": "call_handler",
                "grade": "high",
                "at": f"2023-07-11T{19 + (40 + minutes) // 60}:{(40 + minutes) % 60:02d}:00+01:00",
            }
        ],
        as_of="2023-07-11T23:00:00+01:00",
    )


def status(result, deadline_id: str) -> str:
    return next(d.status for d in result.deadlines if d.id == deadline_id)


def first_deadline(data, change) -> None:
    change(data["deadlines"][0])


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


WHERE = "suffolk-2023-02/looked_after.yaml: rule L1.philomena-profile-missing"


def test_an_unknown_deadline_in_a_rule_condition_fails_at_load(rules_copy: Path) -> None:
    """Issue 6: an unknown deadline in a rule condition fails at load."""

    def change(data) -> None:
        data["rules"][0]["when"]["late"] = {"fact": "deadline", "deadline": "initial_gradng"}

    edit_yaml(rules_copy / "suffolk-2023-02" / "grading.yaml", change)
    found = registry_problems(rules_copy)
    message = found["suffolk-2023-02/grading.yaml: rule G1.grade-not-allowed: when.late.deadline"]
    assert message.startswith("unknown value 'initial_gradng'; did you mean 'initial_grading'?")


@pytest.mark.parametrize(
    ("file", "content", "field", "message"),
    [
        pytest.param(
            "policy.yaml",
            "",
            "suffolk-2023-02/policy.yaml",
            "is empty; it needs its settings",
            id="empty-policy",
        ),
        pytest.param(
            "parameters.yaml",
            "",
            "suffolk-2023-02/parameters.yaml",
            "must map parameter names to their settings",
            id="empty-parameters",
        ),
    ],
)
def test_an_empty_file_is_named_not_zero_problems(rules_copy: Path, file, content, field, message) -> None:
    """Issue 6: an empty file is named not zero problems."""
    (rules_copy / "suffolk-2023-02" / file).write_text(content)
    found = registry_problems(rules_copy)
    assert found[field] == message


def test_a_parameter_with_no_settings_is_named(rules_copy: Path) -> None:
    """Issue 6: a parameter with no settings is named."""
    path = rules_copy / "baseline-pre-2023" / "parameters.yaml"
    path.write_text(path.read_text() + "\nrepeat_threshold:\n")
    found = registry_problems(rules_copy)
    assert found["baseline-pre-2023/parameters.yaml: repeat_threshold"] == "is empty; it needs its settings"


def test_a_policy_without_test_defaults_is_refused(rules_copy: Path) -> None:
    """Issue 6: a policy without test defaults is refused."""
    edit_yaml(rules_copy / "suffolk-2023-02" / "policy.yaml", lambda d: d.pop("test_defaults"))
    assert registry_problems(rules_copy)["suffolk-2023-02/policy.yaml: test_defaults"] == "Field required"


def test_codes_are_contract_v1s_or_declared_by_the_policy(copy_of_policy) -> None:
    """Issue 8: codes are contract v1's or declared by the policy."""
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


def test_a_trigger_names_a_role_parameter(copy_of_policy) -> None:
    """Issue 8: a trigger names a role parameter."""
    edit(
        copy_of_policy,
        "grading.yaml",
        lambda d: d["deadlines"][0]["met_by"][0].update(by="control_room_role"),
    )
    found = problems(copy_of_policy)
    assert found["suffolk-2023-02/grading.yaml: deadline initial_grading: met_by[0].by"].startswith(
        "unknown parameter of roles 'control_room_role'; did you mean 'control_room_roles'?"
    )


def test_role_sets_are_data(copy_of_policy) -> None:
    """Issue 8: Adding the frontline officer to control_room_roles makes their grading the initial one."""
    body = graded(20, "2023-07-11T21:00:00+01:00", by="frontline_officer")
    body["events"][1]["at"] = "2023-07-11T19:50:00+01:00"
    timeline = parse_timeline(json.dumps(body))
    assert status(evaluate(timeline, load_policy(SHIPPED_POLICY)), "initial_grading") == "breached"
    edit(
        copy_of_policy,
        "parameters.yaml",
        lambda d: d["control_room_roles"].update(
            value=["call_handler", "control_room_supervisor", "frontline_officer"]
        ),
    )
    assert status(evaluate(timeline, load_policy(copy_of_policy)), "initial_grading") == "met"


def test_the_due_soon_share_is_data(copy_of_policy) -> None:
    """Issue 8: Initial grading is due 30 minutes after the report: at 75% it is due soon from 22m30s, at
    50% from 15 minutes."""
    timeline = parse_timeline(json.dumps(report_timeline([], as_of="2023-07-11T19:56:00+01:00")))
    assert status(evaluate(timeline, load_policy(SHIPPED_POLICY)), "initial_grading") == "pending"
    edit(copy_of_policy, "parameters.yaml", lambda d: d["due_soon_share"].update(value=50))
    assert status(evaluate(timeline, load_policy(copy_of_policy)), "initial_grading") == "due_soon"
    edit(copy_of_policy, "parameters.yaml", lambda d: d["due_soon_share"].update(value=100))
    assert (
        problems(copy_of_policy)["suffolk-2023-02/parameters.yaml: due_soon_share"]
        == "a percent value is below 100, got 100"
    )


def test_a_deadline_declares_its_findings_severity(copy_of_policy) -> None:
    """Issue 8: a deadline declares its findings severity."""
    timeline = parse_timeline(json.dumps(report_timeline([], as_of="2023-07-11T20:30:00+01:00")))
    edit(copy_of_policy, "grading.yaml", lambda d: d["deadlines"][0].update(severity={"late": "advisory"}))
    edit(copy_of_policy, "policy.yaml", lambda d: d.update(deadline_severity={"due_soon": "action"}))
    result = evaluate(timeline, load_policy(copy_of_policy))
    severity = {f.rule: f.severity for f in result.findings}
    assert severity["G2.initial_grading:late"] == "advisory"
    assert severity["C1.compact_record:due_soon"] == "action"
    assert severity["G3.control_room_review:due_soon"] == "action"


def test_changing_a_deadline_is_a_data_change(copy_of_policy: Path) -> None:
    timeline = parse_timeline(json.dumps(graded_at(40)))
    shipped = load_policy(SHIPPED_POLICY)
    assert status(evaluate(timeline, shipped), "initial_grading") == "met_late"
    edit(copy_of_policy, "parameters.yaml", lambda d: d["initial_grading"].update(value=45))
    changed = load_policy(copy_of_policy)
    assert status(evaluate(timeline, changed), "initial_grading") == "met"
    assert changed.sha256 != shipped.sha256


def test_adding_a_phrase_is_a_data_change(copy_of_policy: Path) -> None:
    review = {
        "id": "v",
        "type": "supervisor_review",
        "by": "sergeant",
        "at": "2023-07-11T23:00:00+01:00",
        "text": "She is known to run off for attention.",
    }
    timeline = parse_timeline(json.dumps(report_timeline([review])))
    codes = lambda result: {f.code for f in result.findings}  # noqa: E731
    assert "CHILD_BLAMING_LANGUAGE" not in codes(evaluate(timeline, load_policy(SHIPPED_POLICY)))
    edit(
        copy_of_policy,
        "parameters.yaml",
        lambda d: d["child_blaming_phrases"]["value"].append("for attention"),
    )
    assert "CHILD_BLAMING_LANGUAGE" in codes(evaluate(timeline, load_policy(copy_of_policy)))


def test_hash_ignores_comments_and_layout(copy_of_policy: Path) -> None:
    path = copy_of_policy / "parameters.yaml"
    path.write_text("# a new comment\n" + path.read_text())
    assert load_policy(copy_of_policy).sha256 == load_policy(SHIPPED_POLICY).sha256


@pytest.mark.parametrize(
    ("file", "change", "where", "message"),
    [
        pytest.param(
            "grading.yaml",
            lambda d: first_deadline(d, lambda x: x["met_by"][0].update(event="risk_grade")),
            "grading.yaml: deadline initial_grading: met_by[0].event",
            "unknown event type 'risk_grade'; did you mean 'risk_graded'?",
            id="event-type",
        ),
        pytest.param(
            "grading.yaml",
            lambda d: first_deadline(d, lambda x: x["met_by"][0].update(by=["call_handlr"])),
            "grading.yaml: deadline initial_grading: met_by[0].by",
            "unknown role 'call_handlr'; did you mean 'call_handler'?",
            id="role",
        ),
        pytest.param(
            "grading.yaml",
            lambda d: first_deadline(d, lambda x: x.update(due_after="initial_gradng")),
            "grading.yaml: deadline initial_grading: due_after",
            "unknown duration parameter 'initial_gradng'; did you mean 'initial_grading'?",
            id="parameter",
        ),
        pytest.param(
            "grading.yaml",
            lambda d: d["rules"][1]["when"]["grading"].update(rank={"lt": "$rec.rnk"}),
            "grading.yaml: rule G4.under-graded: when.grading.rank",
            "unknown field of fact 'recommendation' 'rnk'; did you mean 'rank'?",
            id="reference",
        ),
        pytest.param(
            "grading.yaml",
            lambda d: d["rules"][0]["when"]["grading"].update(grade=["lowish"]),
            "grading.yaml: rule G1.grade-not-allowed: when.grading.grade",
            "unknown value 'lowish'; did you mean 'low'?",
            id="value",
        ),
        pytest.param(
            "grading.yaml",
            lambda d: d["rules"][0].update(message="{grading.grade_txt}"),
            "grading.yaml: rule G1.grade-not-allowed: message",
            "unknown field of fact 'grading' 'grade_txt'; did you mean 'grade_text'?",
            id="message",
        ),
        pytest.param(
            "grading.yaml",
            lambda d: d["rules"][0].update(clause="G9"),
            "grading.yaml: rule G1.grade-not-allowed: clause",
            "unknown clause 'G9'",
            id="clause",
        ),
        pytest.param(
            "grading.yaml",
            lambda d: d["rules"][0].update(code="GRADE_NOT_ALOWED"),
            "grading.yaml: rule G1.grade-not-allowed: code",
            "unknown finding code 'GRADE_NOT_ALOWED'; did you mean 'GRADE_NOT_ALLOWED'?",
            id="code",
        ),
        pytest.param(
            "parameters.yaml",
            lambda d: d["high_risk_indicators"]["value"].append("sexual_exploit"),
            "parameters.yaml: high_risk_indicators",
            "unknown indicator 'sexual_exploit'; did you mean 'sexual_exploitation'?",
            id="indicator",
        ),
    ],
)
def test_unknown_names_fail_with_file_rule_and_suggestion(
    copy_of_policy, file, change, where, message
) -> None:
    edit(copy_of_policy, file, change)
    found = problems(copy_of_policy)
    where = f"suffolk-2023-02/{where}"
    assert where in found, found
    assert found[where].startswith(message)


def test_a_typo_in_a_rule_key_names_the_rule(copy_of_policy: Path) -> None:
    edit(copy_of_policy, "found.yaml", lambda d: d["rules"][0].update(severty="breach"))
    found = problems(copy_of_policy)
    assert found == {
        "suffolk-2023-02/found.yaml: rule F2.voice-of-child-missing: severty": found[
            "suffolk-2023-02/found.yaml: rule F2.voice-of-child-missing: severty"
        ]
    }
    assert "did you mean 'severity'?" in next(iter(found.values()))


def test_bad_yaml_names_the_file(copy_of_policy: Path) -> None:
    (copy_of_policy / "found.yaml").write_text("rules: [unclosed\n")
    assert any("found.yaml" in k for k in problems(copy_of_policy))


def test_a_missing_required_parameter_is_refused(copy_of_policy: Path) -> None:
    edit(copy_of_policy, "parameters.yaml", lambda d: d.pop("repeat_window"))
    found = problems(copy_of_policy)
    assert "suffolk-2023-02/parameters.yaml: repeat_window" in found


def test_a_parameter_a_rule_rests_on_cannot_be_removed(copy_of_policy: Path) -> None:
    """repeat_threshold is optional for a policy with no response-plan rule, not for one with."""
    edit(copy_of_policy, "parameters.yaml", lambda d: d.pop("repeat_threshold"))
    found = problems(copy_of_policy)
    where = "suffolk-2023-02/repeat.yaml: rule R1.response-plan-required: parameters"
    assert found[where].startswith("unknown parameter 'repeat_threshold'")


def test_a_deadline_message_placeholder_is_checked_per_status(copy_of_policy: Path) -> None:
    edit(
        copy_of_policy,
        "policy.yaml",
        lambda d: d["deadline_messages"].update(met_late="{duty} was {overdue} late."),
    )
    found = problems(copy_of_policy)
    assert found["suffolk-2023-02/policy.yaml: deadline_messages.met_late"].startswith(
        "unknown placeholder 'overdue'"
    )


def test_a_rule_at_field_must_be_an_instant_of_its_fact(copy_of_policy: Path) -> None:
    edit(copy_of_policy, "found.yaml", lambda d: d["rules"][0].update(at="interview.by"))
    found = problems(copy_of_policy)
    assert found["suffolk-2023-02/found.yaml: rule F2.voice-of-child-missing: at"].startswith(
        "unknown instant of fact 'event' 'by'"
    )


def test_the_escalation_chain_is_data_checked_at_load(copy_of_policy: Path) -> None:
    """Alerts: who is told next, and after how long, is policy data; a role that is not one, a
    parameter that is not a duration and a chain that comes back on itself are refused."""
    policy = load_policy(copy_of_policy)
    assert policy.escalation("call_handler") == ("control_room_supervisor", 600)
    assert policy.escalation("cid_supervisor") is None
    assert policy.parameters["escalate_from_inspector"].provenance == "assumed"

    def break_chain(data: dict) -> None:
        data["escalation"]["sergant"] = {"to": "inspector", "after": "escalate_from_sergeant"}
        data["escalation"]["inspector"] = {"to": "cid_supervisor", "after": "due_soon_share"}
        data["escalation"]["cid_supervisor"] = {"to": "call_handler", "after": "escalate_from_inspector"}

    edit(copy_of_policy, "policy.yaml", break_chain)
    found = problems(copy_of_policy)
    assert "sergant" in found["suffolk-2023-02/policy.yaml: escalation.sergant"]
    assert "not a duration" in found["suffolk-2023-02/policy.yaml: escalation.inspector.after"]
    assert "comes back" in found["suffolk-2023-02/policy.yaml: escalation.cid_supervisor"]


def test_not_before_is_for_meeting_events_and_is_checked_like_any_trigger(copy_of_policy: Path) -> None:
    """A meeting that must follow something (G3: a review at or after a grading) is data: its
    trigger is checked at load, and it may gate only a meeting event."""

    def misuse(data: dict) -> None:
        review = next(d for d in data["deadlines"] if d["id"] == "control_room_review")
        review["met_by"][0]["not_before"] = {"event": "risk_gradd"}
        review["not_applicable_when"][0]["not_before"] = {"event": "risk_graded"}

    edit(copy_of_policy, "grading.yaml", misuse)
    found = problems(copy_of_policy)
    where = "suffolk-2023-02/grading.yaml: deadline control_room_review: "
    assert "risk_graded" in found[where + "met_by[0].not_before.event"]
    assert found[where + "not_applicable_when[0].not_before"] == "not_before is for met_by only"


def test_a_triggers_task_is_for_an_allocation_and_names_a_known_task(copy_of_policy: Path) -> None:
    """A trigger filtering allocations by what they allocate is checked at load: only an
    officer_allocated event names a task, and only a task contract v1 knows."""

    def misuse(data: dict) -> None:
        review = next(d for d in data["deadlines"] if d["id"] == "control_room_review")
        review["met_by"][0]["task"] = ["prevention_interview"]
        review["met_by"].append({"event": "officer_allocated", "task": ["prevention_intervew"]})

    edit(copy_of_policy, "grading.yaml", misuse)
    found = problems(copy_of_policy)
    where = "suffolk-2023-02/grading.yaml: deadline control_room_review: "
    assert found[where + "met_by[0].task"] == "only an allocation (officer_allocated) names a task"
    assert "did you mean 'prevention_interview'" in found[where + "met_by[3].task"]
