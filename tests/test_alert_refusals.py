"""The alert routes refuse what they cannot use, naming the field: a receiver that is not an http(s)
URL or holds a password, a role or kind that does not exist, a note too long, an alert or
receiver that does not exist, a Last-Event-ID that is not a sequence number; and each route takes
only the roles the issue gives it."""

from __future__ import annotations

import pytest

from tests.support.api import PROBLEM, Api


def fields(answer) -> dict[str, str]:  # type: ignore[no-untyped-def]
    assert answer.headers["content-type"] == PROBLEM, answer.text
    return {e["field"]: e["message"] for e in answer.json()["errors"]}


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"url": "ftp://cad.example/alerts"}, "url", "http:// or https://"),
        ({"url": "https://user:pw@cad.example/alerts"}, "url", "password"),
        ({"url": "https://cad.example/alerts", "roles": ["sargeant"]}, "roles[0]", "sergeant"),
        ({"url": "https://cad.example/alerts", "kinds": ["overdue"]}, "kinds[0]", "due_soon"),
        ({"url": "https://cad.example/alerts", "colour": "red"}, "colour", "accepted fields: url, roles"),
        ({}, "url", "required"),
    ],
)
def test_a_receiver_that_cannot_be_used_is_refused_naming_the_field(api: Api, body, field, says) -> None:
    answer = api.client.post("/v1/subscriptions", json=body, headers=api.auth("admin"))
    assert answer.status_code == 422
    found = fields(answer)
    assert field in found and says in found[field], found


def test_a_registered_receiver_is_listed_without_its_secret_and_can_be_stopped(api: Api) -> None:
    made = api.client.post(
        "/v1/subscriptions",
        json={"url": "http://127.0.0.1:9/hook", "roles": ["inspector"]},
        headers=api.auth(),
    )
    assert made.status_code == 201 and made.json()["secret"].startswith("whsec_")
    listed = api.client.get("/v1/subscriptions", headers=api.auth()).json()["subscriptions"]
    assert [s["id"] for s in listed] == [made.json()["id"]] and "secret" not in listed[0]
    stopped = api.client.delete(f"/v1/subscriptions/{made.json()['id']}", headers=api.auth())
    assert stopped.status_code == 200 and stopped.json()["active"] is False
    log = api.client.get(f"/v1/subscriptions/{made.json()['id']}/deliveries", headers=api.auth("auditor"))
    assert log.status_code == 200 and log.json()["deliveries"] == []
    gone = api.client.delete("/v1/subscriptions/sub_" + "0" * 24, headers=api.auth())
    assert gone.status_code == 404 and gone.json()["type"] == "/problems/unknown_subscription"


def test_acknowledging_what_is_not_an_alert_is_refused(api: Api) -> None:
    missing = api.client.post("/v1/alerts/al_" + "0" * 32 + "/ack", headers=api.auth("control_room"))
    assert missing.status_code == 404 and missing.json()["type"] == "/problems/unknown_alert"
    malformed = api.client.post("/v1/alerts/nope/ack", headers=api.auth("control_room"))
    assert malformed.status_code == 422 and "path.alert_id" in fields(malformed)
    long_note = api.client.post(
        "/v1/alerts/al_" + "0" * 32 + "/ack", json={"note": "x" * 2001}, headers=api.auth("control_room")
    )
    assert long_note.status_code == 422 and "note" in fields(long_note)


def test_a_stream_resumed_from_what_is_not_a_sequence_number_is_refused(api: Api) -> None:
    answer = api.client.get(
        "/v1/alerts/stream", headers={**api.auth("control_room"), "Last-Event-ID": "yesterday"}
    )
    assert answer.status_code == 422 and "header.Last-Event-ID" in fields(answer)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/v1/alerts", {"control_room", "auditor", "admin"}),
        ("POST", "/v1/alerts/al_" + "0" * 32 + "/ack", {"control_room", "admin"}),
        ("GET", "/v1/subscriptions", {"admin"}),
        ("POST", "/v1/subscriptions", {"admin"}),
        ("GET", "/v1/subscriptions/sub_" + "0" * 24 + "/deliveries", {"admin", "auditor"}),
        ("GET", "/v1/incidents/X/audit", {"control_room", "auditor", "admin"}),
    ],
)
def test_each_alert_route_takes_only_its_roles(api: Api, method: str, path: str, allowed: set[str]) -> None:
    for role in ("control_room", "trainer", "auditor", "admin", "metrics"):
        answer = api.client.request(method, path, headers=api.auth(role), json={"url": "http://127.0.0.1:9/"})
        assert (answer.status_code != 403) == (role in allowed), (role, answer.status_code, answer.text)
    assert api.client.request(method, path).status_code == 401
