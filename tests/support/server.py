"""A real `misper serve` on loopback, and a client that speaks HTTP/1.1 to it over a plain socket
(so a test can also send what no HTTP library would); helpers to feed a stored incident through it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from tests.support.paths import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    port: int
    key: str
    log: Path

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=30)

    def request(self, method: str, path: str, body: bytes = b"", key: bool = True) -> tuple[int, bytes]:
        headers = (
            f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {len(body)}\r\n"
        )
        if key:
            headers += f"Authorization: Bearer {self.key}\r\nContent-Type: application/json\r\n"
        with self.connect() as sock:
            sock.sendall(headers.encode() + b"\r\n" + body)
            raw = read_all(sock)
        head, _, rest = raw.partition(b"\r\n\r\n")
        status = int(head.split()[1])
        if b"transfer-encoding: chunked" in head.lower():
            rest = unchunk(rest)
        return status, rest

    def wait_ready(self, tries: int = 300) -> None:
        """Until /readyz answers 200 (the policies' embedded tests run at start-up)."""
        for _ in range(tries):
            try:
                if self.request("GET", "/readyz", key=False)[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(self.log.read_text())


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size, _, data = data.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            return out
        out, data = out + data[:n], data[n + 2 :]
    return out


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
    data: Path, database: str | None, processes: int = 4, dispatcher: bool = False
) -> Iterator[tuple[Server, subprocess.Popen[bytes]]]:
    """A `misper serve` on a free port; its alert dispatcher (which reads the wall clock, while
    most tests' incidents are from 2023) only when asked for."""
    env = {
        **os.environ,
        "MISPER_DATA_DIR": str(data),
        "MISPER_SMALL_PROCESSES": str(processes),
        "MISPER_DISPATCHER": str(dispatcher).lower(),
    }
    env.pop("MISPER_DATABASE_URL", None)
    if database:
        env["MISPER_DATABASE_URL"] = database
    key_file = data / "admin.key"
    if not key_file.exists():
        made = subprocess.run(
            [sys.executable, "-m", "misper.api.cli", "keys", "create", "--name", "desk", "--role"]
            + ["control_room", "--force", "suffolk"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        key_file.write_text(made.stdout.strip())
    port = free_port()
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
