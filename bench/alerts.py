"""Alerts, measured as a deployment meets them, and written into BENCHMARKS.md (its "Alerts"
section, which bench/run.py keeps when it rewrites the rest).

Run: .venv/bin/python bench/alerts.py [--incidents 1000] [--quiet 9000] [--out BENCHMARKS.md]
(about 6 minutes, and 1 more per 10,000 quiet incidents)

Method. Everything runs on this machine, on loopback, on the wall clock: real `misper serve`
processes with their dispatchers, a throwaway PostgreSQL cluster (tests/support/pg.py) or SQLite,
and a receiver (a threaded http.server with a listen backlog of 128: the standard library's 5
drops a burst of connections, whose SYNs the client resends a second later) that notes the
instant each request arrives.

1. Latency. One server (SQLite, 1 worker process per lane), N open incidents created over HTTP,
   each reported so that its initial grading falls due at a distinct instant spread over the
   next 60 seconds (after all are created); a receiver registered for `due` alerts. Latency is
   the receipt instant less the due instant, per alert: p50, p99 and the worst. With --quiet Q,
   Q more open incidents are created first, reported as they are created, so that none of their
   duties falls due while the N are measured: the dispatcher works among N + Q open incidents.
2. Two servers on one PostgreSQL database, N incidents falling due over 30 seconds, a receiver
   answering 200: once as they are, once with one server SIGKILLed halfway through the due
   instants (and not restarted). Counted: distinct alerts received, repeats (the same
   webhook-id received more than once: an attempt the kill cut short, made again after its
   20-second lease), and alerts never received.
3. A receiver that answers 500 three times and then 200: the attempt that delivered, and the
   time from the first attempt. A receiver down (nothing listening) for 60 seconds while alerts
   fall due, then back: how long after it came back every alert had arrived.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.pg import start_cluster  # noqa: E402
from tests.support.receiver import Receiver, receiving  # noqa: E402
from tests.support.server import free_port  # noqa: E402

BEGIN, END = "<!-- bench/alerts.py -->", "<!-- /bench/alerts.py -->"


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")


class Fleet:
    """misper servers on one data folder (and database), with a control-room and an admin key."""

    def __init__(self, data: Path, database: str | None) -> None:
        self.data, self.env = data, {**os.environ, "MISPER_DATA_DIR": str(data), "MISPER_DISPATCHER": "true"}
        self.env.pop("MISPER_DATABASE_URL", None)
        if database:
            self.env["MISPER_DATABASE_URL"] = database
        self.keys = {role: self._key(role) for role in ("control_room", "admin")}
        self.servers: list[tuple[int, subprocess.Popen[bytes]]] = []

    def _key(self, role: str) -> str:
        made = subprocess.run(
            [
                sys.executable,
                "-m",
                "misper.api.cli",
                "keys",
                "create",
                "--name",
                f"bench-{role}",
                "--role",
                role,
                *(["--force", "suffolk"] if role != "metrics" else []),
            ],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return made.stdout.strip()

    def start(self) -> int:
        port = free_port()
        log = open(self.data / f"server-{port}.log", "w")  # noqa: SIM115 (kept open while it runs)
        proc = subprocess.Popen(
            [sys.executable, "-m", "misper.api.cli", "serve", "--port", str(port)],
            env=self.env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        for _ in range(600):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        self.servers.append((port, proc))
        return port

    def client(self, port: int, role: str = "control_room") -> httpx.Client:
        return httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {self.keys[role]}"},
            timeout=60,
        )

    def stop(self) -> None:
        for _, proc in self.servers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(30)


def open_incidents(ports: list[int], fleet: Fleet, due: list[float], prefix: str) -> None:
    """One incident per due instant, reported 30 minutes before it (initial grading: 30 minutes),
    spread over the servers, 8 clients at once."""
    clients = [fleet.client(p) for p in ports]

    def one(n: int) -> None:
        http = clients[n % len(clients)]
        incident = f"{prefix}-{n}"
        assert http.put(
            f"/v1/incidents/{incident}", json={"child": {"child_id": f"K-{incident}", "age_years": 14}}
        ).status_code in (200, 201)
        event = {"id": "r", "type": "report_received", "at": iso(due[n] - 1800), "by": "call_handler"}
        answer = http.post(f"/v1/incidents/{incident}/events", json={"events": [event]})
        assert answer.status_code == 200, answer.text

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(len(due))))
    for c in clients:
        c.close()


def subscribe(fleet: Fleet, port: int, url: str) -> None:
    with fleet.client(port, "admin") as admin:
        made = admin.post("/v1/subscriptions", json={"url": url, "kinds": ["due"]})
        assert made.status_code == 201, made.text


def wait_for(receiver: Receiver, alerts: int, timeout: float) -> float:
    """Seconds until the receiver holds ``alerts`` distinct alerts (or the timeout)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with receiver.lock:
            if len({r.data["data"]["alert_id"] for r in receiver.received}) >= alerts:
                break
        time.sleep(0.1)
    return time.monotonic() - started


def latency(incidents: int, quiet: int = 0) -> list[str]:
    with tempfile.TemporaryDirectory() as folder, receiving() as receiver:
        data = Path(folder) / "data"
        data.mkdir(mode=0o700)
        fleet = Fleet(data, None)
        try:
            port = fleet.start()
            subscribe(fleet, port, receiver.url)
            created = time.monotonic()
            if quiet:
                # Reported now: their first duty falls due in 30 minutes, after the measurement.
                open_incidents([port], fleet, [time.time() + 1800] * quiet, "Q")
            start = time.time() + 20 + incidents * 0.02  # after every incident is created
            due = [float(int(start + 60 * n / incidents)) for n in range(incidents)]
            open_incidents([port], fleet, due, "L")
            made = time.monotonic() - created
            wait_for(receiver, incidents, max(due) - time.time() + 60)
        finally:
            fleet.stop()
    by_incident = {r.data["data"]["incident_id"]: r.at for r in receiver.received}
    late = sorted(by_incident[f"L-{n}"] - due[n] for n in range(incidents) if f"L-{n}" in by_incident)
    missing = incidents - len(late)
    q = statistics.quantiles(late, n=100) if len(late) > 1 else late * 99
    among = f", among {incidents + quiet:,} open incidents ({quiet:,} with nothing falling due meanwhile)"
    return [
        f"{incidents:,} incidents on one server (SQLite; all created over HTTP in {made:.1f} s), their "
        f"initial gradings falling due over 60 s{among if quiet else ''}; `due` alerts to a local receiver.",
        "",
        "| alerts received | missing | p50 (s) | p99 (s) | worst (s) |",
        "|---|---|---|---|---|",
        f"| {len(late):,} | {missing} | {q[49]:.3f} | {q[98]:.3f} | {late[-1]:.3f} |",
    ]


def two_servers(incidents: int, kill: bool) -> str:
    cluster = start_cluster()
    try:
        with tempfile.TemporaryDirectory() as folder, receiving() as receiver:
            data = Path(folder) / "data"
            data.mkdir(mode=0o700)
            fleet = Fleet(data, cluster.new_database())
            try:
                ports = [fleet.start(), fleet.start()]
                subscribe(fleet, ports[0], receiver.url)
                start = time.time() + 15 + incidents * 0.02
                due = [float(int(start + 30 * n / incidents)) for n in range(incidents)]
                open_incidents(ports, fleet, due, "P")
                if kill:
                    time.sleep(max(0.0, due[len(due) // 2] - time.time()))
                    _, victim = fleet.servers[1]
                    os.killpg(victim.pid, signal.SIGKILL)
                    victim.wait(30)
                wait_for(receiver, incidents, max(due) - time.time() + 120)
            finally:
                fleet.stop()
        ids = Counter(r.headers["webhook-id"] for r in receiver.received)
        alerts = {r.data["data"]["alert_id"] for r in receiver.received}
        repeats = sum(c - 1 for c in ids.values())
        one_id = all(
            len({r.headers["webhook-id"] for r in receiver.received if r.data["data"]["alert_id"] == a}) == 1
            for a in alerts
        )
        what = "one SIGKILLed halfway" if kill else "both running"
        first = sorted({r.data["data"]["alert_id"]: r.at for r in reversed(receiver.received)}.values())
        last_in = first[-1] - max(due) if first else float("nan")
        return (
            f"| {what} | {incidents:,} | {len(alerts):,} | {incidents - len(alerts)} | {repeats} | "
            f"{'yes' if one_id else 'no'} | {last_in:.2f} |"
        )
    finally:
        cluster.stop()


def failing_receivers() -> list[str]:
    lines = []
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "data"
        data.mkdir(mode=0o700)
        fleet = Fleet(data, None)
        try:
            port = fleet.start()
            with receiving(500, 500, 500) as receiver:
                subscribe(fleet, port, receiver.url)
                due = [float(int(time.time() + 5))]
                open_incidents([port], fleet, due, "F")
                got = receiver.wait_for(4, 120)
                lines.append(
                    f"| answers 500 three times, then 200 | delivered on attempt {len(got)} | "
                    f"{got[-1].at - got[0].at:.1f} s after the first attempt |"
                )
            with fleet.client(port, "admin") as admin:
                for s in admin.get("/v1/subscriptions").json()["subscriptions"]:
                    admin.delete(f"/v1/subscriptions/{s['id']}")
            back_port = free_port()
            subscribe(fleet, port, f"http://127.0.0.1:{back_port}/hook")
            due = [float(int(time.time() + 5 + n)) for n in range(20)]
            open_incidents([port], fleet, due, "D")
            time.sleep(max(0.0, due[0] + 60 - time.time()))  # nobody listens for a minute
            with receiving(port=back_port) as receiver:
                back = time.monotonic()
                took = wait_for(receiver, 20, 180)
                lines.append(
                    f"| down (nothing listening) for 60 s while 20 alerts fell due | all 20 received "
                    f"{'' if took < 180 else 'NOT '}| {time.monotonic() - back:.1f} s after it came back |"
                )
        finally:
            fleet.stop()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--quiet", type=int, default=0, help="more open incidents, with nothing due")
    parser.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    args = parser.parse_args()
    started = datetime.now().astimezone()
    section = [
        BEGIN,
        "## Alerts (loopback, wall clock)",
        "",
        "Measured by `.venv/bin/python bench/alerts.py "
        f"--incidents {args.incidents} --quiet {args.quiet}` on {started:%Y-%m-%d %H:%M %Z}; the method "
        "is its docstring.",
        "",
        "### From a duty's due instant to its alert at a receiver",
        "",
        *latency(args.incidents, args.quiet),
        "",
        "### Two servers on one PostgreSQL database",
        "",
        "| servers | alerts due | distinct alerts received | never received | repeats "
        "| one webhook-id per alert | last alert in, after the last due instant (s) |",
        "|---|---|---|---|---|---|---|",
        two_servers(args.incidents, kill=False),
        two_servers(args.incidents, kill=True),
        "",
        "### Receivers that fail",
        "",
        "| receiver | outcome | when |",
        "|---|---|---|",
        *failing_receivers(),
        END,
    ]
    path = Path(args.out)
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    block = "\n".join(section)
    if BEGIN in text:
        text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")
    print(block)


if __name__ == "__main__":
    main()
