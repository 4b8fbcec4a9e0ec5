"""Worst-case cost of one request at each documented limit, in-process.

Usage: .venv/bin/python bench/limits.py [--repeat 5]

Method: for each case, a timeline built to sit at one limit (the most events, the most text, the
largest simulation page the work limit admits); parse and evaluate (or plan and simulate) it
--repeat times and print the median and the worst, and the ratio to the parse of the same body
(the unavoidable work, measured in the same run, so the ratio holds on a noisy machine).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from misper.engine import default_registry, evaluate, parse_timeline  # noqa: E402
from misper.engine.judging.simulate import PAGE_WORK, plan, simulate  # noqa: E402

T0 = datetime.fromisoformat("2023-07-11T19:40:00+01:00")


def _report() -> dict:
    return {"id": "r", "type": "report_received", "at": T0.isoformat(), "by": "call_handler"}


def _timeline(events: list[dict], minutes_after_last: int = 10) -> dict:
    last = max(datetime.fromisoformat(e["at"]) for e in events)
    return {
        "incident_id": "LIMIT",
        "policy": "suffolk-2023-02",
        "as_of": (last + timedelta(minutes=minutes_after_last)).isoformat(),
        "child": {"child_id": "C", "age_years": 14},
        "events": events,
    }


def alternating_reviews(n: int) -> dict:
    """n supervisor reviews by an inspector alternating the grade: the most deadline occurrences."""
    events = [_report()]
    for i in range(n):
        grade = "high" if i % 2 == 0 else "medium"
        at = (T0 + timedelta(minutes=5 * (i + 1))).isoformat()
        events.append(
            {"id": f"e{i}", "type": "supervisor_review", "at": at, "by": "inspector", "grade": grade}
        )
    return _timeline(events)


def long_notes(n: int, length: int) -> dict:
    """n notes of the longest text a field takes, each matching no phrase until its end."""
    text = ("She was seen near the station and the officer spoke to her friends. " * 400)[: length - 16]
    events = [_report()] + [
        {
            "id": f"n{i}",
            "type": "note",
            "at": (T0 + timedelta(minutes=i + 1)).isoformat(),
            "by": "sergeant",
            "text": text + " always returns",
        }
        for i in range(n)
    ]
    return _timeline(events)


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), max(times)


def largest_simulation(policy: object) -> int:
    """The most alternating reviews whose whole simulation fits in one page."""
    n = 20
    while len(plan(parse_timeline(json.dumps(alternating_reviews(n + 1))), policy).pages) == 1:  # type: ignore[arg-type]
        n += 1
    return n


def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("--repeat", type=int, default=5)
    repeat = args.parse_args().repeat
    policy = default_registry().get("suffolk-2023-02")
    largest_sim = largest_simulation(policy)
    cases = {
        "4,999 alternating reviews (event limit)": alternating_reviews(4999),
        "52 notes of 19,999 characters (1 MiB body)": long_notes(52, 19_999),
        f"simulation of {largest_sim} alternating reviews ({PAGE_WORK} step-events)": alternating_reviews(
            largest_sim
        ),
        "the case study": json.loads(
            (Path(__file__).resolve().parent.parent / "fixtures/timelines/case-study.json").read_text()
        ),
    }
    print(f"{'case':<72} {'bytes':>8} {'parse':>9} {'work median':>12} {'worst':>9} {'ratio':>7}")
    for name, body in cases.items():
        raw = json.dumps(body).encode()
        parse_median, _ = timed(lambda raw=raw: parse_timeline(raw), repeat)
        timeline = parse_timeline(raw)
        if name.startswith("simulation"):
            work = lambda timeline=timeline: simulate(timeline, policy).model_dump_json()  # noqa: E731
        else:
            work = lambda timeline=timeline: evaluate(timeline, policy).to_json(indent=None)  # noqa: E731
        median, worst = timed(work, repeat)
        print(
            f"{name:<72} {len(raw):>8} {parse_median * 1000:>7.1f}ms {median * 1000:>10.1f}ms "
            f"{worst * 1000:>7.1f}ms {median / parse_median:>6.1f}x"
        )


if __name__ == "__main__":
    main()
