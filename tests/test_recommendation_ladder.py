"""Issue 24: a graded recommendation written as data. Below G4's high, a policy may give a ladder
of rungs, each a grade, the conditions it needs (in the when language, on the child, the repeat
count and the risk counts) and the reason it gives; the first rung that holds is the
recommendation, and the last rung, with no condition, is the floor. Covered by embedded tests, and
checked at load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from misper.engine import evaluate, load_policy, parse_timeline
from misper.engine.policy.selftest import run_policy_tests
from tests.support.policies import SHIPPED_RULES, edit, problems

EARLIER = [
    {"reported_at": "2023-06-20T10:00:00+01:00", "recorded_on": "compact"},
    {"reported_at": "2023-07-01T10:00:00+01:00", "recorded_on": "compact"},
]
LADDER = {
    "rungs": [
        {"grade": "high", "when": {"repeat": {"episodes_in_window": {"gte": "frequent_missing"}}},
         "reason": "{episodes} episodes in {window_days} days: a child this often missing is high"},
        {"grade": "medium", "when": {"risk": {"aggravating_factors": {"gte": 1}}},
         "reason": "an aggravating factor ({listed}) recommends medium"},
        {"grade": "low", "reason": "no high-risk indicator and no aggravating factor"},
    ],
    "tests": [
        {"id": "often-missing", "report_at": "2023-07-11T19:40:00+01:00",
         "child": {"previous_episodes": EARLIER}, "expect_recommended": "high"},
        {"id": "one-factor", "child": {"risk_factors": ["mental_health"]}, "expect_recommended": "medium"},
        {"id": "nothing", "expect_recommended": "low"},
    ],
}  # fmt: skip
FREQUENT = {"value": 3, "unit": "count", "clause": "SXG4", "provenance": "assumed",
            "note": "Episodes in the window that recommend high on their own."}  # fmt: skip


@pytest.fixture
def sussex(tmp_path: Path) -> Path:
    """A copy of the Sussex policy (lowest grade low), its grade below high given by a ladder."""
    target = tmp_path / "sussex-2022-09"
    shutil.copytree(SHIPPED_RULES / "sussex-2022-09", target)
    edit(target, "parameters.yaml", lambda d: d.update(frequent_missing=FREQUENT))

    def ladder(d: dict[str, Any]) -> None:
        del d["below_high"]
        d["recommendation"] = LADDER

    edit(target, "policy.yaml", ladder)
    return target


def _recommended(folder: Path, child: dict[str, Any]) -> tuple[str, list[str]]:
    body = {
        "incident_id": "L-1",
        "force": "sussex",
        "child": {"child_id": "C-1", "age_years": 14, **child},
        "events": [
            {"id": "r", "type": "report_received", "at": "2023-07-11T19:40:00+01:00", "by": "call_handler"}
        ],
    }
    grade = evaluate(parse_timeline(json.dumps(body)), load_policy(folder)).grade
    return grade.recommended.value, grade.reasons


def test_a_three_rung_ladder_recommends_each_grade_with_its_reason(sussex: Path) -> None:
    assert [r for r in run_policy_tests(load_policy(sussex)) if not r.ok] == []
    assert _recommended(sussex, {"previous_episodes": EARLIER}) == (
        "high",
        ["3 episodes in 42 days: a child this often missing is high"],
    )
    assert _recommended(sussex, {"risk_factors": ["mental_health"]}) == (
        "medium",
        ["an aggravating factor (mental health concerns) recommends medium"],
    )
    assert _recommended(sussex, {}) == ("low", ["no high-risk indicator and no aggravating factor"])
    # G4's high still comes first: an indicator is high whatever the ladder says.
    assert _recommended(sussex, {"risk_factors": ["sexual_exploitation"]})[0] == "high"


def test_a_failing_ladder_test_says_what_was_recommended(sussex: Path) -> None:
    def wrong(d: dict[str, Any]) -> None:
        d["recommendation"]["tests"][2]["expect_recommended"] = "medium"

    edit(sussex, "policy.yaml", wrong)
    failed = [r.problem for r in run_policy_tests(load_policy(sussex)) if not r.ok]
    assert failed == [
        "expected the recommended grade medium, got low (no high-risk indicator and no aggravating factor)"
    ]


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        pytest.param(
            lambda d: d["recommendation"]["rungs"].pop(),
            "rungs[1].when",
            "the last rung has no condition",
            id="no-floor",
        ),
        pytest.param(
            lambda d: d["recommendation"]["rungs"][1].pop("when"),
            "rungs[1].when",
            "only the last rung has no condition",
            id="an-unreachable-rung",
        ),
        pytest.param(
            lambda d: d["recommendation"]["rungs"][2].update(grade="very_low"),
            "rungs[2].grade",
            "very_low is below the lowest grade allowed (low)",
            id="below-the-lowest-grade",
        ),
        pytest.param(
            lambda d: d["recommendation"]["rungs"][1].update(reason="{factors}"),
            "rungs[1].reason",
            "unknown placeholder 'factors'",
            id="an-unknown-placeholder",
        ),
        pytest.param(
            lambda d: d["recommendation"]["rungs"][1].update(when={"risk": {"aggravating": {"gte": 1}}}),
            "rungs[1].when.risk.aggravating",
            "did you mean 'aggravating_factors'?",
            id="an-unknown-field",
        ),
        pytest.param(
            lambda d: d.update(below_high={"grade_in_force": True, "otherwise": "low"}),
            "",
            "give recommendation or below_high, not both",
            id="two-ways-below-high",
        ),
    ],
)
def test_a_ladder_is_checked_at_load(sussex: Path, change: Any, field: str, says: str) -> None:
    edit(sussex, "policy.yaml", change)
    found = problems(sussex)
    where = "sussex-2022-09/policy.yaml: recommendation" + (f": {field}" if field else "")
    assert says in found.get(where, ""), found


def test_a_rule_may_read_the_risk_counts(sussex: Path) -> None:
    def rule(d: dict[str, Any]) -> None:
        d["rules"].append(
            {
                "id": "SXG4.two-factors-noted",
                "clause": "SXG4",
                "code": "UNDER_GRADED",
                "severity": "advisory",
                "when": {"risk": {"fact": "risk", "aggravating_factors": {"gte": 2}}},
                "message": "Two or more aggravating factors are noted.",
                "tests": [
                    {
                        "id": "two",
                        "child": {"risk_factors": ["mental_health", "substance_misuse"]},
                        "expect_fires": 1,
                    },
                    {"id": "one", "child": {"risk_factors": ["mental_health"]}, "expect_fires": 0},
                ],
            }
        )

    edit(sussex, "grading.yaml", rule)
    assert [r for r in run_policy_tests(load_policy(sussex)) if not r.ok] == []


@pytest.mark.cli
def test_rules_compiled_shows_the_ladder(sussex: Path) -> None:
    from tests.support.cli import misper

    shutil.copy(SHIPPED_RULES / "forces.yaml", sussex.parent / "forces.yaml")
    done = misper("rules", "compiled", "sussex-2022-09", "--rules", str(sussex.parent))
    assert done.returncode == 0, done.stderr
    ladder = json.loads(done.stdout)["ladder"]
    assert [rung["grade"] for rung in ladder] == ["high", "medium", "low"]
    assert ladder[1]["conditions"] == [
        {"fact": "risk", "condition": {"$and": [{"kind": "risk"}, {"$gte": {"aggravating_factors": 1}}]}}
    ]
