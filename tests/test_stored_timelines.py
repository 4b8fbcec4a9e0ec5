"""A stored incident's timeline put together from remembered parsed events is the timeline the
whole text parses to, and is refused with the same errors when it is not valid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from misper.api.incidents.store import Profile, as_json
from misper.api.incidents.timelines import ParsedEvents, assemble_text, stored_timeline
from misper.engine.clock.context import order_events
from misper.engine.contract.parse import parse_timeline
from misper.engine.errors import InvalidTimeline
from tests.support.paths import ROOT

FIXTURES = sorted((ROOT / "fixtures" / "timelines").glob("*.json"))


def _stored(body: dict[str, Any]) -> tuple[Profile, list[str]]:
    return Profile(body["child"], body.get("policy")), [as_json(e) for e in body["events"]]


def _both(incident: str, profile: Profile, stored: list[str], added: list[dict[str, Any]]) -> tuple[Any, Any]:
    """What stored_timeline gives and what parsing the whole assembled text gives (a timeline or
    the refusal's errors)."""

    def outcome(make: Any) -> Any:
        try:
            return make()
        except InvalidTimeline as exc:
            return [e.as_dict() for e in exc.errors]

    text, _ = assemble_text(incident, profile, stored, added, [])
    return (
        outcome(lambda: stored_timeline(incident, profile, stored, added, [])[0]),
        outcome(lambda: parse_timeline(text, keys_checked=True)),
    )


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_a_stored_fixture_gives_the_timeline_its_text_parses_to(path: Path) -> None:
    body = json.loads(path.read_text())  # its as_of, mode and force are the caller's, not stored
    profile, stored = _stored(body)
    mine, whole = _both(body["incident_id"], profile, stored[:-1], [json.loads(stored[-1])])
    assert mine == whole
    assert mine.model_dump_json() == whole.model_dump_json()
    # The events in time order, from the rows kept with them, are those the engine would order.
    made = stored_timeline(body["incident_id"], profile, stored[:-1], [json.loads(stored[-1])], [])
    assert made.ordered is None or made.ordered == order_events(whole)


def _case_study() -> tuple[Profile, list[str]]:
    return _stored(json.loads((ROOT / "fixtures" / "timelines" / "case-study.json").read_text()))


@pytest.mark.parametrize(
    "added",
    [
        {"id": "early", "type": "note", "at": "2020-01-01T00:00:00+00:00", "by": "sergeant", "text": "x"},
        {
            "id": "fix",
            "type": "note",
            "at": "2023-07-12T09:00:00+01:00",
            "by": "sergeant",
            "text": "x",
            "corrects": "nothing",
        },
        {"id": "r2", "type": "report_received", "at": "2023-07-12T09:00:00+01:00", "by": "call_handler"},
    ],
    ids=["before-the-report", "corrects-nothing", "second-report"],
)
def test_a_timeline_the_events_make_invalid_is_refused_with_the_same_errors(added: dict[str, Any]) -> None:
    profile, stored = _case_study()
    mine, whole = _both("SF-1", profile, stored, [added])
    assert isinstance(whole, list) and whole  # refused
    assert mine == whole


def test_a_correction_and_a_repeat_give_the_view_the_text_gives() -> None:
    profile, stored = _case_study()
    first = json.loads(stored[1])
    corrected = {**first, "id": "fixed", "corrects": first["id"], "at": first["at"]}
    mine, whole = _both("SF-1", profile, stored, [corrected])
    assert not isinstance(whole, list)
    assert mine.model_dump_json() == whole.model_dump_json()
    assert [e.id for e in mine.events] == [e.id for e in whole.events]
    assert stored_timeline("SF-1", profile, stored, [corrected], []).ordered is None  # worked out anew


def test_a_profile_the_contract_refuses_is_refused_with_the_same_errors() -> None:
    profile, stored = _case_study()
    odd = Profile({**profile.child, "age_years": 40}, None)
    mine, whole = _both("SF-1", odd, stored, [])
    assert isinstance(whole, list) and mine == whole


def test_the_remembered_events_stay_within_their_budget_and_forget_the_oldest() -> None:
    _, stored = _case_study()
    budget = sum(map(len, stored[:3]))
    memo = ParsedEvents(budget)
    for text in stored:
        memo.parsed(text)
        assert memo.held <= budget
    assert 0 < len(memo) <= 3
    assert memo.parsed(stored[-1]) is memo.parsed(stored[-1])  # the latest is still there
    first = memo.parsed(stored[0])  # forgotten, parsed again
    assert first == parse_timeline(_whole(stored)).events[0]


def _whole(stored: list[str]) -> str:
    body = json.loads((ROOT / "fixtures" / "timelines" / "case-study.json").read_text())
    return json.dumps({**body, "events": [json.loads(t) for t in stored]})
