"""Every evaluation rates the incident on the inspectorate's scale for audited cases, by a rubric
that is policy data (settled reading 2026-12-05): inadequate when a listed breach left the child
exposed (its clause, and the grade in force at the instant it cites) or breaches of enough
different clauses, requires improvement for any other breach, good otherwise; "so far" while the
record is live. Each boundary is tested on a copy of the policy whose rubric a force changed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from misper.engine import evaluate, load_policy, parse_timeline
from tests.support.policies import edit, problems
from tests.support.timelines import evaluate_report, report_timeline

NOTHING_DONE = {"as_of": "2023-07-11T21:40:00+01:00"}  # two hours after the report, nothing done


def rubric(folder: Path, **changes: Any) -> Any:
    edit(folder, "policy.yaml", lambda d: d["quality"].update(changes))
    return load_policy(folder)


def breach_clauses(result) -> set[str]:  # type: ignore[no-untyped-def]
    return {f.clause for f in result.findings if f.severity == "breach"}


def test_breaches_of_enough_different_clauses_make_it_inadequate_and_one_fewer_does_not(
    copy_of_policy: Path,
) -> None:
    policy = load_policy(copy_of_policy)
    clauses = breach_clauses(evaluate_report(policy, [], **NOTHING_DONE))
    assert len(clauses) >= 3
    at_limit = rubric(copy_of_policy, inadequate_when=[], inadequate_clauses=len(clauses))
    result = evaluate_report(at_limit, [], **NOTHING_DONE)
    assert result.quality.rating == "inadequate"
    assert {f.code for f in result.findings if f.severity == "breach"} == set(result.quality.reasons)
    above = rubric(copy_of_policy, inadequate_when=[], inadequate_clauses=len(clauses) + 1)
    assert evaluate_report(above, [], **NOTHING_DONE).quality.rating == "requires_improvement"


def test_a_periodic_review_missed_while_high_is_inadequate_and_while_medium_is_not(
    copy_of_policy: Path,
) -> None:
    """S2 while the grade was high (the grade in force at the review's due instant)."""
    policy = rubric(
        copy_of_policy, inadequate_when=[{"clause": "S2", "grade": "high"}], inadequate_clauses=99
    )

    def graded(grade: str):  # type: ignore[no-untyped-def]
        events = [
            {
                "id": "c",
                "type": "intelligence_checks",
                "at": "2023-07-11T19:45:00+01:00",
                "by": "call_handler",
            },
            {
                "id": "g",
                "type": "risk_graded",
                "at": "2023-07-11T19:50:00+01:00",
                "by": "call_handler",
                "grade": grade,
            },
        ]
        return evaluate_report(policy, events, as_of="2023-07-12T03:00:00+01:00")

    high, medium = graded("high"), graded("medium")
    assert "S2" in breach_clauses(high) and "S2" in breach_clauses(medium)
    assert high.quality.rating == "inadequate" and "REVIEW_OVERDUE" in high.quality.reasons
    assert medium.quality.rating == "requires_improvement"


def test_advisories_actions_and_warnings_do_not_lower_the_rating(policy) -> None:
    """A report in the night's gap in intelligence cover, ten minutes in: an advisory, an action
    and a warning, and no breach."""
    body = report_timeline([], as_of="2023-07-12T03:25:00+01:00")
    body["events"][0]["at"] = "2023-07-12T03:00:00+01:00"
    result = evaluate(parse_timeline(json.dumps(body)), policy)
    assert {f.severity for f in result.findings} >= {"advisory", "action", "warning"}
    assert not breach_clauses(result)
    assert result.quality.rating == "good" and result.quality.reasons == []


def test_a_live_record_is_rated_so_far_and_a_closed_one_for_good(policy) -> None:
    live = evaluate_report(policy, [], as_of="2023-07-11T19:50:00+01:00")
    closed = evaluate_report(
        policy,
        [
            {"id": "f", "type": "found", "at": "2023-07-11T19:50:00+01:00", "by": "frontline_officer"},
            {"id": "x", "type": "closed", "at": "2023-07-11T20:00:00+01:00"},
        ],
    )
    assert (live.quality.so_far, closed.quality.so_far) == (True, False)
    assert live.quality.basis == closed.quality.basis == "assumed"


def test_the_rubric_is_checked_when_the_policy_loads(copy_of_policy: Path) -> None:
    def spoil(data: dict) -> None:
        data["quality"]["inadequate_when"] = [{"clause": "Z9"}, {"clause": "S2", "grade": "sky_high"}]
        data["quality"]["tests"] = []

    edit(copy_of_policy, "policy.yaml", spoil)
    found = problems(copy_of_policy)
    assert "Z9" in found["suffolk-2023-02/policy.yaml: quality.inadequate_when[0].clause"]
    assert "sky_high" in found["suffolk-2023-02/policy.yaml: quality.inadequate_when[1].grade"]
    assert "embedded tests" in found["suffolk-2023-02/policy.yaml: quality.tests"]


def test_a_quality_test_that_fails_stops_the_policy_loading_like_any_rule_test(copy_of_policy: Path) -> None:
    from misper.engine.policy.selftest import run_policy_tests

    def expect_wrong(data: dict) -> None:
        data["quality"]["tests"][0]["expect_quality"] = "inadequate"

    edit(copy_of_policy, "policy.yaml", expect_wrong)
    failed = [r for r in run_policy_tests(load_policy(copy_of_policy)) if not r.ok]
    assert [r.name for r in failed] == ["quality:nothing-due-yet-is-good-so-far"]
    assert "expected the rating inadequate, got good" in failed[0].problem
