"""The policy is data: a deadline or a phrase changes by editing YAML; bad names fail at load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from misper.engine import PolicyInvalid, evaluate, load_policy, parse_timeline
from misper.engine.policy.registry import shipped_rules_dir
from tests.conftest import report_timeline

SHIPPED = shipped_rules_dir() / "suffolk-2023-02"


@pytest.fixture
def copy_of_policy(tmp_path: Path) -> Path:
    target = tmp_path / "suffolk-2023-02"
    shutil.copytree(SHIPPED, target)
    return target


def edit(folder: Path, name: str, change) -> None:
    path = folder / name
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


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


def test_changing_a_deadline_is_a_data_change(copy_of_policy: Path) -> None:
    timeline = parse_timeline(json.dumps(graded_at(40)))
    shipped = load_policy(SHIPPED)
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
    assert "CHILD_BLAMING_LANGUAGE" not in codes(evaluate(timeline, load_policy(SHIPPED)))
    edit(
        copy_of_policy,
        "parameters.yaml",
        lambda d: d["child_blaming_phrases"]["value"].append("for attention"),
    )
    assert "CHILD_BLAMING_LANGUAGE" in codes(evaluate(timeline, load_policy(copy_of_policy)))


def test_hash_ignores_comments_and_layout(copy_of_policy: Path) -> None:
    path = copy_of_policy / "parameters.yaml"
    path.write_text("# a new comment\n" + path.read_text())
    assert load_policy(copy_of_policy).sha256 == load_policy(SHIPPED).sha256


def problems(folder: Path) -> dict[str, str]:
    with pytest.raises(PolicyInvalid) as info:
        load_policy(folder)
    return {e.field: e.message for e in info.value.errors}


def first_deadline(data, change) -> None:
    change(data["deadlines"][0])


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
