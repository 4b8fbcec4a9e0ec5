"""Regressions found reviewing issues 2 and 3, each named after what it broke."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import datetime

import pytest

from misper.engine import InvalidRequest, InvalidTimeline, evaluate, parse_timeline
from misper.engine.judging.simulate import simulate
from tests.api_support import make_api
from tests.conftest import FIXTURES, ROOT, report_timeline

CASE = (FIXTURES / "timelines" / "case-study.json").read_bytes()


def statuses(result) -> dict[str, str]:
    return {f"{d.id}#{d.occurrence}": d.status for d in result.deadlines}


def test_issue2_events_at_the_report_instant_listed_first_still_meet_deadlines(policy) -> None:
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


def test_issue2_an_event_before_the_report_is_refused() -> None:
    body = report_timeline([{"id": "f", "type": "found", "at": "2023-07-11T19:35:00+01:00"}])
    with pytest.raises(InvalidTimeline) as info:
        parse_timeline(json.dumps(body))
    assert [e.field for e in info.value.errors] == ["events[1].at"]


def test_issue2_report_count_names_the_original_positions() -> None:
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


def test_issue2_deeply_nested_json_is_a_field_error_not_a_crash() -> None:
    with pytest.raises(InvalidTimeline) as info:
        parse_timeline(b'{"incident_id":"I","zz":' + b"[" * 100_000)
    assert info.value.errors[0].field == "body"


def test_issue2_a_dict_holding_non_json_values_is_refused() -> None:
    with pytest.raises(InvalidTimeline) as info:
        parse_timeline({"incident_id": "I", "as_of": datetime(2023, 1, 1)})
    assert info.value.errors[0].field == "body"


def test_issue2_as_of_whose_offset_overflows_is_refused(policy) -> None:
    timeline = parse_timeline(CASE)
    with pytest.raises(InvalidTimeline) as info:
        evaluate(timeline, policy, datetime.fromisoformat("9999-12-31T23:59:59-23:59"))
    assert [e.as_dict() for e in info.value.errors] == [
        {"field": "as_of", "message": "must be between 1970-01-01 and 2999-12-31"}
    ]
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "misper.api.cli",
            "evaluate",
            "fixtures/timelines/case-study.json",
            "--as-of",
            "9999-12-31T23:59:59-23:59",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and '"field": "--as-of"' in run.stderr


def test_issue2_duplicate_previous_episodes_count_once(policy) -> None:
    body = report_timeline([], as_of="2023-07-11T20:00:00+01:00")
    episode = {"reported_at": "2023-07-01T18:05:00+01:00", "recorded_on": "compact"}
    body["child"]["previous_episodes"] = [episode] * 4
    assert evaluate(parse_timeline(json.dumps(body)), policy).repeat_missing.episodes_in_window == 2
    body["child"]["previous_episodes"] = [episode, dict(episode, recorded_on="child_risk_assessment_form")]
    with pytest.raises(InvalidTimeline) as info:
        parse_timeline(json.dumps(body))
    assert info.value.errors[0].field == "child.previous_episodes[1]"


def test_issue2_periodic_reviews_are_never_truncated(policy) -> None:
    """600 reviews every two hours, then none for a day: the last clock is still judged."""
    reviews = [
        {
            "id": f"v{i}",
            "type": "supervisor_review",
            "by": "sergeant",
            "at": datetime.fromtimestamp(1689100800 + 6 * 3600 + i * 7200).astimezone().isoformat(),
        }
        for i in range(600)
    ]
    body = report_timeline(
        [
            {
                "id": "g",
                "type": "risk_graded",
                "at": "2023-07-11T19:45:00+01:00",
                "by": "call_handler",
                "grade": "high",
            },
            *reviews,
        ]
    )
    last = datetime.fromisoformat(reviews[-1]["at"]).timestamp()
    body["as_of"] = datetime.fromtimestamp(last + 86400).astimezone().isoformat()
    result = evaluate(parse_timeline(json.dumps(body)), policy)
    periodic = [d for d in result.deadlines if d.id == "periodic_review"]
    assert len(periodic) == 601 and periodic[-1].status == "breached"


def test_issue3_a_long_simulation_comes_in_pages_never_cut_short(policy) -> None:
    """Issue 7: a long simulation is not refused nor truncated; it comes in pages of bounded
    work, and the pages together are every step, with new findings counted across pages."""
    from misper.engine.judging.simulate import PAGE_WORK, plan

    notes = [
        {
            "id": f"n{i}",
            "type": "note",
            "by": "sergeant",
            "text": "update",
            "at": datetime.fromtimestamp(1689100800 + 60 * i).astimezone().isoformat(),
        }
        for i in range(1, 600)
    ]
    timeline = parse_timeline(json.dumps(report_timeline(notes)))
    planned = plan(timeline, policy)
    first = simulate(timeline, policy)
    assert first.page == 1 and first.pages == len(planned.pages) > 1
    pages = [first] + [simulate(timeline, policy, page=n) for n in range(2, first.pages + 1)]
    assert sum(len(p.steps) for p in pages) == len(planned.instants)
    assert [s.at for p in pages for s in p.steps] == sorted({s.at for p in pages for s in p.steps})
    events_before = sorted(
        int(datetime.fromisoformat(e["at"]).timestamp())
        for e in [*notes, {"at": "2023-07-11T19:40:00+01:00"}]
    )
    for p in pages:  # each page's work within the bound (a page of one step may exceed it)
        work = sum(
            sum(1 for t in events_before if t <= int(datetime.fromisoformat(s.at).timestamp()))
            for s in p.steps
        )
        assert work <= PAGE_WORK or len(p.steps) == 1
    # A finding is new once: never again on a later page while it holds.
    news = [(f.rule, tuple(f.evidence), f.severity) for p in pages for s in p.steps for f in s.new_findings]
    assert len(news) == len(set(news))
    with pytest.raises(InvalidRequest) as info:
        simulate(timeline, policy, page=first.pages + 1)
    assert info.value.errors[0].field == "page"


def broken_job(*args, **kwargs):
    """A job for the worker process that fails the way an unforeseen bug would."""
    raise ValueError("child C-58213 aged 13")


def test_issue3_an_unexpected_error_is_a_500_problem_and_logs_no_child_data(tmp_path, monkeypatch) -> None:
    import misper.api.http.routes.evaluations as route

    monkeypatch.setattr(route, "evaluation_json", broken_job)  # raised in the worker process
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage() + str(record.exc_info))  # type: ignore[method-assign]
    for name in ("misper.access", "uvicorn.error", ""):
        logging.getLogger(name).addHandler(handler)
    try:
        api = make_api(tmp_path)
        with api.client:
            response = api.client.post("/v1/evaluations", content=CASE, headers=api.auth())
    finally:
        for name in ("misper.access", "uvicorn.error", ""):
            logging.getLogger(name).removeHandler(handler)
    assert response.status_code == 500 and response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Internal error"
    assert len(lines) == 1 and json.loads(lines[0].removesuffix("None"))["error"] == "ValueError"
    assert "C-58213" not in "".join(lines)


def test_issue3_a_query_instant_whose_offset_overflows_is_422(tmp_path) -> None:
    api = make_api(tmp_path)
    with api.client:
        response = api.client.post(
            "/v1/evaluations", content=CASE, headers=api.auth(), params={"as_of": "9999-12-31T23:59:59-23:59"}
        )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "query.as_of", "message": "must be between 1970-01-01 and 2999-12-31"}
    ]
