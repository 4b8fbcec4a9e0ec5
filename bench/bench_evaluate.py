"""Time one in-process evaluation of a 20-event timeline, stage by stage, and watch memory.

Run: python bench/bench_evaluate.py [--n 2000]
Method: the case-study timeline padded to 20 events (8 more reviews and notes). After a
warm-up of 200 evaluations, each stage runs --n times in a loop; this is repeated 7 times and
the median and best per-call time are printed. Memory is the process's maximum RSS before and
after 20,000 further evaluations (each creates and deletes a rule-engine session).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from misper.engine import default_registry, evaluate, parse_timeline

ROOT = Path(__file__).resolve().parent.parent


def twenty_event_timeline() -> bytes:
    body = json.loads((ROOT / "fixtures" / "timelines" / "case-study.json").read_text())
    extra = [
        {
            "id": f"n{i}",
            "type": "note",
            "at": f"2023-07-12T0{i}:05:00+01:00",
            "by": "frontline_officer",
            "text": "Checked the station CCTV and the friend's address.",
        }
        for i in range(4)
    ] + [
        {
            "id": f"v{i}",
            "type": "supervisor_review",
            "at": f"2023-07-12T0{i}:20:00+01:00",
            "by": "sergeant",
            "text": "Specific enquiries set for the known associate.",
        }
        for i in range(4, 8)
    ]
    body["events"] += extra
    assert len(body["events"]) == 20
    return json.dumps(body).encode()


def per_call(fn: Callable[[], object], n: int) -> tuple[float, float]:
    runs = []
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - start) / n * 1000)
    return statistics.median(runs), min(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    n = parser.parse_args().n
    raw = twenty_event_timeline()
    policy = default_registry().get("suffolk-2023-02")
    timeline = parse_timeline(raw)
    for _ in range(200):
        evaluate(timeline, policy)
    stages = {
        "parse (bytes -> Timeline)": lambda: parse_timeline(raw),
        "evaluate (Timeline -> Evaluation)": lambda: evaluate(timeline, policy),
        "parse + evaluate + JSON": lambda: evaluate(parse_timeline(raw), policy).to_json(indent=None),
    }
    for name, fn in stages.items():
        median, best = per_call(fn, n)
        print(f"{name:36s} median {median:.3f} ms/call  best {median if best > median else best:.3f} ms/call")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for _ in range(20_000):
        evaluate(timeline, policy)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"max RSS before/after 20,000 evaluations: {before:.1f} MB / {after:.1f} MB")


if __name__ == "__main__":
    main()
