"""Issue 24: working days, written by a policy author without code. A duration in working days is
due at the end of that many working days after the local date its clock starts on; a working day
is a weekday that is not a bank holiday of the calendar the policy names (the holidays package's,
with its provenance); event facts carry their local weekday, and whether it is a working day."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from misper.engine import evaluate, load_policy, parse_timeline
from misper.engine.policy.selftest import run_policy_tests
from tests.support.policies import edit, problems

# Thursday 24 August 2023; Monday 28 August is England's summer bank holiday (Scotland's was the 7th).
REPORT = "2023-08-24T19:40:00+01:00"
CALENDAR = {"value": "GB-ENG", "unit": "calendar", "clause": None, "provenance": "statutory",
            "note": "Bank holidays of England and Wales."}  # fmt: skip
MEETING = {"value": 5, "unit": "working_days", "clause": "L1", "provenance": "assumed",
           "note": "A strategy meeting within 5 working days of the report."}  # fmt: skip
DEADLINE = {
    "id": "strategy_meeting_working_days",
    "clause": "L1",
    "code": "STRATEGY_DISCUSSION_LATE",
    "owner": "inspector",
    "duty": "The strategy meeting",
    "starts": {"event": "report_received"},
    "due_after": "strategy_meeting",
    "met_by": [{"event": "strategy_discussion"}],
    "tests": [
        # From a Thursday 19:40: Friday, (weekend, Monday's bank holiday) Tuesday, Wednesday,
        # Thursday, Friday: due at the end of Friday 1 September.
        {"id": "on-the-fifth-working-day", "report_at": REPORT, "as_of": "+10d", "expect_status": "met",
         "events": [{"type": "strategy_discussion", "at": "2023-09-01T23:59:00+01:00", "by": "mash"}]},
        {"id": "the-day-after", "report_at": REPORT, "as_of": "+10d", "expect_status": "met_late",
         "events": [{"type": "strategy_discussion", "at": "2023-09-02T00:01:00+01:00", "by": "mash"}]},
    ],
}  # fmt: skip


def _with_working_days(folder: Path, calendar: str = "GB-ENG") -> None:
    edit(
        folder,
        "parameters.yaml",
        lambda d: d.update(bank_holidays={**CALENDAR, "value": calendar}, strategy_meeting=MEETING),
    )
    edit(folder, "looked_after.yaml", lambda d: d.setdefault("deadlines", []).append(DEADLINE))


def _due(folder: Path) -> str:
    body = {
        "incident_id": "W-1",
        "child": {"child_id": "C-1", "age_years": 14},
        "events": [{"id": "r", "type": "report_received", "at": REPORT, "by": "call_handler"}],
        "as_of": "2023-08-25T09:00:00+01:00",
    }
    result = evaluate(parse_timeline(json.dumps(body)), load_policy(folder))
    return next(d.due_at for d in result.deadlines if d.id == "strategy_meeting_working_days")


def test_a_working_day_deadline_skips_the_weekend_and_the_bank_holiday(copy_of_policy: Path) -> None:
    _with_working_days(copy_of_policy)
    assert [r for r in run_policy_tests(load_policy(copy_of_policy)) if not r.ok] == []
    assert _due(copy_of_policy) == "2023-09-02T00:00:00+01:00"


def test_a_force_in_scotland_names_its_own_calendar(copy_of_policy: Path) -> None:
    # Scotland's summer bank holiday was 7 August: 28 August is a working day there.
    _with_working_days(copy_of_policy, "GB-SCT")
    assert _due(copy_of_policy) == "2023-09-01T00:00:00+01:00"


def test_the_basis_and_message_say_working_days_as_written(copy_of_policy: Path) -> None:
    _with_working_days(copy_of_policy)
    body = {
        "incident_id": "W-2",
        "child": {"child_id": "C-1", "age_years": 14},
        "events": [{"id": "r", "type": "report_received", "at": REPORT, "by": "call_handler"}],
        "as_of": "2023-09-04T09:00:00+01:00",
    }
    result = evaluate(parse_timeline(json.dumps(body)), load_policy(copy_of_policy))
    finding = next(f for f in result.findings if f.rule.startswith("L1.strategy_meeting_working_days"))
    assert "strategy_meeting = 5 working days" in (finding.basis_note or "")


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        pytest.param(
            lambda d: d.update(strategy_meeting=MEETING),
            "suffolk-2023-02/parameters.yaml: strategy_meeting",
            "working days are counted on the policy's bank-holiday calendar: declare it",
            id="working-days-without-a-calendar",
        ),
        pytest.param(
            lambda d: d.update(bank_holidays={**CALENDAR, "value": "GB-XYZ"}),
            "suffolk-2023-02/parameters.yaml: bank_holidays",
            "the calendar 'GB-XYZ' is not known; GB's are GB-ENG, GB-NIR, GB-SCT, GB-WLS",
            id="an-unknown-calendar",
        ),
        pytest.param(
            lambda d: d.update(bank_holidays=CALENDAR, more_holidays={**CALENDAR, "value": "GB-SCT"}),
            "suffolk-2023-02/parameters.yaml: more_holidays",
            "a policy has one calendar; bank_holidays is one",
            id="two-calendars",
        ),
    ],
)
def test_a_calendar_is_checked_at_load(copy_of_policy: Path, change: Any, field: str, says: str) -> None:
    edit(copy_of_policy, "parameters.yaml", change)
    found = problems(copy_of_policy)
    assert says in found[field], found


def test_a_rules_clock_cannot_count_working_days(copy_of_policy: Path) -> None:
    edit(
        copy_of_policy,
        "parameters.yaml",
        lambda d: d.update(bank_holidays=CALENDAR, strategy_meeting=MEETING),
    )

    def clock(d: dict[str, Any]) -> None:
        rule = d["rules"][0]
        rule["when"]["r"] = {"fact": "event", "type": "report_received"}
        rule["when"]["late"] = {"fact": "incident", "as_of": {"gte": "$r.at + strategy_meeting"}}

    edit(copy_of_policy, "looked_after.yaml", clock)
    found = problems(copy_of_policy)
    message = found["suffolk-2023-02/looked_after.yaml: rule L1.philomena-profile-missing: when.late.as_of"]
    assert "working days time only a deadline's due_after" in message


def test_an_event_fact_carries_its_local_weekday_and_whether_it_is_a_working_day(
    copy_of_policy: Path,
) -> None:
    """A rule on a report received on a day that is not a working day: the bank holiday Monday."""
    edit(copy_of_policy, "parameters.yaml", lambda d: d.update(bank_holidays=CALENDAR))

    def rule(d: dict[str, Any]) -> None:
        d["rules"].append(
            {
                "id": "L1.report-on-a-holiday",
                "clause": "L1",
                "code": "PHILOMENA_PROFILE_MISSING",
                "severity": "advisory",
                "when": {
                    "r": {
                        "fact": "event",
                        "type": "report_received",
                        "working_day": False,
                        "weekday": "monday",
                    }
                },
                "message": "Reported on a Monday that is not a working day.",
                "tests": [
                    {
                        "id": "bank-holiday-monday",
                        "report_at": "2023-08-28T10:00:00+01:00",
                        "expect_fires": 1,
                    },
                    {"id": "an-ordinary-monday", "report_at": "2023-09-04T10:00:00+01:00", "expect_fires": 0},
                    {"id": "a-sunday", "report_at": "2023-09-03T10:00:00+01:00", "expect_fires": 0},
                ],
            }
        )

    edit(copy_of_policy, "looked_after.yaml", rule)
    assert [r for r in run_policy_tests(load_policy(copy_of_policy)) if not r.ok] == []


def test_working_day_in_a_rule_needs_the_calendar(copy_of_policy: Path) -> None:
    def rule(d: dict[str, Any]) -> None:
        d["rules"][0]["when"]["r"] = {"fact": "event", "type": "report_received", "working_day": False}

    edit(copy_of_policy, "looked_after.yaml", rule)
    found = problems(copy_of_policy)
    assert (
        "bank-holiday calendar"
        in found["suffolk-2023-02/looked_after.yaml: rule L1.philomena-profile-missing: when.r.working_day"]
    )


def test_a_live_working_day_deadline_changes_by_the_clock_at_its_due_instant(copy_of_policy: Path) -> None:
    """next_change_at (what an alert waits for) is the working-day deadline's own instant."""
    _with_working_days(copy_of_policy)
    body = {
        "incident_id": "W-3",
        "mode": "live",
        "child": {"child_id": "C-1", "age_years": 14},
        "events": [
            {"id": "r", "type": "report_received", "at": REPORT, "by": "call_handler"},
            {"id": "f", "type": "found", "at": "2023-08-24T20:00:00+01:00", "by": "frontline_officer"},
        ],
        "as_of": "2023-09-01T12:00:00+01:00",
    }
    policy = load_policy(copy_of_policy)
    result = evaluate(parse_timeline(json.dumps(body)), policy)
    meeting = next(d for d in result.deadlines if d.id == "strategy_meeting_working_days")
    assert (meeting.status.value, meeting.due_at) == ("due_soon", "2023-09-02T00:00:00+01:00")
    changes = [d.due_at for d in result.deadlines if d.status.value in ("pending", "due_soon")]
    assert result.next_change_at == min(changes)
