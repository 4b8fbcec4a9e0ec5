"""Findings an inspector can paste: plain sentences with no internal counters, saying what started
and what ended each clock, and whether a number is stated, statutory or assumed."""

from __future__ import annotations

import pytest

from misper.engine import evaluate, parse_timeline
from tests.support.paths import FIXTURES
from tests.support.timelines import evaluate_report

TIMELINES = sorted((FIXTURES / "timelines").glob("*.json"))


@pytest.mark.parametrize("path", TIMELINES, ids=lambda p: p.stem)
def test_no_message_carries_an_internal_counter(path, policy) -> None:
    """Issue 6: no message carries an internal counter."""
    result = evaluate(parse_timeline(path.read_bytes()), policy)
    for finding in result.findings:
        assert "occurrence" not in finding.message and "#" not in finding.message, finding.message
        assert finding.message.endswith("."), finding.message


def test_a_second_occurrence_says_what_started_it(policy) -> None:
    """Issue 6: a second occurrence says what started it."""
    result = evaluate_report(
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


def test_never_happened_says_what_ended_the_clock_and_cites_it(policy) -> None:
    """Issue 6: never happened says what ended the clock and cites it."""
    result = evaluate_report(
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


def test_an_assumed_number_says_so(policy) -> None:
    """Issue 6: an assumed number says so."""
    result = evaluate_report(policy, [], as_of="2023-07-11T21:00:00+01:00")
    g2 = next(f for f in result.findings if f.code == "INITIAL_GRADING_LATE")
    assert g2.basis == "assumed"
    assert g2.basis_note is not None and "initial_grading = 30 minutes" in g2.basis_note
    assert "assumed default" in g2.basis_note
    deadline = next(d for d in result.deadlines if d.id == "initial_grading")
    assert deadline.basis == "assumed"


def test_a_statutory_number_is_not_called_assumed(policy) -> None:
    """Issue 6: a statutory number is not called assumed."""
    result = evaluate_report(
        policy,
        [{"id": "f", "type": "found", "at": "2023-07-11T22:00:00+01:00"}],
        as_of="2023-07-16T01:00:00+01:00",
    )
    f3 = next(f for f in result.findings if f.code == "RETURN_HOME_INTERVIEW_LATE")
    assert f3.basis == "statutory" and "assumed" not in (f3.basis_note or "")


def test_a_duty_judged_at_its_due_instant_is_due_now_never_less_than_a_minute_overdue(policy) -> None:
    """Settled reading (2026-12-05): at the due instant with nothing done, 'is due now'; a
    minute later, overdue."""

    def grading_message(as_of: str) -> str:
        result = evaluate_report(policy, [], as_of=as_of)
        return next(f.message for f in result.findings if f.rule == "G2.initial_grading:late")

    now = grading_message("2023-07-11T20:10:00+01:00")
    assert now == (
        "The control room's initial risk grading is due now (20:10 on 11 July 2023 (BST)) "
        "and has not been recorded."
    )
    assert "1 minute overdue" in grading_message("2023-07-11T20:11:00+01:00")


def test_a_quote_with_line_breaks_and_tabs_reads_as_one_line(policy) -> None:
    review = {
        "id": "v",
        "type": "supervisor_review",
        "at": "2023-07-11T21:00:00+01:00",
        "by": "sergeant",
        "text": "Spoke to mum.\n\tShe says the girl\n  always returns\tin the end.",
    }
    result = evaluate_report(policy, [review], as_of="2023-07-11T21:30:00+01:00")
    quoted = next(f.message for f in result.findings if f.code == "CHILD_BLAMING_LANGUAGE")
    assert "She says the girl always returns in the end" in quoted
    assert "\n" not in quoted and "\t" not in quoted and "  " not in quoted


def test_a_clock_ended_by_a_regrade_says_raised_or_lowered_and_to_what(policy) -> None:
    """The inspector's oversight of a medium-risk child, overdue, then the grade raised to high:
    its clock ended by the regrade, which the sentence names as such."""
    events = [
        {
            "id": "g",
            "type": "risk_graded",
            "at": "2023-07-11T19:50:00+01:00",
            "by": "call_handler",
            "grade": "medium",
        },
        {
            "id": "h",
            "type": "risk_graded",
            "at": "2023-07-12T02:00:00+01:00",
            "by": "sergeant",
            "grade": "high",
        },
    ]
    result = evaluate_report(policy, events, as_of="2023-07-12T03:00:00+01:00")
    oversight = next(f for f in result.findings if f.rule == "O2.inspector_oversight:late")
    assert (
        "never happened before the grade was raised to high at 02:00 on 12 July 2023 (BST)"
        in oversight.message
    )


def test_two_instants_across_a_clock_change_say_the_clocks_changed(policy) -> None:
    body = (FIXTURES / "timelines" / "autumn-back-cid-late.json").read_text()
    result = evaluate(parse_timeline(body), policy)
    late = next(f.message for f in result.findings if f.code == "CID_OVERSIGHT_LATE")
    assert "01:45 on 29 October 2023 (GMT), 55 minutes (the clocks went back 1 hour between them)" in late


def test_an_indicator_names_the_childs_own_value_and_the_threshold(policy) -> None:
    graded = {
        "id": "g",
        "type": "risk_graded",
        "at": "2023-07-11T19:50:00+01:00",
        "by": "call_handler",
        "grade": "medium",
    }
    result = evaluate_report(policy, [graded], child={"child_id": "C", "age_years": 10})
    assert "the child is 10, under the high-risk age of 12: a high-risk indicator" in result.grade.reasons
