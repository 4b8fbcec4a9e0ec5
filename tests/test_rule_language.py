"""The rules' when language: absence, time arithmetic, parameters and several comparisons are
checked at load and compiled to durable-rules conditions that join event facts, whatever order the
facts arrive in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from misper.engine import evaluate, parse_timeline
from misper.engine.policy.facts_schema import FACT_FIELDS
from tests.support.cli import misper
from tests.support.policies import edit, problems
from tests.support.timelines import report_timeline

WHERE = "suffolk-2023-02/looked_after.yaml: rule L1.philomena-profile-missing"


def set_when(folder: Path, when: dict, **more: object) -> None:
    edit(folder, "looked_after.yaml", lambda d: d["rules"][0].update(when=when, **more))


def test_compiled_rules_join_event_facts_not_booleans_made_for_them(policy) -> None:
    """Issue 8: compiled rules join event facts not booleans made for them."""
    checks = policy.ruleset["C3.gap-without-checks-live"]["all"]
    assert [next(iter(c)) for c in checks] == ["gap", "incident", "__end", "checks$not"]
    assert checks[3]["checks$not"]["$and"][:2] == [{"kind": "event"}, {"type": "intelligence_checks"}]
    report = policy.ruleset["C3.report-in-intelligence-gap"]["all"][0]["report"]["$and"]
    assert {"$gte": {"local_time": 120}} in report
    # The booleans once made for single rules are gone from the facts.
    assert "required" not in FACT_FIELDS["repeat"] and "checks_recorded" not in FACT_FIELDS["intel_gap"]
    assert "episode" not in FACT_FIELDS and set(FACT_FIELDS["incident"]) == {"mode", "as_of", "report_at"}
    r1 = policy.ruleset["R1.response-plan-required"]["all"][0]["repeat"]["$and"]
    assert {"$gte": {"episodes_in_window": 3}} in r1


@pytest.mark.cli
def test_the_compiled_ruleset_can_be_read_from_the_command_line() -> None:
    """Issue 8: the compiled ruleset can be read from the command line."""
    done = misper("rules", "compiled", "suffolk-2023-02")
    assert done.returncode == 0, done.stderr
    compiled = json.loads(done.stdout)
    assert "checks$not" in json.dumps(compiled["rules"]["C3.gap-without-checks"]["durable"])
    # Each parameter written into a condition is named beside its value.
    written = compiled["rules"]["C3.report-in-intelligence-gap"]["parameters"]
    assert {"where", "parameter", "value"} <= set(written[0])
    # Deadlines: what starts, meets and stops each, and the parameter of each interval.
    grading = next(d for d in compiled["deadlines"] if d["id"] == "initial_grading")
    assert grading["starts"] == [{"event": "report_received"}]
    assert grading["due_after"] == {
        "parameter": "initial_grading",
        "value": 30,
        "unit": "minutes",
        "provenance": "assumed",
    }
    assert grading["stopped_by"] and grading["met_by"]


@pytest.mark.parametrize(
    ("when", "field", "expected"),
    [
        (
            {"child": {"fact": "child", "looked_after": True}, "x": {"fact": "event", "absent": "yes"}},
            "when.x.absent",
            "expected true or false, got 'yes'",
        ),
        (
            {"c": {"fact": "child", "looked_after": True, "absent": True}},
            "when",
            "needs at least one fact that is present; every alias is absent",
        ),
        (
            {"g": {"fact": "grading"}, "e": {"fact": "event", "at": {"lte": "$g.at + initial_gradin"}}},
            "when.e.at",
            "unknown parameter 'initial_gradin'; did you mean 'initial_grading'?",
        ),
        (
            {"g": {"fact": "grading"}, "e": {"fact": "event", "at": {"lte": "$g.at + repeat_threshold"}}},
            "when.e.at",
            "'repeat_threshold' is not a duration (minutes, hours or days;",
        ),
        (
            {"g": {"fact": "grading"}, "e": {"fact": "event", "at": {"lte": "$g.at * 2"}}},
            "when.e.at",
            "a reference is $alias.field or $alias.field + duration, not '$g.at * 2'",
        ),
        (
            {"c": {"fact": "child", "looked_after": {"gt": True}}},
            "when.c.looked_after",
            "gt compares numbers and instants; looked_after is not one",
        ),
        (
            {
                "c": {"fact": "child"},
                "n": {"fact": "event", "absent": True},
                "e": {"fact": "event", "at": "$n.at"},
            },
            "when.e.at",
            "expected a whole number, got '$n.at'",
        ),
        (
            {
                "c": {"fact": "child"},
                "n": {"fact": "event", "absent": True},
                "e": {"fact": "event", "at": {"eq": "$n.at"}},
            },
            "when.e.at",
            "'n' is an absent fact: nothing can refer to it",
        ),
        (
            {"e": {"fact": "event", "by": "child_blaming_phrases"}},
            "when.e.by",
            "parameter 'child_blaming_phrases' holds 'not unusual behaviour', which by never is",
        ),
        (
            {"e": {"fact": "event", "local_time": {"gte": "intelligence_cover_untill"}}},
            "when.e.local_time",
            "unknown parameter 'intelligence_cover_untill'; did you mean 'intelligence_cover_until'?",
        ),
    ],
)
def test_the_when_language_is_checked_at_load(copy_of_policy, when, field, expected) -> None:
    """Issue 8: the when language is checked at load."""
    set_when(copy_of_policy, when, message="x", evidence=[])
    found = problems(copy_of_policy)
    assert found[f"{WHERE}: {field}"].startswith(expected), found


def test_a_message_cannot_quote_an_absent_fact(copy_of_policy) -> None:
    """Issue 8: a message cannot quote an absent fact."""
    set_when(
        copy_of_policy,
        {"child": {"fact": "child"}, "n": {"fact": "event", "type": "note", "absent": True}},
        message="{n.at_text}",
        evidence=["n"],
    )
    found = problems(copy_of_policy)
    assert found[f"{WHERE}: message"].startswith("unknown alias (an absent one has nothing to quote) 'n'")
    assert found[f"{WHERE}: evidence"].startswith("unknown alias (an absent one is no evidence) 'n'")


def test_absence_is_judged_over_the_whole_timeline_in_any_order(policy) -> None:
    """Issue 8: C3: a report in the gap with intelligence checks anywhere in the record raises no
    'checks missing'; the facts are asserted in time order, so checks before or after the
    grading, and at the report's own instant, all count."""
    for at in ("03:00", "03:05", "05:59"):
        body = report_timeline(
            [
                {
                    "id": "c",
                    "type": "intelligence_checks",
                    "by": "call_handler",
                    "at": f"2023-07-12T{at}:00+01:00",
                }
            ],
            as_of="2023-07-12T06:00:00+01:00",
        )
        body["events"][0]["at"] = "2023-07-12T03:00:00+01:00"
        codes = [f.code for f in evaluate(parse_timeline(json.dumps(body)), policy).findings]
        assert "INTELLIGENCE_CHECKS_MISSING" not in codes and "INTELLIGENCE_GAP" in codes, at
