"""Alerts raised for stored incidents, on SQLite and on a real PostgreSQL server, with the clock
set by the test (hours of policy time in milliseconds): a duty going due soon, going due, a new
finding, escalation when nobody acknowledges, one alert per transition however often or by how
many dispatchers it is seen, a late-recorded incident alerted at once, nothing for a closed one,
and an acknowledgement in the incident's audit trail."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from misper.api.alerts import service
from misper.api.alerts.models import SubscriptionAsk
from misper.api.incidents import service as incidents
from misper.api.incidents.store import IncidentStore, Scope, upgrade
from misper.engine import default_registry

REGISTRY = default_registry()
REPORT = datetime.fromisoformat("2023-07-11T19:40:00+01:00")
T0 = REPORT.timestamp()
MINUTE = 60.0


@pytest.fixture
def store(tmp_path: Path, database: str | None) -> IncidentStore:
    url = database or f"sqlite:///{tmp_path / 'misper.db'}"
    upgrade(url)
    return IncidentStore(url, Scope("suffolk"))


def at(minutes: float) -> str:
    return (REPORT + timedelta(minutes=minutes)).isoformat()


def open_incident(store: IncidentStore, incident_id: str, events: list[dict[str, Any]], now: float) -> None:
    profile = {"child": {"child_id": f"C-{incident_id}", "age_years": 14}}
    incidents.put_incident(store, REGISTRY, incident_id, json.dumps(profile).encode(), service.text(now))
    append(store, incident_id, events, now)


def append(store: IncidentStore, incident_id: str, events: list[dict[str, Any]], now: float) -> None:
    incidents.append_events(
        store, REGISTRY, incident_id, json.dumps({"events": events}).encode(), service.text(now)
    )


REPORTED = {"id": "r", "type": "report_received", "at": at(0), "by": "call_handler"}


def receiver_ask(**asked: Any) -> SubscriptionAsk:
    return SubscriptionAsk.model_validate_json(json.dumps(asked))


def alerts(store: IncidentStore, status: str = "all") -> list[dict[str, Any]]:
    return json.loads(service.list_alerts(store, status, 1, 200))["alerts"][::-1]


def kinds(found: list[dict[str, Any]]) -> list[tuple[str, str | None, str | None]]:
    return [(a["kind"], a["deadline"], a["owner"]) for a in found]


def test_a_duty_alerts_its_owner_when_due_soon_then_when_due_then_escalates(store: IncidentStore) -> None:
    open_incident(store, "A-1", [REPORTED], T0 + MINUTE)
    assert service.raise_due(store, REGISTRY, T0 + MINUTE) == 0
    # The next check is when the evaluation next changes: initial grading due soon at 75% of 30 min.
    assert service.wake_at(store) == T0 + 22.5 * MINUTE

    service.raise_due(store, REGISTRY, T0 + 22.5 * MINUTE)
    assert kinds(alerts(store)) == [("due_soon", "initial_grading", "call_handler")]
    assert service.raise_due(store, REGISTRY, T0 + 23 * MINUTE) == 0  # seen again: no second alert

    service.raise_due(store, REGISTRY, T0 + 30 * MINUTE)
    due = alerts(store)[-1]
    assert (due["kind"], due["deadline"], due["severity"]) == ("due", "initial_grading", "breach")
    assert due["due_at"] == "2023-07-11T20:10:00+01:00" and due["clause"] == "G2"
    assert "has not been recorded" in due["message"]

    # Nobody acknowledges it in the policy's 10 minutes: the control-room supervisor is told.
    service.raise_due(store, REGISTRY, T0 + 39 * MINUTE)
    assert [a["kind"] for a in alerts(store)].count("escalated") == 0
    service.raise_due(store, REGISTRY, T0 + 40 * MINUTE)
    escalated = [a for a in alerts(store) if a["kind"] == "escalated"]
    assert [(a["owner"], a["escalates"]) for a in escalated] == [("control_room_supervisor", due["alert_id"])]
    assert escalated[0]["message"].startswith("Escalated: nobody acknowledged within 10 minutes")
    # ... and, unacknowledged for 15 more minutes, the inspector.
    service.raise_due(store, REGISTRY, T0 + 55 * MINUTE)
    chain = [(a["owner"], a["escalates"]) for a in alerts(store) if a["kind"] == "escalated"]
    assert chain == [("control_room_supervisor", due["alert_id"]), ("inspector", escalated[0]["alert_id"])]


def test_an_acknowledged_alert_stops_escalating_and_is_in_the_audit_trail(store: IncidentStore) -> None:
    open_incident(store, "A-2", [REPORTED], T0 + MINUTE)
    service.raise_due(store, REGISTRY, T0 + 30 * MINUTE)
    due = next(a for a in alerts(store) if a["kind"] == "due")
    answer = json.loads(
        service.acknowledge(store, due["alert_id"], "duty-inspector", "on it", T0 + 31 * MINUTE)
    )
    assert answer["status"] == "acknowledged" and answer["acknowledged_by"] == "duty-inspector"
    again = json.loads(service.acknowledge(store, due["alert_id"], "someone-else", None, T0 + 32 * MINUTE))
    assert again["acknowledged_by"] == "duty-inspector"  # the first acknowledgement stands
    service.raise_due(store, REGISTRY, T0 + 2 * 60 * MINUTE)
    assert not [a for a in alerts(store) if a["escalates"] == due["alert_id"]]
    assert due["alert_id"] not in {a["alert_id"] for a in alerts(store, "open")}
    trail = json.loads(service.audit_trail(store, "A-2", 1, 50))["entries"]
    assert trail == [
        {
            "at": service.text(T0 + 31 * MINUTE),
            "key_name": "duty-inspector",
            "action": "alert_acknowledged",
            "alert_id": due["alert_id"],
            "note": "on it",
        }
    ]
    with pytest.raises(service.UnknownAlert):
        service.acknowledge(store, "al_nope", "k", None, T0)


def test_a_late_recorded_incident_raises_its_due_alerts_at_once_and_no_due_soon(store: IncidentStore) -> None:
    now = T0 + 2 * 60 * MINUTE
    open_incident(store, "A-3", [REPORTED], now)
    assert service.wake_at(store) == now  # the append asks for a check at once
    service.raise_due(store, REGISTRY, now)
    found = kinds(alerts(store))
    assert ("due", "initial_grading", "call_handler") in found
    assert not [k for k in found if k[0] == "due_soon" and k[1] == "initial_grading"]


def test_a_new_finding_of_severity_breach_or_action_alerts_the_overseeing_role(store: IncidentStore) -> None:
    graded_low = {"id": "g", "type": "risk_graded", "at": at(5), "by": "call_handler", "grade": "low"}
    open_incident(store, "A-4", [REPORTED, graded_low], T0 + 6 * MINUTE)
    service.raise_due(store, REGISTRY, T0 + 6 * MINUTE)
    findings = [a for a in alerts(store) if a["kind"] == "finding"]
    assert {(a["code"], a["clause"], a["severity"]) for a in findings} >= {
        ("GRADE_NOT_ALLOWED", "G1", "breach")
    }
    assert {a["owner"] for a in findings} == {"inspector"}  # the medium-grade oversight role


def test_a_closed_incident_raises_no_more_alerts(store: IncidentStore) -> None:
    open_incident(store, "A-5", [REPORTED], T0 + MINUTE)
    closing = [
        {"id": "f", "type": "found", "at": at(2), "by": "frontline_officer"},
        {"id": "c", "type": "closed", "at": at(3)},
    ]
    append(store, "A-5", closing, T0 + 3 * MINUTE)
    service.raise_due(store, REGISTRY, T0 + 3 * 24 * 60 * MINUTE)
    assert alerts(store) == [] and service.wake_at(store) is None


def test_each_transition_is_one_alert_however_many_dispatchers_see_it(store: IncidentStore) -> None:
    for n in range(12):
        open_incident(store, f"M-{n}", [REPORTED], T0 + MINUTE)
    service.raise_due(store, REGISTRY, T0 + MINUTE)
    # Due, then escalated twice, then everything later at once: checks and escalations of
    # several dispatchers interleave (row claims and the alert lock must not deadlock).
    moments = [T0 + 30 * MINUTE, T0 + 40 * MINUTE, T0 + 55 * MINUTE, T0 + 3 * 60 * MINUTE]
    for now in moments:
        threads = [threading.Thread(target=service.raise_due, args=(store, REGISTRY, now)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    found = alerts(store)
    assert len({a["alert_id"] for a in found}) == len(found)
    assert sorted(a["seq"] for a in found) == [a["seq"] for a in found]
    per_incident = {a["incident_id"]: 0 for a in found}
    for a in found:
        if (a["kind"], a["deadline"]) == ("due", "initial_grading"):
            per_incident[a["incident_id"]] += 1
    assert per_incident == {f"M-{n}": 1 for n in range(12)}


def test_a_receivers_filters_choose_its_deliveries(store: IncidentStore) -> None:
    def subscribe(**asked: Any) -> str:
        made = json.loads(
            service.subscribe(store, receiver_ask(url="http://127.0.0.1:9/x", **asked), "admin", T0)
        )
        assert made["secret"].startswith("whsec_")
        return str(made["id"])

    everything = subscribe()
    inspectors = subscribe(roles=["inspector"])
    soon = subscribe(kinds=["due_soon"])
    open_incident(store, "A-6", [REPORTED], T0 + MINUTE)
    service.raise_due(store, REGISTRY, T0 + 22.5 * MINUTE)
    service.raise_due(store, REGISTRY, T0 + 2 * 60 * MINUTE)
    raised = alerts(store)

    def delivered(subscription_id: str) -> set[str]:
        log = json.loads(service.delivery_log(store, subscription_id, 1, 200))["deliveries"]
        return {d["alert_id"] for d in log}

    assert delivered(everything) == {a["alert_id"] for a in raised}
    assert delivered(inspectors) == {a["alert_id"] for a in raised if a["owner"] == "inspector"}
    assert delivered(soon) == {a["alert_id"] for a in raised if a["kind"] == "due_soon"}
    assert delivered(inspectors) and delivered(soon)


def test_an_alert_of_an_incident_closed_since_is_not_escalated(store: IncidentStore) -> None:
    open_incident(store, "A-7", [REPORTED], T0 + MINUTE)
    service.raise_due(store, REGISTRY, T0 + 30 * MINUTE)
    assert [a["kind"] for a in alerts(store)] == ["due"]
    closing = [
        {"id": "f", "type": "found", "at": at(31), "by": "frontline_officer"},
        {"id": "c", "type": "closed", "at": at(32)},
    ]
    append(store, "A-7", closing, T0 + 32 * MINUTE)
    service.raise_due(store, REGISTRY, T0 + 3 * 60 * MINUTE)
    assert [a["kind"] for a in alerts(store)] == ["due"]
    assert service.wake_at(store) is None
