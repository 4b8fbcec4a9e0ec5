"""Generated timelines for the differential test: the engine's answers to them are recorded once
(tests/data/differential.jsonl.gz) and every later engine must give the same answers.

The generator is seeded: case N is the same timeline on every machine and every run. It reaches
what the policy judges: both policies, reports in and out of the overnight intelligence gap and
across clock changes, grades up and down (low included), every event type with roles that count
and roles that do not, ties (several events at one instant), found (deceased too), closed and
complete records, live as_of, children with risk factors, placements, response plans and earlier
episodes, and review or note text with and without child-blaming phrases.

Regenerate the reference (only when an intended change of answers is agreed):
    python -m tests.support.differential --record
"""

from __future__ import annotations

import gzip
import json
import random
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

CASES = 300
REFERENCE = Path(__file__).resolve().parents[1] / "data" / "differential.jsonl.gz"

REPORTS = [
    "2023-07-11T19:40:00+01:00",
    "2023-07-12T01:30:00+01:00",
    "2023-12-02T01:30:00+00:00",
    "2023-12-02T06:50:00+00:00",
    "2023-03-25T22:10:00+00:00",
    "2023-10-28T23:50:00+01:00",
    "2023-02-01T00:10:00+00:00",
    "2022-08-14T21:00:00+01:00",
    "2023-01-31T23:30:00+00:00",
]
ROLES = [
    "call_handler",
    "control_room_supervisor",
    "frontline_officer",
    "sergeant",
    "inspector",
    "cid_supervisor",
    "missing_persons_adviser",
    "mash",
    "local_authority",
]
TYPES = [
    "intelligence_checks",
    "risk_graded",
    "risk_graded",
    "grading_endorsed",
    "supervisor_review",
    "supervisor_review",
    "oversight_accepted",
    "investigation_plan_set",
    "compact_record_created",
    "child_risk_assessment_form",
    "response_plan_consulted",
    "strategy_discussion",
    "prevention_interview",
    "return_home_interview",
    "officer_allocated",
    "note",
    "found",
    "closed",
]
TEXTS = [
    "Known to be streetwise and always comes back.",
    "Check the address linked to the exploitation concern; CCTV at the station.",
    "This is not a lifestyle-choice. She is being exploited.",
    "Raised: not returned overnight.",
]
FACTORS = [
    "sexual_exploitation",
    "criminal_exploitation",
    "self_harm_or_suicide",
    "medical_needs",
    "mental_health",
    "substance_misuse",
    "learning_disability",
    "domestic_abuse_at_home",
    "out_of_character",
    "victim_of_crime",
]


def case(n: int) -> dict[str, Any]:
    """Timeline number n (deterministic)."""
    rnd = random.Random(f"misper-differential-{n}")
    report = datetime.fromisoformat(rnd.choice(REPORTS))
    span = rnd.choice([90, 6 * 60, 30 * 60, 100 * 60])
    # A small pool of instants makes ties (several events at one instant) common.
    instants = sorted(rnd.sample(range(0, span), k=min(span, rnd.randint(3, 12))))
    events: list[dict[str, Any]] = [
        {"id": "r", "type": "report_received", "at": report.isoformat(), "by": "call_handler"}
    ]
    for i in range(rnd.randint(0, 22)):
        kind = rnd.choice(TYPES)
        event: dict[str, Any] = {
            "id": f"e{i}",
            "type": kind,
            "at": (report + timedelta(minutes=rnd.choice(instants))).isoformat(),
        }
        event["by"] = rnd.choice(ROLES)
        if kind == "risk_graded" or (kind == "supervisor_review" and rnd.random() < 0.4):
            event["grade"] = rnd.choice(["high", "high", "medium", "medium", "low", "no_apparent_risk"])
        if kind == "prevention_interview":
            event["voice_of_child"] = rnd.random() < 0.6
        if kind == "found" and rnd.random() < 0.15:
            event["outcome"] = rnd.choice(["deceased", "harmed", "safe"])
        if kind == "note" or (kind == "supervisor_review" and rnd.random() < 0.7):
            event["text"] = rnd.choice(TEXTS)
        events.append(event)
    rnd.shuffle(events)
    body: dict[str, Any] = {
        "incident_id": f"D-{n}",
        "child": _child(rnd, report),
        "events": events,
    }
    if rnd.random() < 0.6:
        body["as_of"] = (report + timedelta(minutes=rnd.randint(0, span + 72 * 60))).isoformat()
    if rnd.random() < 0.2:
        body["mode"] = rnd.choice(["live", "complete", "auto"])
    if "as_of" not in body and body.get("mode") != "complete":
        # Judged at its close, never at "now": the answer must not depend on the day it runs.
        body.pop("mode", None)
        end = (report + timedelta(minutes=span + rnd.randint(0, 72 * 60))).isoformat()
        events.append({"id": "end", "type": "closed", "at": end, "by": "sergeant"})
    if rnd.random() < 0.15:
        body["policy"] = rnd.choice(["suffolk-2023-02", "baseline-pre-2023"])
    return body


def _child(rnd: random.Random, report: datetime) -> dict[str, Any]:
    child: dict[str, Any] = {
        "child_id": "C-1",
        "age_years": rnd.randint(9, 17),
        "risk_factors": rnd.sample(FACTORS, k=rnd.choice([0, 0, 1, 2, 3])),
        "looked_after": rnd.random() < 0.3,
        "response_plan": rnd.random() < 0.3,
        "philomena_profile": rnd.random() < 0.5,
    }
    if child["looked_after"] and rnd.random() < 0.7:
        child["placement"] = rnd.choice(["childrens_home", "foster_care", "family", "other"])
    previous = [
        {
            "reported_at": (
                report - timedelta(days=rnd.randint(1, 60), minutes=rnd.randint(0, 600))
            ).isoformat(),
            "recorded_on": rnd.choice(["compact", "child_risk_assessment_form"]),
        }
        for _ in range(rnd.choice([0, 0, 1, 2, 3, 5]))
    ]
    if previous:
        child["previous_episodes"] = previous
    return child


def answer(n: int) -> dict[str, Any]:
    """What the engine says about case n, or the error it raises: the evaluation without the
    engine's name and version and the policy's content hash, which change by design when the
    engine or the wording of the rules files changes."""
    from misper.engine import default_registry, evaluate, parse_timeline
    from misper.engine.errors import EngineError
    from misper.engine.inputs import choose_policy

    body = case(n)
    try:
        timeline = parse_timeline(json.dumps(body))
        policy = choose_policy(default_registry(), timeline)
        out = json.loads(evaluate(timeline, policy).to_json())
    except EngineError as exc:
        return {"case": n, "error": type(exc).__name__, "detail": str(exc)}
    return {"case": n, "evaluation": comparable(out)}


def comparable(evaluation: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in evaluation.items() if k != "engine"}
    out["policy"] = {k: v for k, v in out["policy"].items() if k != "sha256"}
    return out


def record() -> None:
    REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(answer(n), sort_keys=True, separators=(",", ":")) for n in range(CASES)]
    with gzip.GzipFile(REFERENCE, "wb", mtime=0) as f:
        f.write(("\n".join(lines) + "\n").encode())


def reference() -> list[dict[str, Any]]:
    with gzip.open(REFERENCE, "rt", encoding="utf-8") as f:
        cases = [json.loads(line) for line in f]
    return [dict(c, evaluation=comparable(c["evaluation"])) if "evaluation" in c else c for c in cases]


if __name__ == "__main__":
    if sys.argv[1:] == ["--record"]:
        record()
    else:
        sys.exit(__doc__)
