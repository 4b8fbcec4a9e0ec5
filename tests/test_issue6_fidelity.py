"""Issue 6: the settled readings, deterministic output and messages an inspector can paste."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from misper.engine import evaluate, parse_timeline
from misper.engine.judging.judge import judged_at
from tests.conftest import FIXTURES, report_timeline

TIMELINES = sorted((FIXTURES / "timelines").glob("*.json"))


def run(policy, events, **overrides):
    return evaluate(parse_timeline(json.dumps(report_timeline(events, **overrides))), policy)


def test_issue6_a_closed_record_without_as_of_is_judged_at_its_closing_event(policy) -> None:
    body = json.loads((FIXTURES / "timelines" / "case-study.json").read_text())
    del body["as_of"]
    timeline = parse_timeline(json.dumps(body))
    first = evaluate(timeline, policy).to_json()
    assert json.loads(first)["as_of"] == "2023-07-14T09:00:00+01:00"
    # "now" plays no part: judged a year apart, the answer is the same.
    for now in (datetime(2024, 1, 1, tzinfo=UTC), datetime(2030, 6, 1, tzinfo=UTC)):
        assert judged_at(timeline, now=now) == datetime.fromisoformat("2023-07-14T09:00:00+01:00")
    assert evaluate(timeline, policy).to_json() == first


def test_issue6_a_record_marked_complete_without_closing_is_judged_at_its_last_event(policy) -> None:
    result = run(
        policy,
        [{"id": "f", "type": "found", "at": "2023-07-11T23:00:00+01:00"}],
        mode="complete",
    )
    assert result.as_of == "2023-07-11T23:00:00+01:00" and result.mode == "complete"


def test_issue6_live_mode_with_a_closed_event_still_uses_now() -> None:
    timeline = parse_timeline(
        json.dumps(
            report_timeline([{"id": "c", "type": "closed", "at": "2023-07-12T09:00:00+01:00"}], mode="live")
        )
    )
    now = datetime(2023, 7, 11, 21, 0, tzinfo=UTC)
    assert judged_at(timeline, now=now) == now


@pytest.mark.parametrize("path", TIMELINES, ids=lambda p: p.stem)
def test_issue6_no_message_carries_an_internal_counter(path, policy) -> None:
    result = evaluate(parse_timeline(path.read_bytes()), policy)
    for finding in result.findings:
        assert "occurrence" not in finding.message and "#" not in finding.message, finding.message
        assert finding.message.endswith("."), finding.message


def test_issue6_a_second_occurrence_says_what_started_it(policy) -> None:
    result = run(
        policy,
        [
            {
                "id": "g",
                "type": "risk_graded",
                "at": "2023-07-11T19:50:00+01:00",
                "by": "call_handler",
                "grade": "high",
            },
            {
                "id": "o",
                "type": "oversight_accepted",
                "at": "2023-07-11T20:10:00+01:00",
                "by": "cid_supervisor",
            },
            {
                "id": "d",
                "type": "risk_graded",
                "at": "2023-07-11T20:30:00+01:00",
                "by": "sergeant",
                "grade": "medium",
            },
        ],
        as_of="2023-07-12T01:00:00+01:00",
    )
    late = [f for f in result.findings if f.code == "INSPECTOR_OVERSIGHT_LATE"]
    assert [f.message for f in late] == [
        "The area inspector's acceptance of the medium-risk investigation after the grade was lowered to "
        "medium at 20:30 on 11 July 2023 (BST) was due by 22:30 on 11 July 2023 (BST) and has not been "
        "recorded; it is 2 hours 30 minutes overdue."
    ]
    assert late[0].evidence == ["d"]


def test_issue6_never_happened_says_what_ended_the_clock_and_cites_it(policy) -> None:
    result = run(
        policy,
        [{"id": "f", "type": "found", "at": "2023-07-11T22:00:00+01:00"}],
        as_of="2023-07-12T01:00:00+01:00",
    )
    s1 = next(f for f in result.findings if f.code == "INVESTIGATION_PLAN_LATE")
    assert s1.message == (
        "Assigning an investigation plan was due by 21:40 on 11 July 2023 (BST) and never happened "
        "before the child was found at 22:00 on 11 July 2023 (BST)."
    )
    assert s1.evidence == ["r", "f"]


def test_issue6_an_assumed_number_says_so(policy) -> None:
    result = run(policy, [], as_of="2023-07-11T21:00:00+01:00")
    g2 = next(f for f in result.findings if f.code == "INITIAL_GRADING_LATE")
    assert g2.basis == "assumed"
    assert g2.basis_note is not None and "initial_grading = 30 minutes" in g2.basis_note
    assert "assumed default" in g2.basis_note
    deadline = next(d for d in result.deadlines if d.id == "initial_grading")
    assert deadline.basis == "assumed"


def test_issue6_a_statutory_number_is_not_called_assumed(policy) -> None:
    result = run(
        policy,
        [{"id": "f", "type": "found", "at": "2023-07-11T22:00:00+01:00"}],
        as_of="2023-07-16T01:00:00+01:00",
    )
    f3 = next(f for f in result.findings if f.code == "RETURN_HOME_INTERVIEW_LATE")
    assert f3.basis == "statutory" and "assumed" not in (f3.basis_note or "")


def test_issue6_recommended_role_names_cid_for_an_under_graded_child(policy) -> None:
    result = run(
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


def test_issue6_recommended_role_absent_when_the_grade_is_right(policy) -> None:
    result = run(
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


def test_issue6_found_deceased_asks_for_no_interviews(policy) -> None:
    result = run(
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


def test_issue6_an_unknown_placement_or_outcome_is_refused() -> None:
    from misper.engine import InvalidTimeline

    body = report_timeline(
        [{"id": "f", "type": "found", "at": "2023-07-11T22:00:00+01:00", "outcome": "fine"}]
    )
    body["child"]["placement"] = "hostel"
    with pytest.raises(InvalidTimeline) as info:
        parse_timeline(json.dumps(body))
    assert {e.field for e in info.value.errors} == {"child.placement", "events[1].outcome"}


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
    result = evaluate(parse_timeline((FIXTURES / "timelines" / "case-study.json").read_bytes()), policy)
    assert result.mode == "complete" and result.next_change_at is None


def test_a_child_found_at_the_due_instant_leaves_the_duty_not_applicable(policy) -> None:
    """Settled reading (G6, O2, S1): not yet due when found is not applicable; a duty done at its
    due instant is in time, so one stopped at that instant was never late."""
    at_due = run(policy, [{"id": "f", "type": "found", "at": "2023-07-11T21:40:00+01:00"}])
    statuses = {d.id: d.status for d in at_due.deadlines}
    assert statuses["investigation_plan"] == statuses["inspector_oversight"] == "not_applicable"
    late = run(policy, [{"id": "f", "type": "found", "at": "2023-07-11T21:41:00+01:00"}])
    assert {d.id: d.status for d in late.deadlines}["investigation_plan"] == "breached"


def test_a_duty_done_at_the_instant_the_child_is_found_counts(policy) -> None:
    result = run(
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
    result = run(
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
