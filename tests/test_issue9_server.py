"""Issue 9 against a real `misper serve`, on SQLite and on PostgreSQL: 8 clients appending 500
events to one incident in parallel lose none and duplicate none, and a server killed with
SIGKILL in the middle of a stream of appends keeps every event it acknowledged."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from tests.conftest import ROOT
from tests.test_issue7_server import Server, _free_port

REPORT = {"id": "r", "type": "report_received", "at": "2023-07-11T19:40:00+01:00", "by": "call_handler"}


def note(event_id: str, minute: int) -> dict[str, object]:
    at = (datetime.fromisoformat(str(REPORT["at"])) + timedelta(minutes=minute)).isoformat()
    return {
        "id": event_id,
        "type": "note",
        "at": at,
        "by": "frontline_officer",
        "text": "Checked the address.",
    }


@contextmanager
def serving(
    data: Path, database: str | None, processes: int = 4
) -> Iterator[tuple[Server, subprocess.Popen[bytes]]]:
    env = {**os.environ, "MISPER_DATA_DIR": str(data), "MISPER_SMALL_PROCESSES": str(processes)}
    env.pop("MISPER_DATABASE_URL", None)
    if database:
        env["MISPER_DATABASE_URL"] = database
    key_file = data / "admin.key"
    if not key_file.exists():
        made = subprocess.run(
            [sys.executable, "-m", "misper.api.cli", "keys", "create", "--name", "desk", "--role"]
            + ["control_room"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        key_file.write_text(made.stdout.strip())
    port = _free_port()
    log = data / f"server-{port}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "misper.api.cli", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    server = Server(port, key_file.read_text(), log)
    try:
        server.wait_ready(600)
        yield server, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


def post(server: Server, incident: str, *events: dict[str, object]) -> int:
    return server.request(
        "POST", f"/v1/incidents/{incident}/events", json.dumps({"events": list(events)}).encode()
    )[0]


def stored_ids(server: Server, incident: str) -> list[str]:
    status, body = server.request(
        "GET", f"/v1/incidents/{incident}/evaluation?as_of=2023-07-20T00:00:00%2B01:00"
    )
    assert status == 200, body
    status, body = server.request("GET", f"/v1/incidents/{incident}/decisions?per_page=200")
    return list(json.loads(body)["decisions"][-1]["event_ids"])


def open_incident(server: Server, incident: str) -> None:
    child = json.dumps({"child": {"child_id": "K-1", "age_years": 14}}).encode()
    assert server.request("PUT", f"/v1/incidents/{incident}", child)[0] == 201
    assert post(server, incident, REPORT) == 200


def test_eight_clients_append_500_events_to_one_incident(tmp_path: Path, database: str | None) -> None:
    with serving(tmp_path, database) as (server, _):
        open_incident(server, "PAR-1")
        events = [note(f"n{i}", i) for i in range(500)]
        started = time.perf_counter()

        def client(k: int) -> list[int]:
            mine = events[k::8]
            # Each client sends its events, then sends them all again: a retry is harmless.
            return [post(server, "PAR-1", e) for e in mine] + [post(server, "PAR-1", e) for e in mine]

        with ThreadPoolExecutor(8) as pool:
            statuses = [s for result in pool.map(client, range(8)) for s in result]
        elapsed = time.perf_counter() - started
        assert statuses == [200] * 1000
        ids = stored_ids(server, "PAR-1")
    assert sorted(ids) == sorted(["r", *(e["id"] for e in events)])  # none lost, none twice
    print(
        f"\n{'postgresql' if database else 'sqlite'}: 1000 appends (500 new) by 8 clients in {elapsed:.1f} s"
    )


def test_a_killed_server_keeps_every_event_it_acknowledged(tmp_path: Path, database: str | None) -> None:
    acknowledged: list[str] = []
    with serving(tmp_path, database) as (server, proc):
        open_incident(server, "KILL-1")
        stop = threading.Event()

        def stream() -> None:
            for i in range(5_000):
                if stop.is_set():
                    return
                try:
                    if post(server, "KILL-1", note(f"k{i}", i % 10_000)) == 200:
                        acknowledged.append(f"k{i}")
                except (OSError, IndexError):  # no answer, or a cut-off one: never acknowledged
                    return

        writers = [threading.Thread(target=stream) for _ in range(1)]
        for w in writers:
            w.start()
        while len(acknowledged) < 60:
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        stop.set()
        for w in writers:
            w.join(timeout=30)
    assert len(acknowledged) >= 60
    with serving(tmp_path, database) as (server, _):
        kept = set(stored_ids(server, "KILL-1"))
    assert set(acknowledged) <= kept
    assert len(kept) - 1 - len(acknowledged) <= 1  # at most the one in flight was stored unacknowledged


def test_clients_creating_one_incident_at_once(tmp_path: Path, database: str | None) -> None:
    """Worker processes race to create the incident: one creates it, the others save their
    profile as the next versions; none fails."""
    with serving(tmp_path, database) as (server, _):

        def create(age: int) -> int:
            body = json.dumps({"child": {"child_id": "K-1", "age_years": age}}).encode()
            return server.request("PUT", "/v1/incidents/RACE-1", body)[0]

        with ThreadPoolExecutor(8) as pool:
            statuses = sorted(pool.map(create, range(9, 17)))
    assert statuses.count(201) == 1 and statuses.count(200) == 7, statuses
