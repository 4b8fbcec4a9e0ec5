"""Large timelines: evaluation work grows linearly with the events (counted in calls, not timed),
and no clock is truncated however many reviews there are."""

from __future__ import annotations

import json
import sys
from datetime import datetime

from misper.engine import evaluate, parse_timeline
from tests.support.timelines import alternating_reviews, report_timeline


def _calls(body: dict, policy) -> int:
    """Python and C function calls made by one evaluation: a count, not a time, so the test
    cannot pass or fail with the machine's load."""
    from misper.engine import evaluate

    timeline = parse_timeline(json.dumps(body))
    evaluate(timeline, policy)  # warm caches
    count = 0

    def profile(frame, event, arg) -> None:  # type: ignore[no-untyped-def]
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(profile)
    try:
        evaluate(timeline, policy)
    finally:
        sys.setprofile(None)
    return count


def _dense_regrades_and_reviews(n: int) -> dict:
    """Regrades to high and reviews one second apart: every review's next review is brought
    forward, and all the later regrades fall inside its interval."""
    from datetime import datetime, timedelta

    t0 = datetime.fromisoformat("2023-07-11T19:40:00+01:00")
    events = [{"id": "r", "type": "report_received", "at": t0.isoformat(), "by": "call_handler"}]
    for i in range(n):
        at = (t0 + timedelta(seconds=i + 1)).isoformat()
        if i % 2:
            events.append({"id": f"s{i}", "type": "supervisor_review", "at": at, "by": "sergeant"})
        else:
            grade = "high" if i % 4 == 0 else "medium"
            events.append(
                {"id": f"g{i}", "type": "risk_graded", "at": at, "by": "frontline_officer", "grade": grade}
            )
    return report_timeline([], as_of=(t0 + timedelta(hours=3)).isoformat()) | {"events": events}


def test_evaluation_work_grows_linearly_with_events(policy) -> None:
    """Issue 7: Alternating regrades and reviews made the deadline computation quadratic (a 5,000-event
    timeline took 7-10 s). Four times the events must cost about four times the calls."""
    small, large = _calls(alternating_reviews(300), policy), _calls(alternating_reviews(1200), policy)
    assert large / small < 4.6, (small, large)


def test_bringing_reviews_forward_stays_linear(policy) -> None:
    """Issue 7: S2's bring-forward scan once walked every later regrade in the interval: quadratic."""
    small = _calls(_dense_regrades_and_reviews(400), policy)
    large = _calls(_dense_regrades_and_reviews(1600), policy)
    assert large / small < 4.6, (small, large)


def test_periodic_reviews_are_never_truncated(policy) -> None:
    """Issue 2: 600 reviews every two hours, then none for a day: the last clock is still judged."""
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
