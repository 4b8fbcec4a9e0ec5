"""misper serve as operators run it (issue 20): servers starting together on a new database, one
server per SQLite file, workers that go when their master goes, and a 408 for a body that stalls."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.paths import ROOT
from tests.support.server import free_port, serving

pytestmark = pytest.mark.server


def _env(data: Path, **more: str) -> dict[str, str]:
    env = {**os.environ, "MISPER_DATA_DIR": str(data), **more}
    env.pop("MISPER_DATABASE_URL", None)
    return env


# A server's start-up in a process of its own, brought to one instant with the others: it imports
# everything first, then waits for the agreed time, then migrates the database.
STARTS_AT = """
import sys, time
from misper.api.incidents.store import upgrade
url, at = sys.argv[1], float(sys.argv[2])
time.sleep(max(0.0, at - time.time()))
print(len(upgrade(url)))
"""


@pytest.mark.postgresql
def test_servers_starting_together_on_a_new_postgresql_database_all_start(pg_cluster) -> None:  # type: ignore[no-untyped-def]
    """Issue 20: one of two servers crashed (UniqueViolation on pg_type) in 3 of 4 trials: each
    server's start-up brings the new database to the latest migration, all at once."""
    for _ in range(3):
        url = pg_cluster.new_database().replace("postgresql://", "postgresql+psycopg://")
        at = f"{time.time() + 4:.3f}"
        starting = [
            subprocess.Popen(
                [sys.executable, "-c", STARTS_AT, url, at],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        outcomes = [proc.communicate(timeout=120) for proc in starting]
        assert [proc.returncode for proc in starting] == [0, 0, 0, 0], [err[-300:] for _, err in outcomes]
        applied = sorted(int(out) for out, _ in outcomes)
        assert (
            applied[:3] == [0, 0, 0] and applied[3] > 0
        )  # one migrated the database, the others found it done


def test_a_second_server_on_one_sqlite_database_is_refused(tmp_path: Path) -> None:
    """Issue 20: two servers on one SQLite file stalled each other's appends for seconds."""
    with serving(tmp_path, None, processes=1) as (server, _):
        second = subprocess.run(
            [sys.executable, "-m", "misper.api.cli", "serve", "--port", str(free_port())],
            cwd=ROOT,
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 2
        assert "another misper serve is using" in second.stderr and "PostgreSQL" in second.stderr
        assert server.request("GET", "/readyz", key=False)[0] == 200


def test_workers_exit_when_their_master_is_killed(tmp_path: Path) -> None:
    """Issue 20: killing the --workers N master left its workers serving the port, and a restart
    failed with "address already in use"."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "misper.api.cli", "serve", "--port", str(port), "--workers", "2"],
        cwd=ROOT,
        env=_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        for _ in range(600):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if b" 200 " in s.recv(100):
                        break
            except OSError:
                time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                time.sleep(0.2)
            except OSError:
                break
        else:
            pytest.fail("a worker still serves the port 15 s after its master was killed")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_a_body_that_stalls_after_its_headers_is_answered_408(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Issue 20: the connection was closed after 10 s with no answer."""
    monkeypatch.setenv("MISPER_REQUEST_SECONDS", "1")
    with serving(tmp_path, None, processes=1) as (server, _):
        with server.connect() as sock:
            head = (
                "POST /v1/evaluations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Authorization: Bearer {server.key}\r\nContent-Length: 100\r\n\r\n"
            )
            sock.sendall(head.encode() + b'{"incident')
            started = time.monotonic()
            answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408 ") and b"/problems/request_timeout" in answer
        assert 0.8 < time.monotonic() - started < 5
