"""`misper synth`: a synthetic year of a force's missing-child reports, for tests and benchmarks.

It is not real data and must never be mistaken for it. Deterministic for a given seed and size:
the same arguments give the same bytes. Where each distribution comes from:

- Volume: about 2,800 reports from about 720 children a year (the brief; source 002 in
  docs/spec/sources.md gives 803 reports a year for a smaller force in 2015). Children per
  report: 0.26.
- Repeat tail: every child goes missing at least once; the other reports go to children in
  proportion to a Pareto draw (shape 1.3), so most children go missing once or twice and a few
  dozens of times (assumed; source 000 names children with a high number of missing episodes).
- Report times: every day of 2023 (both clock changes), hours weighted towards the evening and
  the night, a sixth of reports in the overnight intelligence gap (assumed).
- Ages 9-17, mostly 13-16; risk factors, looked-after children (a quarter), placements and
  Philomena profiles at assumed rates; response plans for children with earlier episodes.
- Delays (minutes, log-normal; assumed): intelligence checks median 8, initial grading median 18
  with a late tail, COMPACT record median 35, supervisor endorsement median 40, officer
  assessment median 90, inspector or CID oversight median 70, periodic reviews at their interval
  with jitter (some late), found after median 5 hours (minutes to days), prevention interview
  median 14 hours after, return home interview median 48 hours after. One grading in twenty below
  medium, and child-blaming phrases in one review in twenty (source 000's case study).
- Areas: Suffolk's three constabulary areas (source 000), at random.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

YEAR_START = datetime(2023, 1, 1, tzinfo=UTC)
AREAS = ["East", "South", "West"]
HOUR_WEIGHTS = [6, 5, 4, 3, 2, 2, 2, 3, 3, 4, 4, 4, 4, 4, 5, 6, 7, 8, 9, 9, 9, 8, 8, 7]
FACTORS = {
    "sexual_exploitation": 0.08,
    "criminal_exploitation": 0.1,
    "self_harm_or_suicide": 0.06,
    "medical_needs": 0.03,
    "mental_health": 0.2,
    "substance_misuse": 0.12,
    "learning_disability": 0.05,
    "domestic_abuse_at_home": 0.08,
    "out_of_character": 0.1,
    "victim_of_crime": 0.03,
}
REVIEW_TEXT = [
    "Enquiries at the known addresses; CCTV requested from the station.",
    "Friends contacted; phone cell-site request made.",
    "Known associate's address visited; nobody home.",
]
BLAMING_TEXT = "She always returns and is streetwise; this is a lifestyle choice."


def synth(incidents: int, seed: int) -> Iterator[str]:
    """JSON Lines: one contract v1 timeline per line (with the replay corpus's `area`)."""
    rnd = random.Random(f"misper-synth-{seed}")
    children = max(1, round(incidents * 720 / 2800))
    weights = [min(40.0, rnd.paretovariate(1.3)) for _ in range(children)]
    profiles = [_child(rnd, n) for n in range(children)]
    # Every child goes missing at least once; the other reports follow the heavy tail.
    owners = list(range(min(children, incidents))) + rnd.choices(
        range(children), weights, k=incidents - children
    )
    rnd.shuffle(owners)
    reports = sorted(_report_time(rnd) for _ in range(incidents))
    history: dict[int, list[datetime]] = {}
    for n, (child_no, report) in enumerate(zip(owners, reports, strict=True)):
        earlier = history.setdefault(child_no, [])
        while earlier and report <= earlier[-1]:  # one child is reported once at an instant
            report = earlier[-1] + timedelta(minutes=1)
        body = _incident(rnd, n, profiles[child_no], report, earlier)
        earlier.append(report)
        yield json.dumps(body, separators=(",", ":"))


def _child(rnd: random.Random, n: int) -> dict[str, Any]:
    looked_after = rnd.random() < 0.25
    child: dict[str, Any] = {
        "child_id": f"SYN-C{n:05d}",
        "age_years": min(17, max(9, round(rnd.gauss(14.3, 1.8)))),
        "looked_after": looked_after,
        "risk_factors": [f for f, p in FACTORS.items() if rnd.random() < p],
        "philomena_profile": looked_after and rnd.random() < 0.6,
    }
    if looked_after:
        child["placement"] = rnd.choices(["childrens_home", "foster_care", "family", "other"], [5, 3, 1, 1])[
            0
        ]
    return child


def _report_time(rnd: random.Random) -> datetime:
    day = rnd.randrange(365)
    hour = rnd.choices(range(24), HOUR_WEIGHTS)[0]
    return YEAR_START + timedelta(days=day, hours=hour, minutes=rnd.randrange(60))


def _minutes(rnd: random.Random, median: float, spread: float = 0.8) -> timedelta:
    return timedelta(minutes=max(1.0, median * math.exp(rnd.gauss(0, spread))))


def _incident(
    rnd: random.Random, n: int, profile: dict[str, Any], report: datetime, earlier: list[datetime]
) -> dict[str, Any]:
    child = dict(profile)
    recent = [t for t in earlier if report - t <= timedelta(days=60)]
    if recent:
        child["previous_episodes"] = [
            {
                "reported_at": t.isoformat(),
                "recorded_on": rnd.choice(["compact", "compact", "child_risk_assessment_form"]),
            }
            for t in recent
        ]
    child["response_plan"] = len(recent) >= 2 and rnd.random() < 0.6
    events: list[dict[str, Any]] = []

    def add(kind: str, at: datetime, by: str | None = None, **more: Any) -> None:
        event = {"id": f"e{len(events):02d}", "type": kind, "at": at.isoformat(), **more}
        if by:
            event["by"] = by
        events.append(event)

    add("report_received", report, "call_handler")
    found = report + _minutes(rnd, 300, 1.3)
    grade = _control_room(rnd, add, report, child["response_plan"])
    _supervision(rnd, add, report, found, grade)
    last = _found(rnd, add, found)
    add("closed", last + timedelta(hours=rnd.randint(1, 48)), "sergeant")
    return {
        "area": rnd.choice(AREAS),
        "incident_id": f"SYN-{report:%Y}-{n:06d}",
        "child": child,
        "events": events,
    }


Add = Callable[..., None]


def _control_room(rnd: random.Random, add: Add, report: datetime, response_plan: bool) -> str:
    if rnd.random() < 0.9:
        add("intelligence_checks", report + _minutes(rnd, 8), "call_handler")
    grade = rnd.choices(["medium", "high", "low"], [70, 25, 5])[0]
    graded = report + _minutes(rnd, 18, 0.9)
    add(
        "risk_graded",
        graded,
        rnd.choice(["call_handler", "call_handler", "control_room_supervisor"]),
        grade=grade,
    )
    if rnd.random() < 0.85:
        add("grading_endorsed", report + _minutes(rnd, 40), "control_room_supervisor")
    if response_plan and rnd.random() < 0.8:
        add("response_plan_consulted", report + _minutes(rnd, 20), "call_handler")
    if rnd.random() < 0.9:
        add("compact_record_created", report + _minutes(rnd, 35), "call_handler")
    add("officer_allocated", report + _minutes(rnd, 30), "sergeant")
    return grade


def _supervision(rnd: random.Random, add: Add, report: datetime, found: datetime, grade: str) -> None:
    assessed = report + _minutes(rnd, 90)
    add("risk_graded", assessed, "frontline_officer", grade=grade if rnd.random() < 0.8 else "high")
    if rnd.random() < 0.85:
        add("grading_endorsed", assessed + _minutes(rnd, 45), "sergeant")
    if rnd.random() < 0.9:
        add("investigation_plan_set", report + _minutes(rnd, 100), "sergeant")
    if grade == "high":
        add("oversight_accepted", report + _minutes(rnd, 75), "cid_supervisor")
    elif rnd.random() < 0.85:
        add("oversight_accepted", report + _minutes(rnd, 80), "inspector")
    review = report
    while True:
        review += timedelta(hours=2 if grade == "high" else 6) + timedelta(
            minutes=max(-60, rnd.gauss(-20, 40))
        )
        if review >= found:
            break
        text = BLAMING_TEXT if rnd.random() < 0.05 else rnd.choice(REVIEW_TEXT)
        add("supervisor_review", review, rnd.choice(["sergeant", "sergeant", "inspector"]), text=text)
    if found - report > timedelta(hours=24):
        add("strategy_discussion", report + _minutes(rnd, 24 * 60, 0.3), "mash")


def _found(rnd: random.Random, add: Add, found: datetime) -> datetime:
    outcome = rnd.choices(["safe", "harmed", "deceased"], [96, 3.95, 0.05])[0]
    add("found", found, "frontline_officer", **({"outcome": outcome} if outcome != "safe" else {}))
    last = found
    if outcome != "deceased":
        interview = found + _minutes(rnd, 14 * 60, 0.6)
        add("prevention_interview", interview, "frontline_officer", voice_of_child=rnd.random() < 0.85)
        home = found + _minutes(rnd, 48 * 60, 0.5)
        add("return_home_interview", home, "local_authority")
        last = max(interview, home)
    return last
