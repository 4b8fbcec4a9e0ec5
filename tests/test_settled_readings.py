"""The settled readings of the policy at its edges: when a record is judged, what counts at the
instant a child is found, events at the report's own instant, recommended oversight roles, repeat
episodes, the next status change and exact time order."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from misper.engine import InvalidTimeline, evaluate, parse_timeline
from misper.engine.judging.judge import judged_at
from tests.support.paths import FIXTURES
from tests.support.timelines import evaluate_report, report_timeline


def statuses(result) -> dict[str, str]:
    return {f"{d.id}#{d.occurrence}": d.status for d in result.deadlines}


def test_time_order_and_whole_seconds_are_exact_in_far_years(policy) -> None:  # type: ignore[no-untyped-def]
    """Issue 13: Events are ordered by whole seconds and microseconds: the whole seconds must be exact
    even where a float timestamp rounds .999999 up (after 2514; the contract allows to 2999)."""
    from datetime import datetime

    from misper.engine.clock.context import build_context
    from misper.engine.localtime import to_epoch

    for text, expected in (
        ("2999-06-01T00:10:00.999999+00:00", 32485191000),
        ("2600-01-01T00:00:00.999999-05:00", 19880917200),
        ("2023-07-11T19:40:00.999999+01:00", 1689100800),
        ("1900-01-01T00:00:00.5+00:00", -2208988800),
    ):
        assert to_epoch(datetime.fromisoformat(text)) == expected, text
    body = {
        "incident_id": "ORD-1",
        "as_of": "2999-06-01T03:00:00+00:00",
        "child": {"child_id": "C-1", "age_years": 14},
        "events": [
            {"id": "e01", "type": "report_received", "at": "2999-06-01T00:00:00+00:00", "by": "call_handler"},
            {
                "id": "e02",
                "type": "risk_graded",
                "at": "2999-06-01T00:10:00.999999+00:00",
                "by": "call_handler",
                "grade": "high",
            },
            {
                "id": "e03",
                "type": "risk_graded",
                "at": "2999-06-01T00:10:01+00:00",
                "by": "call_handler",
                "grade": "medium",
            },
        ],
    }
    timeline = parse_timeline(json.dumps(body))
    ctx = build_context(timeline, datetime.fromisoformat(body["as_of"]))
    assert [e.id for e in ctx.events] == ["e01", "e02", "e03"] and ctx.events[1].at == 32485191000
    assert evaluate(timeline, policy).grade.current == "medium"


def test_a_closed_record_without_as_of_is_judged_at_its_closing_event(policy) -> None:
    """Issue 6: a closed record without as_of is judged at its closing event."""
    body = json.loads((FIXTURES / "timelines" / "case-study.json").read_text())
    del body["as_of"]
    timeline = parse_timeline(json.dumps(body))
    first = evaluate(timeline, policy).to_json()
    assert json.loads(first)["as_of"] == "2023-07-14T09:00:00+01:00"
    # "now" plays no part: judged a year apart, the answer is the same.
    for now in (datetime(2024, 1, 1, tzinfo=UTC), datetime(2030, 6, 1, tzinfo=UTC)):
        assert judged_at(timeline, now=now) == datetime.fromisoformat("2023-07-14T09:00:00+01:00")
    assert evaluate(timeline, policy).to_json() == first


def test_a_record_marked_complete_without_closing_is_judged_at_its_last_event(policy) -> None:
    """Issue 6: a record marked complete without closing is judged at its last event."""
    result = evaluate_report(
        policy,
        [{"id": "f", "type": "found", "at": "2023-07-11T23:00:00+01:00"}],
        mode="complete",
    )
    assert result.as_of == "2023-07-11T23:00:00+01:00" and result.mode == "complete"


def test_live_mode_with_a_closed_event_still_uses_now() -> None:
    """Issue 6: live mode with a closed event still uses now."""
    timeline = parse_timeline(
        json.dumps(
            report_timeline([{"id": "c", "type": "closed", "at": "2023-07-12T09:00:00+01:00"}], mode="live")
        )
    )
    now = datetime(2023, 7, 11, 21, 0, tzinfo=UTC)
    assert judged_at(timeline, now=now) == now


def test_recommended_role_names_cid_for_an_under_graded_child(policy) -> None:
    """Issue 6: recommended role names CID for an under-graded child."""
    result = evaluate_report(
        policy,
        [
            {
                "id": "g",
                "type": "risk_graded",
                "at": "2023-07-11T19:50:00+01:00",
                "by": "call_handler",
                "grade": "medium",
            }
        ],
        child={"child_id": "C-1", "age_years": 14, "risk_factors": ["sexual_exploitation"]},
        as_of="2023-07-11T21:00:00+01:00",
    )
    assert result.oversight.required_role == "inspector"
    assert result.oversight.recommended_role == "cid_supervisor"


def test_recommended_role_absent_when_the_grade_is_right(policy) -> None:
    """Issue 6: recommended role absent when the grade is right."""
    result = evaluate_report(
        policy,
        [
            {
                "id": "g",
                "type": "risk_graded",
                "at": "2023-07-11T19:50:00+01:00",
                "by": "call_handler",
                "grade": "low",
            }
        ],
        as_of="2023-07-11T21:00:00+01:00",
    )
    # A low grade is held to the policy's floor for the oversight duty, and is G1 only.
    assert result.oversight.required_role == "inspector" and result.oversight.recommended_role is None
    assert {f.code for f in result.findings if f.clause in ("G1", "G4")} == {"GRADE_NOT_ALLOWED"}


def test_found_deceased_asks_for_no_interviews(policy) -> None:
    """Issue 6: found deceased asks for no interviews."""
    result = evaluate_report(
        policy,
        [
            {"id": "f", "type": "found", "at": "2023-07-11T22:00:00+01:00", "outcome": "deceased"},
            {"id": "c", "type": "closed", "at": "2023-07-20T09:00:00+01:00"},
        ],
    )
    statuses = {d.id: d.status for d in result.deadlines}
    assert statuses["prevention_interview"] == "not_applicable"
    assert statuses["return_home_interview"] == "not_applicable"
    assert not {f.clause for f in result.findings} & {"F1", "F2", "F3"}
    reason = next(d.reason for d in result.deadlines if d.id == "prevention_interview")
    assert reason == "the child was found deceased at 22:00 on 11 July 2023 (BST), before it was due"


@pytest.mark.parametrize(
    "as_of",
    [
        "2023-07-11T19:45:00+01:00",
        "2023-07-11T20:05:00+01:00",
        "2023-07-12T03:00:00+01:00",
        "2023-07-12T07:50:00+01:00",
    ],
)
def test_next_change_at_is_when_a_status_next_changes(policy, as_of) -> None:
    """Issue 6: next_change_at is when a status next changes."""
    body = json.loads((FIXTURES / "timelines" / "case-study.json").read_text())
    body["as_of"] = as_of
    # Only what was known at as_of: the next change is the one the clock alone would make.
    body["events"] = [e for e in body["events"] if e["at"] <= as_of]
    timeline = parse_timeline(json.dumps(body))
    first = evaluate(timeline, policy)
    assert first.next_change_at is not None
    change = datetime.fromisoformat(first.next_change_at)

    def statuses(at: datetime) -> list[tuple[str, int, str]]:
        result = evaluate(timeline, policy, at)
        return [(d.id, d.occurrence, d.status) for d in result.deadlines]

    before = statuses(change - timedelta(seconds=1))
    assert before == [(d.id, d.occurrence, d.status) for d in first.deadlines]
    assert statuses(change) != before


def test_next_change_at_is_null_for_a_complete_record(policy) -> None:
    """Issue 6: next_change_at is null for a complete record."""
    result = evaluate(parse_timeline((FIXTURES / "timelines" / "case-study.json").read_bytes()), policy)
    assert result.mode == "complete" and result.next_change_at is None


def test_a_child_found_at_the_due_instant_leaves_the_duty_not_applicable(policy) -> None:
    """Issue 6: Settled reading (G6, O2, S1): not yet due when found is not applicable; a duty done at its
    due instant is in time, so one stopped at that instant was never late."""
    at_due = evaluate_report(policy, [{"id": "f", "type": "found", "at": "2023-07-11T21:40:00+01:00"}])
    statuses = {d.id: d.status for d in at_due.deadlines}
    assert statuses["investigation_plan"] == statuses["inspector_oversight"] == "not_applicable"
    late = evaluate_report(policy, [{"id": "f", "type": "found", "at": "2023-07-11T21:41:00+01:00"}])
    assert {d.id: d.status for d in late.deadlines}["investigation_plan"] == "breached"


def test_a_duty_done_at_the_instant_the_child_is_found_counts(policy) -> None:
    """Issue 6: a duty done at the instant the child is found counts."""
    result = evaluate_report(
        policy,
        [
            {"id": "f", "type": "found", "at": "2023-07-11T20:10:00+01:00"},
            {
                "id": "g",
                "type": "risk_graded",
                "at": "2023-07-11T20:10:00+01:00",
                "by": "call_handler",
                "grade": "medium",
            },
        ],
        as_of="2023-07-12T01:00:00+01:00",
    )
    initial = next(d for d in result.deadlines if d.id == "initial_grading")
    assert (initial.status, initial.met_by) == ("met", "g")


def test_a_regrade_after_the_child_is_found_opens_no_clock(policy) -> None:
    """Issue 6: a regrade after the child is found opens no clock."""
    result = evaluate_report(
        policy,
        [
            {"id": "f", "type": "found", "at": "2023-07-11T21:00:00+01:00"},
            {
                "id": "g",
                "type": "risk_graded",
                "at": "2023-07-11T22:00:00+01:00",
                "by": "frontline_officer",
                "grade": "high",
            },
        ],
        as_of="2023-07-13T08:00:00+01:00",
    )
    cid = [d.status for d in result.deadlines if d.id == "cid_oversight"]
    assert cid == ["not_applicable"]
    assert not [f for f in result.findings if f.code in ("CID_OVERSIGHT_LATE", "INTELLIGENCE_GAP")]


def test_events_at_the_report_instant_listed_first_still_meet_deadlines(policy) -> None:
    """Issue 2: events at the report instant listed first still meet deadlines."""
    body = report_timeline([], as_of="2023-07-11T21:00:00+01:00")
    body["events"] = [
        {
            "id": "g",
            "type": "risk_graded",
            "at": "2023-07-11T19:40:00+01:00",
            "by": "call_handler",
            "grade": "medium",
        },
        {"id": "c", "type": "compact_record_created", "at": "2023-07-11T19:40:00+01:00"},
        *body["events"],
    ]
    result = statuses(evaluate(parse_timeline(json.dumps(body)), policy))
    assert (result["initial_grading#1"], result["compact_record#1"]) == ("met", "met")


def test_duplicate_previous_episodes_count_once(policy) -> None:
    """Issue 2: duplicate previous episodes count once."""
    body = report_timeline([], as_of="2023-07-11T20:00:00+01:00")
    episode = {"reported_at": "2023-07-01T18:05:00+01:00", "recorded_on": "compact"}
    body["child"]["previous_episodes"] = [episode] * 4
    assert evaluate(parse_timeline(json.dumps(body)), policy).repeat_missing.episodes_in_window == 2
    body["child"]["previous_episodes"] = [episode, dict(episode, recorded_on="child_risk_assessment_form")]
    with pytest.raises(InvalidTimeline) as info:
        parse_timeline(json.dumps(body))
    assert info.value.errors[0].field == "child.previous_episodes[1]"


def test_the_baseline_recommends_the_grade_in_force_below_high_never_no_apparent_risk() -> None:
    """Settled reading (2026-12-05), BG1/BG4: high where the indicators say high; below that the
    grade in force, low when there is none yet or it is no apparent risk."""
    from misper.engine import default_registry

    baseline = default_registry().get("baseline-pre-2023")
    report = {"id": "r", "type": "report_received", "at": "2022-07-11T19:40:00+01:00", "by": "call_handler"}

    def recommended(*grades: str, age: int = 15) -> str:
        events = [report] + [
            {
                "id": f"g{i}",
                "type": "risk_graded",
                "at": f"2022-07-11T2{i}:00:00+01:00",
                "by": "call_handler",
                "grade": g,
            }
            for i, g in enumerate(grades)
        ]
        body = {
            "incident_id": "B-1",
            "child": {"child_id": "C", "age_years": age},
            "events": events,
            "as_of": "2022-07-12T02:00:00+01:00",
        }
        return str(evaluate(parse_timeline(json.dumps(body)), baseline).grade.recommended)

    assert recommended() == "low"
    assert recommended("no_apparent_risk") == "low"
    assert recommended("very_low") == "very_low"
    assert recommended("medium") == "medium"
    assert recommended("low", "medium") == "medium"
    assert recommended("medium", age=10) == "high"  # under the high-risk age: the indicator says high
