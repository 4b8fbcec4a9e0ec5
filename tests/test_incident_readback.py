"""A stored incident says what is next and can be read back (issue 21, item 2): each append's
answer and each worklist row carry the grade, the next duty and when the evaluation at the last
event next changes by the clock; GET /v1/incidents/{id} gives back the profile and every event as
stored, so a control-room system that lost its state can resynchronise."""

from __future__ import annotations

from typing import Any

from tests.support.api import Api
from tests.support.timelines import GRADED_MEDIUM, REPORT_EVENT, report_timeline

CHILD = {"child_id": "C-58213", "age_years": 13}
REPORT = REPORT_EVENT
GRADED = GRADED_MEDIUM


def _put(api: Api, incident: str) -> None:
    answer = api.client.put(
        f"/v1/incidents/{incident}", headers=api.auth("control_room"), json={"child": CHILD}
    )
    assert answer.status_code == 201


def _append(api: Api, incident: str, *events: dict[str, Any]) -> Any:
    answer = api.client.post(
        f"/v1/incidents/{incident}/events", headers=api.auth("control_room"), json={"events": list(events)}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def _judged_at_last_event(api: Api, *events: dict[str, Any]) -> Any:
    body = report_timeline(
        [e for e in events if e["type"] != "report_received"], child=CHILD, incident_id="I-1"
    )
    body["events"][0] = REPORT
    body.pop("policy", None)
    last = max(e["at"] for e in events).replace("+", "%2B")
    answer = api.client.post(f"/v1/evaluations?as_of={last}", headers=api.auth("control_room"), json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_an_append_answer_says_what_is_next(api: Api) -> None:
    _put(api, "I-1")
    answer = _append(api, "I-1", REPORT, GRADED)
    judged = _judged_at_last_event(api, REPORT, GRADED)
    assert answer["status"] == "open" and answer["current_grade"] == "medium"
    assert answer["required_role"] == judged["oversight"]["required_role"]
    assert answer["next_change_at"] == judged["next_change_at"] and answer["next_change_at"] is not None
    waiting = [d for d in judged["deadlines"] if d["status"] in ("pending", "due_soon", "breached")]
    first = min(waiting, key=lambda d: (d["due_at"], d["id"]))
    assert (
        answer["next_deadline"]["id"] == first["id"] and answer["next_deadline"]["due_at"] == first["due_at"]
    )
    assert answer["next_deadline"]["overdue"] is True  # 2023 is long past on the wall clock


def test_a_worklist_row_carries_the_next_change(api: Api) -> None:
    _put(api, "I-1")
    appended = _append(api, "I-1", REPORT, GRADED)
    (row,) = api.client.get("/v1/incidents", headers=api.auth("auditor")).json()["incidents"]
    assert row["next_change_at"] == appended["next_change_at"]
    assert {k: row[k] for k in ("status", "current_grade", "required_role", "next_deadline")} == {
        k: appended[k] for k in ("status", "current_grade", "required_role", "next_deadline")
    }


def test_a_stored_incident_is_read_back_as_stored(api: Api) -> None:
    _put(api, "I-1")
    wrong = {**GRADED, "id": "g2", "at": "2023-07-11T19:55:00+01:00", "grade": "high"}
    correction = {**wrong, "id": "g3", "corrects": "g2", "grade": "medium"}
    _append(api, "I-1", REPORT, GRADED)
    appended = _append(api, "I-1", wrong, correction)
    read = api.client.get("/v1/incidents/I-1", headers=api.auth("control_room")).json()
    assert read["incident_id"] == "I-1" and read["status"] == "open" and read["profile_version"] == 1
    assert read["child"] == CHILD and read["policy"] is None
    assert [e["id"] for e in read["events"]] == ["r", "g", "g2", "g3"]
    assert read["events"][3] == correction and read["next_change_at"] == appended["next_change_at"]


def test_a_closed_incident_reads_back_closed_with_nothing_next(api: Api) -> None:
    _put(api, "I-1")
    closed = {"id": "c", "type": "closed", "at": "2023-07-12T10:00:00+01:00", "by": "inspector"}
    found = {"id": "f", "type": "found", "at": "2023-07-12T09:00:00+01:00", "by": "frontline_officer"}
    answer = _append(api, "I-1", REPORT, GRADED, found, closed)
    assert (
        answer["status"] == "closed" and answer["next_deadline"] is None and answer["next_change_at"] is None
    )
    read = api.client.get("/v1/incidents/I-1", headers=api.auth("auditor")).json()
    assert read["status"] == "closed" and read["next_change_at"] is None


def test_reading_back_needs_a_reader_and_a_stored_incident(api: Api) -> None:
    assert api.client.get("/v1/incidents/NOPE", headers=api.auth("control_room")).status_code == 404
    _put(api, "I-1")
    assert api.client.get("/v1/incidents/I-1", headers=api.auth("trainer")).status_code == 403
    assert api.client.get("/v1/incidents/I-1").status_code == 401


def test_a_405_names_every_method_the_incident_path_takes(api: Api) -> None:
    """The path has a route per method (GET beside PUT): the Allow header names both."""
    answer = api.client.request("OPTIONS", "/v1/incidents/I-1", headers=api.auth("control_room"))
    assert answer.status_code == 405 and answer.headers["allow"] == "GET, PUT"
