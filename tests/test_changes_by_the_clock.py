"""next_change_at is the earliest instant after as_of at which the evaluation's deadline statuses,
finding codes, severities or evidence change by the clock alone (the events known at as_of, judged
later): nothing changes strictly before it, something changes at it, and nothing ever changes when
it is null. Stepped through the fixtures, the case study and generated live timelines, and checked
for rules a force adds that compare as_of with an instant."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from misper.engine import evaluate, load_policy, parse_timeline
from tests.support.generated import POLICY, SETTINGS, timelines
from tests.support.paths import FIXTURES
from tests.support.policies import SHIPPED_POLICY, edit
from tests.support.timelines import report_timeline

NEVER = (timedelta(days=1), timedelta(days=4), timedelta(days=40))


def known_at(body: dict[str, Any], as_of: str) -> dict[str, Any]:
    """The live timeline as a control room holds it at as_of: the events up to it, no closing."""
    moment = datetime.fromisoformat(as_of)
    events = [
        e for e in body["events"] if datetime.fromisoformat(e["at"]) <= moment and e["type"] != "closed"
    ]
    return dict(body, events=events, as_of=as_of, mode="live")


def watched(result) -> tuple[Any, ...]:
    return (
        [(d.id, d.occurrence, d.status) for d in result.deadlines],
        sorted((f.code, f.clause, f.severity, f.rule, tuple(f.evidence)) for f in result.findings),
    )


def check_next_change(body: dict[str, Any], policy=POLICY) -> datetime | None:
    """Assert the property for this live timeline; the next change's instant, if any."""
    timeline = parse_timeline(json.dumps(body))
    first = evaluate(timeline, policy)
    now = datetime.fromisoformat(first.as_of)

    def at(moment: datetime) -> tuple[Any, ...]:
        return watched(evaluate(timeline, policy, moment))

    before = watched(first)
    if first.next_change_at is None:
        for later in NEVER:
            assert at(now + later) == before, f"changed by {now + later} with next_change_at null"
        return None
    change = datetime.fromisoformat(first.next_change_at)
    assert change > now
    gap = change - now
    for moment in {now + timedelta(seconds=1), now + gap / 3, now + gap / 2, change - timedelta(seconds=1)}:
        moment = moment.replace(microsecond=0)
        if now < moment < change:
            assert at(moment) == before, f"changed at {moment}, before next_change_at {change}"
    assert at(change) != before, f"nothing changed at next_change_at {change}"
    return change


def fixture_bodies() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted((FIXTURES / "timelines").glob("*.json")):
        body = json.loads(path.read_text())
        if body.get("policy", "suffolk-2023-02") == "suffolk-2023-02":
            out.append((path.stem, body))
    return out


@pytest.mark.slow
@pytest.mark.parametrize(("name", "body"), fixture_bodies(), ids=[n for n, _ in fixture_bodies()])
def test_each_fixture_stepped_event_by_event_changes_only_at_next_change_at(name, body) -> None:
    instants = sorted({e["at"] for e in body["events"]}, key=datetime.fromisoformat)
    for as_of in instants:
        live = known_at(body, as_of)
        if not live["events"]:
            continue
        # Step along the clock from each event: from as_of to its next change, three times.
        for _ in range(3):
            change = check_next_change(live)
            if change is None:
                break
            live = dict(live, as_of=change.isoformat())


def test_the_case_study_cut_after_eight_events_changes_when_its_high_period_enters_the_gap() -> None:
    """The case study's child, graded high at 07:40 on 12 July and still missing, enters C3's
    overnight gap in intelligence cover at 02:00 each night: each night adds a finding."""
    body = json.loads((FIXTURES / "timelines" / "case-study.json").read_text())
    events = sorted(body["events"], key=lambda e: datetime.fromisoformat(e["at"]))[:8]
    live = known_at(dict(body, events=events), "2023-07-12T20:00:00+01:00")
    change = check_next_change(live)
    assert change == datetime.fromisoformat("2023-07-13T02:00:00+01:00")
    after = evaluate(parse_timeline(json.dumps(dict(live, as_of="2023-07-13T02:00:00+01:00"))), POLICY)
    gaps = [f for f in after.findings if f.rule == "C3.high-risk-period-in-intelligence-gap"]
    assert [f.at for f in gaps] == ["2023-07-13T02:00:00+01:00"]
    # Still high and missing the next night: stepped from change to change, the next night's
    # entry is one of them (a review falls due at 01:40 first).
    later, changes = dict(live, as_of="2023-07-13T12:00:00+01:00"), []
    while not changes or changes[-1] < datetime.fromisoformat("2023-07-14T02:00:00+01:00"):
        changes.append(check_next_change(later))
        later = dict(later, as_of=changes[-1].isoformat())
    assert changes[-2:] == [
        datetime.fromisoformat(t) for t in ("2023-07-14T01:40:00+01:00", "2023-07-14T02:00:00+01:00")
    ]


@SETTINGS
@given(timelines(), st.integers(0, 3))
def test_a_generated_live_timeline_changes_only_at_next_change_at(body, steps) -> None:
    live = known_at(body, body["as_of"]) if body["events"] else body
    if not any(e["type"] == "report_received" for e in live["events"]):
        return
    for _ in range(steps + 1):
        change = check_next_change(live)
        if change is None:
            return
        live = dict(live, as_of=change.isoformat())


GRADED_HIGH = {
    "id": "g",
    "type": "risk_graded",
    "at": "2023-07-11T21:40:00+01:00",
    "by": "call_handler",
    "grade": "high",
}


def _policy_with_clock_rule(tmp_path: Path, condition: dict[str, Any], fires: int) -> Any:
    folder = tmp_path / "suffolk-2023-02"
    folder.mkdir()
    for path in SHIPPED_POLICY.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())

    def add(data: dict[str, Any]) -> None:
        data["rules"].append(
            {
                "id": "X1.graded-high-two-hours-ago",
                "clause": "G1",
                "code": "UNDER_GRADED",
                "severity": "action",
                "when": {"graded": {"fact": "event", "type": "risk_graded", "grade": "high"}, **condition},
                "message": "Graded high at {graded.at_text} and nothing since.",
                "evidence": ["graded"],
                "tests": [
                    {
                        "id": "graded-high-an-hour-before",
                        "as_of": "+3h",
                        "expect_fires": fires,
                        "events": [
                            {"type": "risk_graded", "at": "+2h", "by": "call_handler", "grade": "high"}
                        ],
                    }
                ],
            }
        )

    edit(folder, "grading.yaml", add)
    return load_policy(folder)


@pytest.mark.parametrize(
    ("condition", "fires", "expected"),
    [
        ({"now": {"fact": "incident", "as_of": {"gte": "$graded.at + initial_grading"}}}, 1, "22:10:00"),
        ({"now": {"fact": "incident", "as_of": {"gt": "$graded.at + initial_grading"}}}, 1, "22:10:01"),
        ({"now": {"fact": "incident", "as_of": {"lte": "$graded.at + initial_grading"}}}, 0, "22:10:01"),
        # The other way round: the event's instant compared with as_of less a duration.
        (
            {
                "now": {"fact": "incident"},
                "seen": {"fact": "grading", "grade": "high", "at": {"lte": "$now.as_of - initial_grading"}},
            },
            1,
            "22:10:00",
        ),
        (
            {
                "now": {"fact": "incident"},
                "seen": {"fact": "grading", "grade": "high", "at": {"lt": "$now.as_of - initial_grading"}},
            },
            1,
            "22:10:01",
        ),
    ],
    ids=["as_of-gte", "as_of-gt", "as_of-lte", "at-lte-as_of", "at-lt-as_of"],
)
def test_a_rule_a_force_adds_comparing_as_of_with_an_instant_sets_next_change_at(
    tmp_path, condition, fires, expected
) -> None:
    """A rule whose answer turns with the clock (graded high, then 30 minutes on) moves
    next_change_at to the exact second its comparison turns, whichever way it is written."""
    policy = _policy_with_clock_rule(tmp_path, condition, fires)
    body = report_timeline([GRADED_HIGH], as_of="2023-07-11T21:45:00+01:00", mode="live")
    body["events"].append(
        {"id": "c", "type": "intelligence_checks", "at": "2023-07-11T19:45:00+01:00", "by": "call_handler"}
    )
    change = check_next_change(body, policy)
    assert change == datetime.fromisoformat(f"2023-07-11T{expected}+01:00")


def test_a_rule_clock_that_changes_nothing_does_not_set_next_change_at(tmp_path) -> None:
    """A clock on a rule whose other conditions do not hold turns nothing: next_change_at is the
    deadlines' next change, not the clock's instant."""
    policy = _policy_with_clock_rule(
        tmp_path,
        {"now": {"fact": "incident", "as_of": {"gte": "$graded.at + initial_grading"}, "mode": "complete"}},
        0,
    )
    body = report_timeline([GRADED_HIGH], as_of="2023-07-11T21:45:00+01:00", mode="live")
    change = check_next_change(body, policy)
    assert change is not None and change != datetime.fromisoformat("2023-07-11T22:10:00+01:00")
