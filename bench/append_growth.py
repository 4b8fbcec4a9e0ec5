"""How the cost of one append grows with the events an incident already holds, through a real
`misper serve` on SQLite.

Run: python bench/append_growth.py [--small 20] [--large 2000] [--samples 21]
Method: a fresh data folder; `misper serve` with its defaults; one incident opened and given its
report. Notes are appended in batches of 100 (untimed) until the incident holds --small events,
then --samples single-note appends are timed one request at a time (the client waits for each
answer); the same again at --large stored events. Each figure is the median latency of its
samples with their range, and the ratio of the two medians is the growth (1.0: an append costs
the same however long the incident). The client runs on the same machine as the server.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.server import note, open_incident, post, serving  # noqa: E402


def run(small: int = 20, large: int = 2000, samples: int = 21) -> dict[int, list[float]]:
    """Latencies (ms) of single appends at ``small`` and ``large`` stored events."""
    out: dict[int, list[float]] = {}
    with tempfile.TemporaryDirectory() as data, serving(Path(data), None) as (server, _):
        open_incident(server, "G-1")
        stored = 1
        for target in (small, large):
            while stored < target:
                batch = [note(f"n{stored + i}", stored + i) for i in range(min(100, target - stored))]
                assert post(server, "G-1", *batch) == 200
                stored += len(batch)
            times = []
            for _ in range(samples):
                started = time.perf_counter()
                assert post(server, "G-1", note(f"n{stored}", stored)) == 200
                times.append((time.perf_counter() - started) * 1000)
                stored += 1
            out[target] = times
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=20)
    parser.add_argument("--large", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=21)
    args = parser.parse_args()
    found = run(args.small, args.large, args.samples)
    for stored, times in found.items():
        print(
            f"{stored:5d} stored: median {statistics.median(times):.1f} ms "
            f"({min(times):.1f}-{max(times):.1f})"
        )
    small, large = (statistics.median(found[k]) for k in (args.small, args.large))
    print(f"growth: {large / small:.1f}x")


if __name__ == "__main__":
    main()
