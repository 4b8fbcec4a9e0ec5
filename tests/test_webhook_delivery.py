"""Alerts delivered by webhook to a real HTTP receiver on loopback, by the dispatcher with its clock
set by the test: signed as the Standard Webhooks specification says (checked with the receiver's
copy of the secret), retried with backoff under one webhook-id until the receiver takes it,
marked failed after the retry window, and made again by another dispatcher when the one that
claimed an attempt died before recording it."""

from __future__ import annotations

import asyncio
import json
import random
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from misper.api.alerts import service, webhooks
from misper.api.alerts.dispatcher import Dispatcher
from misper.api.alerts.models import SubscriptionAsk
from misper.api.alerts.work import in_threads
from misper.api.incidents import service as incidents
from misper.api.incidents.store import IncidentStore, Scope, upgrade
from misper.engine import default_registry
from tests.support.receiver import receiving
from tests.support.server import free_port

REGISTRY = default_registry()


@pytest.fixture
def store(tmp_path: Path, database: str | None) -> IncidentStore:
    url = database or f"sqlite:///{tmp_path / 'misper.db'}"
    upgrade(url)
    return IncidentStore(url, Scope("suffolk"))


class Clock:
    """The dispatcher's clock: now, moved on by the test."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


def subscribe(store: IncidentStore, url: str, **filters: Any) -> dict[str, Any]:
    asked = SubscriptionAsk.model_validate_json(json.dumps({"url": url, **filters}))
    return json.loads(service.subscribe(store, asked, "test-admin", time.time()))  # type: ignore[no-any-return]


def overdue_incident(store: IncidentStore, incident_id: str, now: float) -> None:
    """An incident reported 40 minutes before ``now`` with nothing done: its initial grading went
    due 10 minutes ago (recorded late, so alerted at once)."""
    reported = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now - 40 * 60))
    profile = {"child": {"child_id": "C-1", "age_years": 14}}
    incidents.put_incident(store, REGISTRY, incident_id, json.dumps(profile).encode(), service.text(now))
    events = {"events": [{"id": "r", "type": "report_received", "at": reported, "by": "call_handler"}]}
    incidents.append_events(store, REGISTRY, incident_id, json.dumps(events).encode(), service.text(now))


def run_pass(store: IncidentStore, clock: Clock, retry_seconds: float = 3600) -> None:
    async def go() -> None:
        dispatcher = Dispatcher(in_threads(store, REGISTRY, retry_seconds), clock)
        async with webhooks.client() as http:
            await dispatcher.once(http)
            await dispatcher.drain()

    asyncio.run(go())


def log_of(store: IncidentStore, subscription_id: str) -> list[dict[str, Any]]:
    return json.loads(service.delivery_log(store, subscription_id, 1, 200))["deliveries"]  # type: ignore[no-any-return]


def test_a_delivery_is_signed_and_verifies_with_the_secret_given_once(store: IncidentStore) -> None:
    clock = Clock()
    with receiving() as receiver:
        made = subscribe(store, receiver.url, kinds=["due"], roles=["call_handler"])
        overdue_incident(store, "W-1", clock.now)
        run_pass(store, clock)
        [got] = receiver.wait_for(1)
    assert Webhook(made["secret"]).verify(got.body, got.headers) == got.data
    assert got.data["type"] == "alert.due"
    data = got.data["data"]
    assert (data["incident_id"], data["deadline"], data["owner"], data["severity"]) == (
        "W-1",
        "initial_grading",
        "call_handler",
        "breach",
    )
    assert data["escalates"] is None and data["clause"] == "G2" and data["code"] == "INITIAL_GRADING_LATE"
    assert got.headers["webhook-id"] == log_of(store, made["id"])[0]["webhook_id"]
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "A" * 43 + "=").verify(got.body, got.headers)
    assert log_of(store, made["id"])[0]["status"] == "delivered"


def test_a_receiver_that_fails_twice_gets_the_alert_on_the_third_attempt_under_one_webhook_id(
    store: IncidentStore,
) -> None:
    clock = Clock()
    with receiving(500, 503) as receiver:
        made = subscribe(store, receiver.url, kinds=["due"], roles=["call_handler"])
        overdue_incident(store, "W-2", clock.now)
        run_pass(store, clock)
        first = service.wake_at(store)
        assert first is not None and first - clock.now <= 10  # the first retry within 10 seconds
        for _ in range(2):
            clock.now = service.wake_at(store) or clock.now
            run_pass(store, clock)
        got = receiver.wait_for(3)
    assert len({r.headers["webhook-id"] for r in got}) == 1
    [delivery] = log_of(store, made["id"])
    assert delivery["status"] == "delivered"
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 503, 200]
    assert delivery["attempts"][0]["error"] == "answered 500"
    assert got[-1].at - got[0].at < 120


def test_a_receiver_down_for_a_minute_gets_everything_once_it_is_back(store: IncidentStore) -> None:
    clock = Clock()
    port = free_port()
    made = subscribe(store, f"http://127.0.0.1:{port}/hook")
    for n in range(3):
        overdue_incident(store, f"W-3-{n}", clock.now)
    started = clock.now
    run_pass(store, clock)
    while clock.now - started < 60:  # nobody listens on the port for a minute
        clock.now = max(clock.now + 1, service.wake_at(store) or clock.now)
        run_pass(store, clock)
    raised = json.loads(service.list_alerts(store, "all", 1, 200))["alerts"]
    assert raised and all(d["status"] == "pending" for d in log_of(store, made["id"]))
    with receiving(port=port) as receiver:
        while any(d["status"] == "pending" for d in log_of(store, made["id"])):
            assert clock.now - started < 200
            clock.now = max(clock.now + 1, service.wake_at(store) or clock.now)
            run_pass(store, clock)
        got = receiver.wait_for(len(raised))
    assert sorted(r.data["data"]["alert_id"] for r in got) == sorted(a["alert_id"] for a in raised)
    assert all(d["status"] == "delivered" for d in log_of(store, made["id"]))


def test_a_delivery_that_keeps_failing_is_marked_failed_after_the_retry_window(store: IncidentStore) -> None:
    clock = Clock()
    with receiving(*[500] * 50) as receiver:
        made = subscribe(store, receiver.url, kinds=["due"], roles=["call_handler"])
        overdue_incident(store, "W-4", clock.now)
        started = clock.now
        run_pass(store, clock, retry_seconds=120)
        while any(d["status"] == "pending" for d in log_of(store, made["id"])):
            run_pass(store, clock, retry_seconds=120)
            clock.now = max(clock.now + 1, service.wake_at(store) or clock.now)
            assert clock.now - started < 400
    [delivery] = log_of(store, made["id"])
    assert delivery["status"] == "failed"
    assert 3 <= len(delivery["attempts"]) <= 10
    instants = [datetime.fromisoformat(a["at"]).timestamp() for a in delivery["attempts"]]
    waits = [b - a for a, b in zip(instants, instants[1:], strict=False)]
    assert all(w >= 2 for w in waits) and waits[-1] > waits[0]  # spread by the backoff, growing
    assert len(receiver.received) == len(delivery["attempts"])


def test_an_attempt_claimed_by_a_dispatcher_that_died_is_made_by_another_after_its_lease(
    store: IncidentStore,
) -> None:
    clock = Clock()
    with receiving() as receiver:
        made = subscribe(store, receiver.url, kinds=["due"], roles=["call_handler"])
        overdue_incident(store, "W-5", clock.now)
        service.raise_due(store, REGISTRY, clock.now)
        claimed = service.claim_deliveries(store, clock.now)  # ... and the server is killed
        assert len(claimed) == 1
        run_pass(store, clock)
        assert receiver.received == []  # still its claim
        clock.now += service.LEASE
        run_pass(store, clock)
        [got] = receiver.wait_for(1)
    assert got.headers["webhook-id"] == claimed[0]["webhook_id"]
    assert log_of(store, made["id"])[0]["status"] == "delivered"


def test_the_backoff_doubles_to_a_cap_with_jitter() -> None:
    rng = random.Random(7)
    delays = [service.retry_delay(n, rng) for n in range(1, 10)]
    assert 2.5 <= delays[0] <= 5 and 5 <= delays[1] <= 10 and 10 <= delays[2] <= 20
    assert all(30 <= d <= 60 for d in delays[5:])
    assert len({round(d, 6) for d in delays[5:]}) > 1  # jittered, not in lockstep


@pytest.mark.cli
def test_misper_alerts_run_delivers_alone_and_stops_on_sigterm(tmp_path: Path) -> None:
    """A deployment that runs the dispatcher apart from its servers: `misper alerts run` on the
    data folder's database raises and delivers, and stops cleanly when told to."""
    import os
    import signal
    import subprocess
    import sys

    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    url = f"sqlite:///{data / 'misper.db'}"
    upgrade(url)
    store = IncidentStore(url, Scope("suffolk"))
    with receiving() as receiver:
        made = subscribe(store, receiver.url, kinds=["due"])
        overdue_incident(store, "W-6", time.time())
        proc = subprocess.Popen(
            [sys.executable, "-m", "misper.api.cli", "alerts", "run"],
            env={**os.environ, "MISPER_DATA_DIR": str(data)},
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            [got] = receiver.wait_for(1, timeout=30)
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert Webhook(made["secret"]).verify(got.body, got.headers)["data"]["incident_id"] == "W-6"
    assert "alert dispatcher stopped" in err
