"""Append throughput of the incident store through a real `misper serve`, on SQLite and on a
throwaway PostgreSQL cluster.

Run: python bench/append_load.py [--incidents 40] [--events 25] [--clients 8]
Method: a fresh data folder (and a fresh PostgreSQL database); `misper serve` with 4 worker
processes in the small lane; each incident is opened and given its report, then --clients
threads append --events notes to each incident, one event per request, every incident's events
spread over all clients (so appends to one incident contend). Events per second is the number of
events appended divided by the wall time of the appending phase. The client runs on the same
machine as the server and the database.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.pg import start_cluster  # noqa: E402
from tests.support.server import note, open_incident, post, serving  # noqa: E402


def run(database: str | None, incidents: int, events: int, clients: int) -> float:
    with tempfile.TemporaryDirectory() as data, serving(Path(data), database) as (server, _):
        names = [f"B-{i}" for i in range(incidents)]
        for name in names:
            open_incident(server, name)
        work = [(name, note(f"n{j}", j)) for j in range(events) for name in names]
        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            statuses = list(pool.map(lambda item: post(server, item[0], item[1]), work))
        elapsed = time.perf_counter() - started
        assert statuses == [200] * len(work), set(statuses)
        return len(work) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=40)
    parser.add_argument("--events", type=int, default=25)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    cluster = start_cluster()
    try:
        for name, url in (("sqlite", None), ("postgresql", cluster.new_database())):
            rate = run(url, args.incidents, args.events, args.clients)
            total = args.incidents * args.events
            print(f"{name:10s} {total} events, {args.clients} clients: {rate:.0f} events/s")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
