"""Contract v1's `corrects` (added 2026-11-23): a correction replaces the event it names in the
evaluated view; the history keeps both; a bad correction is refused naming the field."""

from __future__ import annotations

import json

import pytest

from misper.engine import InvalidTimeline, evaluate, parse_timeline
from tests.support.timelines import report_timeline

GRADED = {
    "id": "g",
    "type": "risk_graded",
    "at": "2023-07-11T20:05:00+01:00",
    "by": "call_handler",
    "grade": "low",
}


def errors(events: list[dict]) -> dict[str, str]:
    with pytest.raises(InvalidTimeline) as info:
        parse_timeline(json.dumps(report_timeline(events)))
    return {e.field: e.message for e in info.value.errors}


def test_a_correction_replaces_the_event_it_names(policy) -> None:
    fixed = {**GRADED, "id": "g2", "grade": "medium", "at": "2023-07-11T20:09:00+01:00", "corrects": "g"}
    body = report_timeline([GRADED, fixed], as_of="2023-07-11T21:00:00+01:00")
    timeline = parse_timeline(json.dumps(body))
    assert [e.id for e in timeline.events] == ["r", "g2"]
    result = evaluate(timeline, policy)
    assert result.grade.current == "medium"
    assert "GRADE_NOT_ALLOWED" not in {f.code for f in result.findings}
    grading = next(d for d in result.deadlines if d.id == "initial_grading")
    assert (grading.status, grading.met_by) == ("met", "g2")
    # The same result as a timeline that never had the mistake.
    clean = report_timeline([{**fixed, "corrects": None}], as_of="2023-07-11T21:00:00+01:00")
    clean["events"][1].pop("corrects")
    assert evaluate(parse_timeline(json.dumps(clean)), policy).findings == result.findings


def test_a_corrected_report_time() -> None:
    body = report_timeline(
        [{"id": "r2", "type": "report_received", "at": "2023-07-11T19:30:00+01:00", "corrects": "r"}]
    )
    timeline = parse_timeline(json.dumps(body))
    assert timeline.report().id == "r2" and timeline.report().at.minute == 30


def test_a_chain_of_corrections_keeps_the_last() -> None:
    second = {**GRADED, "id": "g2", "grade": "medium", "corrects": "g"}
    third = {**GRADED, "id": "g3", "grade": "high", "corrects": "g2"}
    timeline = parse_timeline(json.dumps(report_timeline([third, GRADED, second])))
    assert [e.id for e in timeline.events if e.type == "risk_graded"] == ["g3"]


@pytest.mark.parametrize(
    ("correction", "field", "message"),
    [
        ({"corrects": "nope"}, "events[2].corrects", "'nope' names no event of this incident"),
        ({"id": "g2", "corrects": "g2"}, "events[2].corrects", "an event cannot correct itself"),
        (
            {"type": "note", "text": "x", "corrects": "g"},
            "events[2].corrects",
            "'g' is a risk_graded event; a correction keeps the type of the event it corrects (note)",
        ),
    ],
)
def test_a_bad_correction_is_refused(correction, field, message) -> None:
    event = {**GRADED, "id": "g2", **correction}
    if event["type"] == "note":
        event.pop("grade")
    assert errors([GRADED, event])[field] == message


def test_one_event_is_corrected_once_and_never_in_a_circle() -> None:
    one = {**GRADED, "id": "a", "corrects": "g"}
    two = {**GRADED, "id": "b", "corrects": "g"}
    assert (
        errors([GRADED, one, two])["events[3].corrects"]
        == "'g' is already corrected by events[2]; correct that one"
    )
    loop = [{**GRADED, "id": "a", "corrects": "b"}, {**GRADED, "id": "b", "corrects": "a"}]
    assert errors(loop) == {"events[2].corrects": "corrections go round in a circle"}
