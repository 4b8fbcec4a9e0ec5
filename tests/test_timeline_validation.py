"""Contract v1 input checks: every rejection names the field and says what would be accepted."""

from __future__ import annotations

import json

import pytest

from misper.engine import InvalidTimeline, parse_timeline
from tests.support.timelines import report_timeline


def errors_of(body) -> dict[str, str]:
    with pytest.raises(InvalidTimeline) as info:
        parse_timeline(json.dumps(body) if not isinstance(body, str) else body)
    return {e.field: e.message for e in info.value.errors}


def test_an_unknown_placement_or_outcome_is_refused() -> None:
    """Issue 6: an unknown placement or outcome is refused."""
    from misper.engine import InvalidTimeline

    body = report_timeline(
        [{"id": "f", "type": "found", "at": "2023-07-11T22:00:00+01:00", "outcome": "fine"}]
    )
    body["child"]["placement"] = "hostel"
    with pytest.raises(InvalidTimeline) as info:
        parse_timeline(json.dumps(body))
    assert {e.field for e in info.value.errors} == {"child.placement", "events[1].outcome"}


def test_an_event_before_the_report_is_refused() -> None:
    """Issue 2: an event before the report is refused."""
    body = report_timeline([{"id": "f", "type": "found", "at": "2023-07-11T19:35:00+01:00"}])
    with pytest.raises(InvalidTimeline) as info:
        parse_timeline(json.dumps(body))
    assert [e.field for e in info.value.errors] == ["events[1].at"]


def test_report_count_names_the_original_positions() -> None:
    """Issue 2: report count names the original positions."""
    note = {"id": "n", "type": "note", "at": "2023-07-11T20:00:00+01:00", "by": "sergeant", "text": "x"}
    body = report_timeline(
        [note, dict(note), {"id": "r2", "type": "report_received", "at": "2023-07-11T20:05:00+01:00"}]
    )
    with pytest.raises(InvalidTimeline) as info:
        parse_timeline(json.dumps(body))
    assert (
        info.value.errors[0].message
        == "must hold exactly one report_received event; found events[0], events[3]"
    )


def test_naive_timestamp_is_rejected_naming_the_field() -> None:
    body = report_timeline(
        [
            {
                "id": "g",
                "type": "risk_graded",
                "at": "2023-07-11T20:00:00",
                "by": "call_handler",
                "grade": "high",
            }
        ]
    )
    assert errors_of(body) == {
        "events[1].at": (
            "must carry a UTC offset, e.g. 2023-07-11T19:40:00+01:00: a local time without one is "
            "ambiguous around daylight-saving changes"
        )
    }


def test_unknown_risk_factor_lists_the_known_ones() -> None:
    body = report_timeline([])
    body["child"]["risk_factors"] = ["mental_health", "gang_links"]
    message = errors_of(body)["child.risk_factors[1]"]
    assert message.startswith("'gang_links' is not accepted; expected 'sexual_exploitation'")
    assert "'domestic_abuse_at_home'" in message


@pytest.mark.parametrize(
    ("event", "field", "start"),
    [
        pytest.param(
            {"id": "x", "type": "sighting", "at": "2023-07-11T20:00:00+01:00"},
            "events[1].type",
            "'sighting' is not an event type; known event types: report_received",
            id="unknown-event-type",
        ),
        pytest.param(
            {
                "id": "x",
                "type": "risk_graded",
                "at": "2023-07-11T20:00:00+01:00",
                "by": "janitor",
                "grade": "high",
            },
            "events[1].by",
            "'janitor' is not accepted; expected 'call_handler'",
            id="unknown-role",
        ),
        pytest.param(
            {
                "id": "x",
                "type": "risk_graded",
                "at": "2023-07-11T20:00:00+01:00",
                "by": "call_handler",
                "grade": "absent",
            },
            "events[1].grade",
            "'absent' is not accepted; expected 'high'",
            id="unknown-grade",
        ),
        pytest.param(
            {"id": "x", "type": "found", "at": "2023-07-11T20:00:00+01:00", "where": "park"},
            "events[1].where",
            "is not a field of contract v1 here; accepted fields: id, at, corrects, by, type, location",
            id="unknown-field",
        ),
        pytest.param(
            {"id": "x", "type": "risk_graded", "at": "2023-07-11T20:00:00+01:00", "by": "call_handler"},
            "events[1].grade",
            "is required",
            id="missing-grade",
        ),
    ],
)
def test_bad_event_names_its_field(event, field, start) -> None:
    assert errors_of(report_timeline([event]))[field].startswith(start)


def test_identical_duplicate_is_dropped() -> None:
    found = {"id": "f", "type": "found", "at": "2023-07-11T21:00:00+01:00"}
    timeline = parse_timeline(json.dumps(report_timeline([found, dict(found)])))
    assert [e.id for e in timeline.events] == ["r", "f"]


def test_conflicting_duplicate_is_rejected() -> None:
    body = report_timeline(
        [
            {"id": "f", "type": "found", "at": "2023-07-11T21:00:00+01:00"},
            {"id": "f", "type": "found", "at": "2023-07-11T21:05:00+01:00"},
        ]
    )
    assert errors_of(body) == {
        "events[2].id": (
            "'f' is already used by events[1] with different content; an event sent twice must be identical"
        )
    }


@pytest.mark.parametrize("reports", [0, 2], ids=["no-report", "two-reports"])
def test_exactly_one_report(reports) -> None:
    body = report_timeline([])
    body["events"] = [
        {"id": f"r{i}", "type": "report_received", "at": "2023-07-11T19:40:00+01:00"} for i in range(reports)
    ] or [{"id": "f", "type": "found", "at": "2023-07-11T19:40:00+01:00"}]
    assert errors_of(body)["events"].startswith("must hold exactly one report_received event")


def test_as_of_before_the_report_is_rejected() -> None:
    body = report_timeline([], as_of="2023-07-11T19:00:00+01:00")
    assert errors_of(body)["as_of"].startswith("is before the report was received")


def test_age_must_be_a_child() -> None:
    body = report_timeline([])
    body["child"]["age_years"] = 18
    assert "less than or equal to 17" in errors_of(body)["child.age_years"]


def test_strings_are_not_coerced_to_numbers_or_booleans() -> None:
    body = report_timeline([])
    body["child"].update(age_years="13", looked_after="yes")
    assert set(errors_of(body)) == {"child.age_years", "child.looked_after"}


def test_invalid_json_is_named() -> None:
    assert errors_of('{"incident_id": ')["body"].startswith("is not valid JSON")


@pytest.mark.parametrize(
    "moment", ["0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-05:00", "1969-12-31T23:59:00+00:00"]
)
def test_instants_outside_any_incident_are_refused(moment) -> None:
    body = report_timeline([])
    body["events"][0]["at"] = moment
    assert errors_of(body) == {"events[0].at": "must be between 1970-01-01 and 2999-12-31"}


def test_a_strategy_discussion_may_be_marked_as_the_complex_meeting_and_nothing_else() -> None:
    """Contract v1 (added 2026-12-05): strategy_discussion.meeting is discussion or complex."""
    marked = {"id": "s", "type": "strategy_discussion", "at": "2023-07-12T20:00:00+01:00", "by": "mash"}
    timeline = parse_timeline(json.dumps(report_timeline([{**marked, "meeting": "complex"}])))
    assert timeline.events[1].meeting == "complex"
    with pytest.raises(InvalidTimeline) as refused:
        parse_timeline(json.dumps(report_timeline([{**marked, "meeting": "emergency"}])))
    assert [e.field for e in refused.value.errors] == ["events[1].meeting"]


def test_an_allocation_may_name_the_investigation_or_the_prevention_interview_and_nothing_else() -> None:
    """Contract v1 (added 2026-12-05): officer_allocated.task is investigation (absent: the
    investigation) or prevention_interview."""
    allocated = {"id": "a", "type": "officer_allocated", "at": "2023-07-12T20:00:00+01:00", "by": "sergeant"}
    timeline = parse_timeline(json.dumps(report_timeline([{**allocated, "task": "prevention_interview"}])))
    assert timeline.events[1].task == "prevention_interview"
    with pytest.raises(InvalidTimeline) as refused:
        parse_timeline(json.dumps(report_timeline([{**allocated, "task": "search"}])))
    assert [e.field for e in refused.value.errors] == ["events[1].task"]
