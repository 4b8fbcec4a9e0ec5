"""Alerts from a real `misper serve`, on the wall clock, as a control room meets them: an incident
whose initial grading falls due in seconds, a receiver registered by an admin, the due-soon and due
alerts arriving signed (checked with the secret given at registration) within a second of their
instants, the live stream sending them with their sequence numbers, a reconnect with
Last-Event-ID getting what it missed, and an acknowledgement clearing one."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from tests.support.cli import misper
from tests.support.receiver import receiving
from tests.support.server import Server, serving

pytestmark = pytest.mark.server


def key(data: Path, role: str) -> str:
    made = misper("keys", "create", "--name", f"test-{role}", "--role", role, "--force", "suffolk",
                  env={"MISPER_DATA_DIR": str(data)})  # fmt: skip
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def client(server: Server, secret: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"http://127.0.0.1:{server.port}", headers={"Authorization": f"Bearer {secret}"}, timeout=30
    )


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


class Stream:
    """GET /v1/alerts/stream read in a thread, as a screen does: each event's id and data, in
    order. It reconnects with Last-Event-ID whenever nothing came for half a second (so it can be
    stopped, and so reconnecting is tried again and again)."""

    def __init__(self, server: Server, secret: str, last: str | None = None) -> None:
        self.http = httpx.Client(
            base_url=f"http://127.0.0.1:{server.port}",
            headers={"Authorization": f"Bearer {secret}"},
            timeout=httpx.Timeout(10, read=0.5),
        )
        if last is None:  # from the newest alert now on
            newest = self.http.get("/v1/alerts", params={"status": "all", "per_page": 1}).json()["alerts"]
            last = str(newest[0]["seq"]) if newest else "0"
        self.last = last
        self.events: list[dict[str, Any]] = []
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while not self.stop.is_set():
            try:
                with self.http.stream(
                    "GET", "/v1/alerts/stream", headers={"Last-Event-ID": self.last}
                ) as answer:
                    assert answer.status_code == 200
                    assert answer.headers["content-type"].startswith("text/event-stream")
                    self.connections += 1
                    event: dict[str, Any] = {}
                    for line in answer.iter_lines():
                        if line.startswith("id:"):
                            event["id"] = line[3:].strip()
                        elif line.startswith("data:"):
                            event["data"] = json.loads(line[5:].strip())
                        elif line == "" and "data" in event:
                            self.events.append(event)
                            self.last = event["id"]
                            event = {}
            except httpx.ReadTimeout:
                continue

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.events) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.events)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        self.http.close()


def test_a_control_room_is_told_before_a_duty_is_late_and_when_it_goes_due(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    admin = key(data, "admin")
    with (
        serving(data, None, processes=1, dispatcher=True) as (server, _),
        receiving() as receiver,
        client(server, server.key) as desk,
        client(server, admin) as boss,
    ):
        made = boss.post("/v1/subscriptions", json={"url": receiver.url, "kinds": ["due_soon", "due"]})
        assert made.status_code == 201, made.text
        secret = made.json()["secret"]

        stream = Stream(server, server.key)

        # Reported 29 minutes 56 seconds ago and not graded: its initial grading (30 minutes) is
        # due soon now, and due in 4 seconds.
        now = datetime.now(UTC)
        due = now.replace(microsecond=0) + timedelta(seconds=5)
        reported = due - timedelta(minutes=30)
        assert (
            desk.put("/v1/incidents/L-1", json={"child": {"child_id": "C-L1", "age_years": 13}}).status_code
            == 201
        )
        event = {"id": "r", "type": "report_received", "at": iso(reported), "by": "call_handler"}
        appended = desk.post("/v1/incidents/L-1/events", json={"events": [event]})
        assert appended.status_code == 200, appended.text

        got = receiver.wait_for(2, timeout=20)
        kinds = [r.data["type"] for r in got]
        assert kinds == ["alert.due_soon", "alert.due"]
        for r in got:
            assert Webhook(secret).verify(r.body, r.headers) == r.data
            assert r.data["data"]["deadline"] == "initial_grading"
            assert r.data["data"]["owner"] == "call_handler"
        late_by = got[1].at - due.timestamp()
        assert 0 <= late_by < 1.5, f"the due alert came {late_by:.2f} s after its instant"

        streamed = stream.wait_for(2)
        stream.close()
        assert [e["data"]["type"] for e in streamed] == kinds
        assert [e["data"] for e in streamed] == [r.data for r in got]
        assert int(streamed[1]["id"]) > int(streamed[0]["id"])

        # A screen that reconnects after the first alert gets the second from the store.
        again = Stream(server, server.key, last=streamed[0]["id"])
        missed = again.wait_for(1)
        again.close()
        assert [e["id"] for e in missed] == [streamed[1]["id"]]

        listed = desk.get("/v1/alerts", params={"status": "open"}).json()["alerts"]
        due_alert = next(a for a in listed if a["kind"] == "due")
        acked = desk.post(f"/v1/alerts/{due_alert['alert_id']}/ack", json={"note": "Grading now"})
        assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
        still_open = {a["alert_id"] for a in desk.get("/v1/alerts").json()["alerts"]}
        assert due_alert["alert_id"] not in still_open
        trail = desk.get("/v1/incidents/L-1/audit").json()["entries"]
        assert [(e["action"], e["alert_id"], e["key_name"], e["note"]) for e in trail] == [
            ("alert_acknowledged", due_alert["alert_id"], "desk", "Grading now")
        ]
        log = boss.get(f"/v1/subscriptions/{made.json()['id']}/deliveries").json()["deliveries"]
        assert {d["status"] for d in log} == {"delivered"}
