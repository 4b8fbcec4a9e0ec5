"""Issue 24: what a policy author is told when a policy file is wrong. Each mistake below was made
by an author working from the guide alone; each message now says where the mistake is, as the
author wrote it (a rule or test by its id, no validator's names in the path), and what to write
instead. A key given twice in one mapping is refused, naming both lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from misper.engine import load_policy
from misper.engine.policy.selftest import run_policy_tests
from tests.support.policies import A_RULE, edit, problems

PHILOMENA = "suffolk-2023-02/looked_after.yaml: rule L1.philomena-profile-missing"


def _replace(folder: Path, name: str, old: str, new: str) -> None:
    path = folder / name
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def _append_rule(folder: Path, when: str) -> None:
    path = folder / "looked_after.yaml"
    path.write_text(path.read_text().rstrip("\n") + "\n" + A_RULE.format(id="L9.author", when=when))


@pytest.mark.parametrize(
    ("name", "old", "new", "field", "says"),
    [
        pytest.param(
            "parameters.yaml",
            "return_home_interview:\n  value: 72\n  unit: hours",
            "return_home_interview:\n  value: 72 hours",
            "suffolk-2023-02/parameters.yaml: return_home_interview: unit",
            "a duration is a number and a unit, given apart: value: 72 and unit: hours",
            id="a-duration-written-as-one-text",
        ),
        pytest.param(
            "looked_after.yaml",
            "{id: foster-care-is-not-in-scope, expect_fires: 0,",
            "{id: foster-care-is-not-in-scope, expect_fire: 0,",
            f"{PHILOMENA}: test foster-care-is-not-in-scope: expect_fire",
            "unknown key 'expect_fire'; did you mean 'expect_fires'? (known: as_of, child, events,",
            id="a-test-key-misspelt",
        ),
        pytest.param(
            "looked_after.yaml",
            "code: PHILOMENA_PROFILE_MISSING",
            "code: PHILOMENA_MISSING",
            f"{PHILOMENA}: code",
            "a force's own code is declared under finding_codes in policy.yaml",
            id="an-undeclared-code",
        ),
        pytest.param(
            "looked_after.yaml",
            "placement: [childrens_home, not_given]",
            "placement: [childrens_home, foster]",
            f"{PHILOMENA}: when.child.placement",
            "unknown value 'foster'; did you mean 'foster_care'?",
            id="the-start-of-a-known-value",
        ),
        pytest.param(
            "found.yaml",
            "{id: just-in-time, as_of: +5d, expect_status: met,\n         events: [{type: found, at: +5h}",
            "{id: just-in-time, as_of: +5d, expect_status: met,\n"
            "         events: [{type: found, at: +77 hours}",
            "suffolk-2023-02/found.yaml: deadline return_home_interview: test just-in-time: events[0].at",
            "an instant in a test is an offset from the report, + then days d, hours h and minutes m",
            id="a-test-offset-in-words",
        ),
        pytest.param(
            "found.yaml",
            "    starts: {event: found}\n",
            "    starts: {event: found}\n    applies_if: {placement: [childrens_hom]}\n",
            "suffolk-2023-02/found.yaml: deadline prevention_interview: applies_if.child.placement",
            "unknown value 'childrens_hom'; did you mean 'childrens_home'?",
            id="a-deadlines-condition-in-the-rules-language",
        ),
        pytest.param(
            "parameters.yaml",
            "return_home_interview:\n  value: 72\n",
            "return_home_interview:\n  value: {hours: 72}\n",
            "suffolk-2023-02/parameters.yaml: return_home_interview: value",
            "expected a whole number or a text or a list of texts, not a mapping",
            id="a-value-of-no-kind-a-parameter-takes",
        ),
    ],
)
def test_a_mistake_in_a_policy_file_is_named_with_what_to_write(
    copy_of_policy: Path, name: str, old: str, new: str, field: str, says: str
) -> None:
    _replace(copy_of_policy, name, old, new)
    found = problems(copy_of_policy)
    assert field in found, found
    assert says in found[field]


def test_a_literal_duration_in_a_rule_says_to_name_a_parameter(copy_of_policy: Path) -> None:
    _append_rule(
        copy_of_policy,
        "      found: {fact: event, type: found}\n"
        "      late: {fact: incident, as_of: {gte: $found.at + 72 hours}}",
    )
    message = problems(copy_of_policy)["suffolk-2023-02/looked_after.yaml: rule L9.author: when.late.as_of"]
    assert message.startswith("a duration in a rule is a parameter's name, not a number: declare it in")
    assert "my_duration: {value: 72, unit: hours" in message and "$found.at + my_duration" in message


def test_a_rule_key_indented_into_when_is_named_as_such(copy_of_policy: Path) -> None:
    _append_rule(copy_of_policy, "      child: {fact: child, looked_after: true}\n      at: $child.at")
    message = problems(copy_of_policy)["suffolk-2023-02/looked_after.yaml: rule L9.author: when.at"]
    assert "'at' is a key of the rule itself, beside when (indented one level less)" in message


def test_a_rule_id_used_in_two_files_names_the_other_file(copy_of_policy: Path) -> None:
    path = copy_of_policy / "found.yaml"
    rule = A_RULE.format(
        id="L1.philomena-profile-missing", when="      child: {fact: child, looked_after: true}"
    )
    path.write_text(path.read_text().replace("\nrules:\n", "\nrules:\n" + rule.lstrip("\n"), 1))
    found = problems(copy_of_policy)
    message = next(m for f, m in found.items() if f.endswith(": id"))
    assert "is used twice: the rule in " in message and (
        "found.yaml" in message or "looked_after.yaml" in message
    )


def test_a_key_given_twice_is_refused_naming_both_lines(copy_of_policy: Path) -> None:
    path = copy_of_policy / "parameters.yaml"
    lines = path.read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if line == "return_home_interview:") + 1
    path.write_text(
        path.read_text()
        + "\nreturn_home_interview:\n  value: 48\n  unit: hours\n  clause: F3\n  provenance: statutory\n"
    )
    last = len(lines) + 2
    message = problems(copy_of_policy)["suffolk-2023-02/parameters.yaml"]
    assert message == (
        f"the key 'return_home_interview' is given twice in one mapping (lines {first} and {last}); "
        "keep one: the second would silently replace the first"
    )


def test_a_yaml_syntax_error_says_where_in_one_line(copy_of_policy: Path) -> None:
    _replace(copy_of_policy, "found.yaml", "expect_status: met,", "expect_status: [met,")
    message = problems(copy_of_policy)["suffolk-2023-02/found.yaml"]
    assert message.startswith("is not valid YAML at line ") and "\n" not in message


def test_a_failing_embedded_test_shows_statuses_as_written(copy_of_policy: Path) -> None:
    _replace(
        copy_of_policy,
        "found.yaml",
        "{id: just-in-time, as_of: +5d, expect_status: met,",
        "{id: just-in-time, as_of: +5d, expect_status: met_late,",
    )
    failed = [r for r in run_policy_tests(load_policy(copy_of_policy)) if not r.ok]
    assert [r.problem for r in failed] == ["expected statuses ['met_late'], got ['met']"]


def test_a_duration_reads_in_the_unit_its_author_wrote_and_an_assumption_in_its_authors_words(
    policy,  # type: ignore[no-untyped-def]
) -> None:
    from misper.engine import evaluate, parse_timeline
    from tests.support.timelines import report_timeline

    found = {"id": "f", "type": "found", "at": "2023-07-12T08:00:00+01:00", "by": "frontline_officer"}
    body = report_timeline([found], as_of="2023-07-20T08:00:00+01:00")
    result = evaluate(parse_timeline(json.dumps(body)), policy)
    notes = {f.code: f.basis_note for f in result.findings}
    # 72 hours, as parameters.yaml says it, not "3 days".
    assert notes["RETURN_HOME_INTERVIEW_LATE"] == (
        "Set by national statutory guidance: return_home_interview = 72 hours."
    )
    assert notes["INITIAL_GRADING_LATE"] == (
        "An assumed default (a force may change it): initial_grading = 30 minutes "
        "(Initial grading by the control room, after the report)."
    )


def test_a_deadline_id_used_twice_is_refused_naming_the_other_file(copy_of_policy: Path) -> None:
    _replace(copy_of_policy, "found.yaml", "  - id: return_home_interview", "  - id: prevention_interview")
    found = problems(copy_of_policy)
    message = found["suffolk-2023-02/found.yaml: deadline prevention_interview: id"]
    assert (
        message == "the deadline id 'prevention_interview' is used twice: found.yaml has it too; rename one"
    )


def test_an_unquoted_instant_in_a_tests_child_is_read_as_the_instant(copy_of_policy: Path) -> None:
    """YAML reads an unquoted ISO instant as a date and time: a test's child may hold one (its
    previous episodes) without the embedded tests crashing."""
    _replace(
        copy_of_policy,
        "looked_after.yaml",
        "{id: not-looked-after, expect_fires: 0}",
        "{id: not-looked-after, expect_fires: 0, child: {previous_episodes: "
        "[{reported_at: 2023-06-01T10:00:00+01:00, recorded_on: compact}]}}",
    )
    assert [r.problem for r in run_policy_tests(load_policy(copy_of_policy)) if not r.ok] == []


def test_a_ladder_needs_its_tests_and_replaces_the_below_high_reason(copy_of_policy: Path) -> None:
    def ladder(d: dict) -> None:
        del d["below_high_reason"]
        d["recommendation"] = {"rungs": [{"grade": "medium", "reason": "the floor"}], "tests": []}

    edit(copy_of_policy, "policy.yaml", ladder)
    found = problems(copy_of_policy)
    assert "suffolk-2023-02/policy.yaml: recommendation.tests" in found
    assert "suffolk-2023-02/policy.yaml: below_high_reason" not in found
    edit(copy_of_policy, "policy.yaml", lambda d: d.pop("recommendation"))
    assert "is needed" in problems(copy_of_policy)["suffolk-2023-02/policy.yaml: below_high_reason"]
