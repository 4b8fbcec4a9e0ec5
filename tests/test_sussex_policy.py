"""Sussex Police's policy (rules/sussex-2022-09, docs/spec/policy-sussex-2022-09.md): a timeline
that names its force is judged by that force's policy, so one child graded low is within Sussex's
policy and a G1 breach under Suffolk's; the prevention interview is allocated and held as its
parameters say, and an allocation of the investigation is never read as the interview's; the
detective inspector (contract role cid_supervisor) oversees every grade Sussex allows."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from misper.engine import Evaluation, Policy, choose_policy, default_registry, evaluate, parse_timeline
from misper.engine.policy.checks import DURATION_UNITS

REPORT_AT = datetime.fromisoformat("2023-07-11T19:40:00+01:00")
SUSSEX = "sussex-2022-09"


def at(minutes: float) -> str:
    """The instant this many minutes after the report, as ISO 8601 with its offset."""
    return (REPORT_AT + timedelta(minutes=minutes)).isoformat()


def timeline(force: str, events: list[dict[str, Any]], as_of_minutes: float, **child: Any) -> dict[str, Any]:
    """A report at 19:40 BST on 11 July 2023 that names its force, not its policy."""
    return {
        "incident_id": "SX-T-1",
        "force": force,
        "as_of": at(as_of_minutes),
        "child": {"child_id": "C-1", "age_years": 14, **child},
        "events": [
            {"id": "r", "type": "report_received", "at": at(0), "by": "call_handler"},
            *events,
        ],
    }


def judged(body: dict[str, Any]) -> Evaluation:
    """The evaluation by the policy the shipped registry chooses for the timeline."""
    parsed = parse_timeline(json.dumps(body))
    return evaluate(parsed, choose_policy(default_registry(), parsed))


def sussex() -> Policy:
    return default_registry().get(SUSSEX)


def minutes_of(policy: Policy, name: str) -> int:
    param = policy.parameters[name]
    assert isinstance(param.value, int)
    return param.value * DURATION_UNITS[param.unit] // 60


def status(result: Evaluation, deadline_id: str) -> list[str]:
    return [d.status for d in result.deadlines if d.id == deadline_id]


GRADED_LOW = [
    {"id": "c", "type": "intelligence_checks", "at": at(5), "by": "call_handler"},
    {"id": "g", "type": "risk_graded", "at": at(10), "by": "call_handler", "grade": "low"},
]


def test_a_child_graded_low_is_within_sussex_policy_and_a_g1_breach_under_suffolks() -> None:
    by_sussex = judged(timeline("sussex", GRADED_LOW, 20))
    by_suffolk = judged(timeline("suffolk", GRADED_LOW, 20))

    assert (by_sussex.policy.id, by_sussex.policy.force) == (SUSSEX, "sussex")
    assert (by_suffolk.policy.id, by_suffolk.policy.force) == ("suffolk-2023-02", "suffolk")
    assert by_sussex.grade.current == by_suffolk.grade.current == "low"
    assert by_sussex.findings == []
    assert by_sussex.grade.recommended == "low"
    suffolk_g1 = [f for f in by_suffolk.findings if f.code == "GRADE_NOT_ALLOWED"]
    assert [(f.clause, f.severity, f.evidence) for f in suffolk_g1] == [("G1", "breach", ["g"])]
    assert by_suffolk.grade.recommended == "medium"


@pytest.mark.parametrize("grade", ["no_apparent_risk", "very_low"])
def test_sussex_refuses_no_apparent_risk_and_very_low_under_sxg1(grade: str) -> None:
    events = [{"id": "g", "type": "risk_graded", "at": at(10), "by": "call_handler", "grade": grade}]
    result = judged(timeline("sussex", events, 20))
    refused = [f for f in result.findings if f.code == "GRADE_NOT_ALLOWED"]
    assert [(f.clause, f.evidence) for f in refused] == [("SXG1", ["g"])]
    assert 'removed "no apparent risk"' in refused[0].message
    # Below high the grade in force is recommended, never one the force removed.
    assert result.grade.recommended == "low"


def test_sussex_reports_are_judged_by_the_sussex_version_from_2019_and_the_baseline_before() -> None:
    registry = default_registry()
    for moment, expected in (
        ("2018-12-31T23:59:59+00:00", "baseline-pre-2023"),
        ("2019-01-01T00:00:00+00:00", SUSSEX),
        ("2023-07-11T19:40:00+01:00", SUSSEX),
    ):
        assert registry.in_force(datetime.fromisoformat(moment), "sussex").id == expected, moment
    assert registry.in_force(datetime.fromisoformat("2023-07-11T19:40:00+01:00"), "suffolk").id == (
        "suffolk-2023-02"
    )


@pytest.mark.parametrize(
    ("interview_after_due", "expected"),
    [
        pytest.param(0, "met", id="at-the-due-instant"),
        pytest.param(1, "met_late", id="a-minute-late"),
        pytest.param(None, "breached", id="never"),
    ],
)
def test_the_prevention_interview_is_due_as_its_parameter_says(
    interview_after_due: int | None, expected: str
) -> None:
    allowed = minutes_of(sussex(), "prevention_interview")
    assert sussex().parameters["prevention_interview"].provenance == "assumed"
    found = 5 * 60
    events: list[dict[str, Any]] = [{"id": "f", "type": "found", "at": at(found)}]
    if interview_after_due is not None:
        events.append(
            {
                "id": "p",
                "type": "prevention_interview",
                "at": at(found + allowed + interview_after_due),
                "by": "frontline_officer",
                "voice_of_child": True,
            }
        )
    result = judged(timeline("sussex", events, found + allowed + 60))
    assert status(result, "prevention_interview") == [expected]
    interview = next(d for d in result.deadlines if d.id == "prevention_interview")
    assert (interview.clause, interview.due_at) == ("SXF1", at(found + allowed))
    late = [f for f in result.findings if f.code == "PREVENTION_INTERVIEW_LATE"]
    assert [f.clause for f in late] == ([] if expected == "met" else ["SXF1"])


def test_the_prevention_interview_is_due_soon_and_pending_before_its_time() -> None:
    allowed = minutes_of(sussex(), "prevention_interview")
    events = [{"id": "f", "type": "found", "at": at(60)}]
    halfway = judged(timeline("sussex", events, 60 + allowed // 2))
    a_minute_before = judged(timeline("sussex", events, 60 + allowed - 1))
    assert status(halfway, "prevention_interview") == ["pending"]
    assert status(a_minute_before, "prevention_interview") == ["due_soon"]


def test_an_allocation_of_the_investigation_is_not_the_prevention_interviews() -> None:
    """An officer_allocated event naming no task allocates the investigation: it neither allocates
    nor holds the prevention interview."""
    allowed = minutes_of(sussex(), "prevention_interview")
    events = [
        {"id": "f", "type": "found", "at": at(60)},
        {"id": "a", "type": "officer_allocated", "at": at(90), "by": "control_room_supervisor"},
    ]
    result = judged(timeline("sussex", events, 60 + allowed + 60))
    assert status(result, "prevention_interview") == ["breached"]
    assert status(result, "prevention_interview_allocation") == ["breached"]


def test_the_prevention_interview_left_unallocated_is_a_breach_at_its_assumed_deadline() -> None:
    """SXF2: the review found interviews left more than a day unallocated; the deadline for
    allocating one is an assumed parameter, met by an allocation naming the interview."""
    policy = sussex()
    allowed = minutes_of(policy, "prevention_interview_allocation")
    assert policy.parameters["prevention_interview_allocation"].provenance == "assumed"
    found = {"id": "f", "type": "found", "at": at(60)}

    def allocated(minutes: int) -> dict[str, Any]:
        return {
            "id": "a",
            "type": "officer_allocated",
            "at": at(60 + minutes),
            "by": "control_room_supervisor",
            "task": "prevention_interview",
        }

    late = 60 + allowed + 60
    assert status(
        judged(timeline("sussex", [found, allocated(allowed)], late)), "prevention_interview_allocation"
    ) == ["met"]
    assert status(
        judged(timeline("sussex", [found, allocated(allowed + 1)], late)), "prevention_interview_allocation"
    ) == ["met_late"]
    left = judged(timeline("sussex", [found], late))
    assert status(left, "prevention_interview_allocation") == ["breached"]
    finding = next(f for f in left.findings if f.code == "PREVENTION_INTERVIEW_UNALLOCATED")
    assert finding.clause == "SXF2" and finding.evidence == ["f"]


@pytest.mark.parametrize("grade", ["high", "medium", "low", "no_apparent_risk", None])
def test_the_detective_inspector_oversees_every_sussex_grade(grade: str | None) -> None:
    graded = {"id": "g", "type": "risk_graded", "at": at(10), "by": "call_handler", "grade": grade}
    events = [] if grade is None else [graded]
    result = judged(timeline("sussex", events, 30))
    assert result.oversight.required_role == "cid_supervisor"
    assert result.oversight.deadline == "detective_inspector_oversight"
    assert result.oversight.recommended_role is None


def test_sussex_oversight_does_not_split_by_grade_as_suffolks_does() -> None:
    def required(force: str, grade: str) -> str | None:
        events = [{"id": "g", "type": "risk_graded", "at": at(10), "by": "call_handler", "grade": grade}]
        return judged(timeline(force, events, 30)).oversight.required_role

    assert [required("sussex", g) for g in ("high", "medium")] == ["cid_supervisor", "cid_supervisor"]
    assert [required("suffolk", g) for g in ("high", "medium")] == ["cid_supervisor", "inspector"]


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        pytest.param("cid_supervisor", "met", id="detective-inspector"),
        pytest.param("inspector", "breached", id="uniformed-inspector"),
        pytest.param("sergeant", "breached", id="sergeant"),
    ],
)
def test_only_the_detective_inspector_meets_the_oversight_duty(role: str, expected: str) -> None:
    allowed = minutes_of(sussex(), "detective_inspector_oversight")
    events = [
        {"id": "g", "type": "risk_graded", "at": at(10), "by": "call_handler", "grade": "medium"},
        {"id": "o", "type": "oversight_accepted", "at": at(allowed), "by": role},
    ]
    result = judged(timeline("sussex", events, allowed + 60))
    assert status(result, "detective_inspector_oversight") == [expected]
    assert (result.oversight.accepted_at is not None) == (expected == "met")
    late = [f for f in result.findings if f.code == "CID_OVERSIGHT_LATE"]
    assert [f.clause for f in late] == ([] if expected == "met" else ["SXO1"])


def test_the_fcccd_uses_the_response_plan_of_a_frequently_missing_child() -> None:
    allowed = minutes_of(sussex(), "response_plan_consult")

    def plan_use(by: str, minutes: int) -> list[str]:
        events = [{"id": "u", "type": "response_plan_consulted", "at": at(minutes), "by": by}]
        result = judged(timeline("sussex", events, allowed + 5, response_plan=True))
        return status(result, "response_plan_use")

    assert plan_use("call_handler", allowed) == ["met"]
    assert plan_use("control_room_supervisor", allowed + 1) == ["met_late"]
    assert plan_use("frontline_officer", 10) == ["breached"]
    earlier = [{"reported_at": at(-60 * 24 * d), "recorded_on": "compact"} for d in (10, 20)]
    result = judged(timeline("sussex", [], 5, previous_episodes=earlier))
    assert result.repeat_missing.response_plan_required
    assert [f.clause for f in result.findings if f.code == "RESPONSE_PLAN_REQUIRED"] == ["SXR1"]


def test_every_number_the_source_does_not_give_is_assumed() -> None:
    numbers = {
        name: p.provenance
        for name, p in sussex().parameters.items()
        if p.unit in (*DURATION_UNITS, "count", "years") and p.clause is not None
    }
    assert numbers.pop("return_home_interview") == "statutory"
    assert numbers and set(numbers.values()) == {"assumed"}
