"""Issue 24: a deadline conditioned like a rule. applies_if is written in the rules' when language
on the child and the repeat count (any child field, the episodes in the window, with comparisons
and parameters), so a duty for some children is a countdown with due soon, not only a finding
after the fact; the short form {looked_after: true} still reads as the child's field; and a
deadline may be stopped by any of several grades at its due instant."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from misper.engine import evaluate, load_policy, parse_timeline
from misper.engine.policy.selftest import run_policy_tests
from tests.support.policies import edit, problems

REPORT = "2023-07-11T19:40:00+01:00"
HOME = {
    "id": "childrens_home_strategy",
    "clause": "L1",
    "code": "STRATEGY_DISCUSSION_LATE",
    "owner": "inspector",
    "duty": "A strategy discussion for a child from a children's home",
    "starts": {"event": "report_received"},
    "due_after": "childrens_home_strategy",
    "met_by": [{"event": "strategy_discussion"}],
    "applies_if": {"child": {"looked_after": True, "placement": ["childrens_home"], "age_years": {"lt": 16}}},
    "tests": [
        {"id": "in-a-childrens-home", "as_of": "+13h", "expect_status": "breached",
         "child": {"looked_after": True, "placement": "childrens_home"}},
        {"id": "in-foster-care", "as_of": "+13h", "expect_status": [],
         "child": {"looked_after": True, "placement": "foster_care"}},
        {"id": "sixteen", "as_of": "+13h", "expect_status": [],
         "child": {"looked_after": True, "placement": "childrens_home", "age_years": 16}},
        {"id": "due-soon", "as_of": "+10h", "expect_status": "due_soon",
         "child": {"looked_after": True, "placement": "childrens_home"}},
    ],
}  # fmt: skip
HOME_PARAMETER = {"value": 12, "unit": "hours", "clause": "L1", "provenance": "assumed",
                  "note": "A strategy discussion within 12 hours (children's homes)."}  # fmt: skip


def _with(folder: Path, deadline: dict[str, Any]) -> None:
    edit(folder, "parameters.yaml", lambda d: d.update(childrens_home_strategy=HOME_PARAMETER))
    edit(folder, "looked_after.yaml", lambda d: d.setdefault("deadlines", []).append(deadline))


def _statuses(folder: Path, child: dict[str, Any], as_of: str) -> list[str]:
    body = {
        "incident_id": "H-1",
        "child": {"child_id": "C-1", "age_years": 14, **child},
        "events": [{"id": "r", "type": "report_received", "at": REPORT, "by": "call_handler"}],
        "as_of": as_of,
    }
    result = evaluate(parse_timeline(json.dumps(body)), load_policy(folder))
    return [d.status.value for d in result.deadlines if d.id == "childrens_home_strategy"]


def test_a_deadline_applies_only_to_children_in_a_childrens_home(copy_of_policy: Path) -> None:
    _with(copy_of_policy, HOME)
    assert [r for r in run_policy_tests(load_policy(copy_of_policy)) if not r.ok] == []
    home = {"looked_after": True, "placement": "childrens_home"}
    # A countdown the control room sees: due soon, then breached; nothing for another child.
    assert _statuses(copy_of_policy, home, "2023-07-12T05:00:00+01:00") == ["due_soon"]
    assert _statuses(copy_of_policy, home, "2023-07-12T08:00:00+01:00") == ["breached"]
    assert (
        _statuses(copy_of_policy, {"looked_after": True, "placement": "family"}, "2023-07-12T08:00:00+01:00")
        == []
    )


def test_a_deadline_may_apply_on_the_repeat_count_with_a_parameter(copy_of_policy: Path) -> None:
    frequent = {
        **HOME,
        "applies_if": {"repeat": {"episodes_in_window": {"gte": "repeat_threshold"}}},
        "tests": [
            {"id": "third-episode", "as_of": "+13h", "expect_status": "breached",
             "child": {"previous_episodes": [
                 {"reported_at": "2023-06-20T10:00:00+01:00", "recorded_on": "compact"},
                 {"reported_at": "2023-07-01T10:00:00+01:00", "recorded_on": "compact"}]}},
            {"id": "first-episode", "as_of": "+13h", "expect_status": []},
        ],
    }  # fmt: skip
    _with(copy_of_policy, frequent)
    assert [r for r in run_policy_tests(load_policy(copy_of_policy)) if not r.ok] == []


def test_the_short_form_reads_as_the_childs_fields(copy_of_policy: Path) -> None:
    short = {**HOME, "applies_if": {"looked_after": True, "placement": "childrens_home"}}
    _with(copy_of_policy, short)
    assert _statuses(
        copy_of_policy, {"looked_after": True, "placement": "childrens_home"}, "2023-07-12T08:00:00+01:00"
    )
    assert not _statuses(copy_of_policy, {"looked_after": False}, "2023-07-12T08:00:00+01:00")


@pytest.mark.parametrize(
    ("applies_if", "field", "says"),
    [
        pytest.param(
            {"child": {"placement": ["childrens_hom"]}},
            "applies_if.child.placement",
            "did you mean 'childrens_home'?",
            id="an-unknown-value",
        ),
        pytest.param(
            {"child": {"age_yrs": {"lt": 13}}},
            "applies_if.child.age_yrs",
            "did you mean 'age_years'?",
            id="an-unknown-field",
        ),
        pytest.param(
            {"grading": {"grade": "high"}},
            "applies_if.grading",
            "applies_if reads child, repeat",
            id="another-fact",
        ),
        pytest.param(
            {"repeat": {"episodes_in_window": {"gte": "repeat_treshold"}}},
            "applies_if.repeat.episodes_in_window",
            "did you mean 'repeat_threshold'?",
            id="an-unknown-parameter",
        ),
    ],
)
def test_a_deadlines_condition_is_checked_like_a_rules(
    copy_of_policy: Path, applies_if: dict[str, Any], field: str, says: str
) -> None:
    _with(copy_of_policy, {**HOME, "applies_if": applies_if})
    found = problems(copy_of_policy)
    where = f"suffolk-2023-02/looked_after.yaml: deadline childrens_home_strategy: {field}"
    assert says in found[where], found


def test_grade_at_due_takes_a_list(copy_of_policy: Path) -> None:
    """S3's escalation review is not applicable when the child is high at its due instant; a force
    may name several grades in one trigger (here: high, or very low)."""

    def review_status(grades: str | list[str]) -> str:
        def either(d: dict[str, Any]) -> None:
            review = next(x for x in d["deadlines"] if x["id"] == "escalation_review")
            next(t for t in review["not_applicable_when"] if "grade_at_due" in t)["grade_at_due"] = grades

        edit(copy_of_policy, "supervision.yaml", either)
        body = {
            "incident_id": "S3-1",
            "child": {"child_id": "C-1", "age_years": 14},
            "events": [
                {"id": "r", "type": "report_received", "at": REPORT, "by": "call_handler"},
                {"id": "g", "type": "risk_graded", "at": "2023-07-11T19:50:00+01:00", "by": "call_handler",
                 "grade": "very_low"},
            ],
            "as_of": "2023-07-12T03:00:00+01:00",
        }  # fmt: skip
        result = evaluate(parse_timeline(json.dumps(body)), load_policy(copy_of_policy))
        return next(d.status.value for d in result.deadlines if d.id == "escalation_review")

    assert review_status("high") == "breached"
    assert review_status(["high", "very_low"]) == "not_applicable"


def test_grade_at_due_names_known_grades(copy_of_policy: Path) -> None:
    def wrong(d: dict[str, Any]) -> None:
        for x in d["deadlines"]:
            for t in x.get("not_applicable_when", []):
                if "grade_at_due" in t:
                    t["grade_at_due"] = ["high", "hihg"]

    edit(copy_of_policy, "supervision.yaml", wrong)
    assert any("did you mean 'high'" in m for m in problems(copy_of_policy).values())
