"""Simulations step through an incident in time order: only steps that show something, stopping
early, the state at one instant, text for a trainer, and long ones in pages of bounded work."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from misper.engine import InvalidRequest, parse_timeline
from misper.engine.judging.simulate import simulate
from tests.support.cli import misper
from tests.support.paths import FIXTURES
from tests.support.timelines import report_timeline

CASE = (FIXTURES / "timelines" / "case-study.json").read_bytes()


def _simulate(*args: str) -> dict:
    import json

    done = misper("simulate", "fixtures/timelines/case-study.json", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_simulation_steps_in_time_order(api) -> None:
    response = api.client.post("/v1/simulations", content=CASE, headers=api.auth("trainer"))
    assert response.status_code == 200
    steps = response.json()["steps"]
    instants = [s["at"] for s in steps]
    assert instants == sorted(instants, key=lambda t: __import__("datetime").datetime.fromisoformat(t))
    status = {
        s["at"]: next(d["status"] for d in s["deadlines"] if d["id"] == "initial_grading") for s in steps
    }
    assert status["2023-07-11T20:02:30+01:00"] == "due_soon"
    assert status["2023-07-11T20:10:00+01:00"] == "breached"
    assert all(v == "pending" for k, v in status.items() if k < "2023-07-11T20:02:30+01:00")
    breach_step = next(s for s in steps if s["at"] == "2023-07-11T20:10:00+01:00")
    assert "INITIAL_GRADING_LATE" in {f["code"] for f in breach_step["new_findings"]}


def test_simulation_until_stops_early(api) -> None:
    response = api.client.post(
        "/v1/simulations",
        content=CASE,
        headers=api.auth("trainer"),
        params={"until": "2023-07-11T21:00:00+01:00"},
    )
    steps = response.json()["steps"]
    assert steps[-1]["at"] <= "2023-07-11T21:00:00+01:00" and len(steps) == 6


@pytest.mark.cli
def test_a_simulation_keeps_only_steps_that_show_something() -> None:
    """Issue 11: a simulation keeps only steps that show something."""
    steps = _simulate()["steps"]
    previous = None
    for step in steps:
        state = (
            step["grade"],
            step["oversight"],
            [(d["id"], d["occurrence"], d["status"]) for d in step["deadlines"]],
        )
        assert step["events"] or step["new_findings"] or state != previous, step["at"]
        previous = state
        assert {f["rule"] for f in step["new_findings"]} <= {f["rule"] for f in step["findings"]}
        assert all(d["clause"] and d["duty"] and d["owner"] for d in step["deadlines"])
    found = next(s for s in steps if any(e["type"] == "found" for e in s["events"]))
    assert found["events"] == [
        {"id": "e09", "type": "found", "by": "frontline_officer", "grade": None, "text": None}
    ]
    earlier = {
        (f["rule"], f["evidence"][0])
        for s in steps[: steps.index(found)]
        for f in s["new_findings"]
        if f["severity"] == "breach"
    }
    # The child found adds evidence to old breaches ("never happened before the child was found"):
    # they are not reported again as new.
    assert not {(f["rule"], f["evidence"][0]) for f in found["new_findings"]} & earlier
    review = next(s for s in steps if any(e["id"] == "e07" for e in s["events"]))
    assert review["events"][0]["text"].startswith("It is not unusual behaviour")
    assert [f["code"] for f in review["new_findings"]] == ["CHILD_BLAMING_LANGUAGE"]


@pytest.mark.cli
def test_the_simulated_state_at_one_instant(api) -> None:
    """Issue 11: the simulated state at one instant."""
    body = _simulate("--at", "2023-07-12T07:40:00+01:00")
    (step,) = body["steps"]
    assert step["triggers"] == ["event:e08"] and step["grade"]["current"] == "high"
    assert step["new_findings"] == step["findings"] and len(step["findings"]) == 11
    import json

    case = json.loads(Path("fixtures/timelines/case-study.json").read_text())
    answer = api.client.post(
        "/v1/simulations?at=2023-07-12T07:40:00%2B01:00", json=case, headers=api.auth("trainer")
    )
    assert answer.status_code == 200 and answer.json()["steps"] == body["steps"]
    early = api.client.post(
        "/v1/simulations?at=2023-07-11T19:00:00%2B01:00", json=case, headers=api.auth("trainer")
    )
    assert early.status_code == 422 and early.json()["errors"][0]["field"] == "query.at"


@pytest.mark.cli
def test_a_simulation_as_text() -> None:
    """Issue 11: a simulation as text."""
    done = misper("simulate", "fixtures/timelines/case-study.json", "--format", "text")
    lines = done.stdout.splitlines()
    assert lines[0].startswith("Simulation SUF-23-004711  policy suffolk-2023-02")
    assert (
        "    inspector - supervisor review high: Raised to high risk: she has not returned home overnight."
        in lines
    )


@pytest.mark.slow
def test_a_long_simulation_comes_in_pages_never_cut_short(policy) -> None:
    """Issues 3 and 7: a long simulation is not refused nor truncated; it comes in pages of bounded
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
