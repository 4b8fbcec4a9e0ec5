"""Timelines built for a test: a minimal valid one, its evaluation, and a long one of reviews."""

from __future__ import annotations

import json
from typing import Any

from misper.engine import evaluate, parse_timeline

# A stored incident's first events, as a control room appends them.
REPORT_EVENT = {"id": "r", "type": "report_received", "at": "2023-07-11T19:40:00+01:00", "by": "call_handler"}
GRADED_MEDIUM = {
    "id": "g",
    "type": "risk_graded",
    "at": "2023-07-11T19:50:00+01:00",
    "by": "control_room_supervisor",
    "grade": "medium",
}


def report_timeline(events: list[dict[str, Any]], **overrides: Any) -> dict[str, Any]:
    """A minimal valid timeline: a report at 19:40 BST plus the given events."""
    body: dict[str, Any] = {
        "incident_id": "T-1",
        "policy": "suffolk-2023-02",
        "child": {"child_id": "C-1", "age_years": 14},
        "events": [
            {"id": "r", "type": "report_received", "at": "2023-07-11T19:40:00+01:00", "by": "call_handler"},
            *events,
        ],
    }
    body.update(overrides)
    return body


def evaluate_report(policy, events, **overrides):
    """The evaluation by this policy of report_timeline(events, **overrides)."""
    return evaluate(parse_timeline(json.dumps(report_timeline(events, **overrides))), policy)


def alternating_reviews(n: int) -> dict:
    """A report and then n reviews five minutes apart, regrading to high and to medium in turn."""
    from datetime import datetime, timedelta

    t0 = datetime.fromisoformat("2023-07-11T19:40:00+01:00")
    events = [{"id": "r", "type": "report_received", "at": t0.isoformat(), "by": "call_handler"}]
    for i in range(n):
        at = (t0 + timedelta(minutes=5 * (i + 1))).isoformat()
        grade = "high" if i % 2 == 0 else "medium"
        events.append(
            {"id": f"e{i}", "type": "supervisor_review", "at": at, "by": "inspector", "grade": grade}
        )
    as_of = (t0 + timedelta(minutes=5 * (n + 2))).isoformat()
    return report_timeline([], as_of=as_of) | {"events": events}
