"""Issue 23: two forces on one service, on SQLite and on a real PostgreSQL server. Each force's
keys see only its own incidents, worklist, decisions, audit trail, alerts, subscriptions and
deliveries, on every route that reads or writes the store; another force's incident (or alert, or
subscription) is answered exactly as one that does not exist. An incident id is unique within its
force only. Isolation does not rest on each query remembering a filter: a statement that names no
force still reads one force's rows (and on PostgreSQL the database's row-level security refuses the
rest by itself)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from misper.api.alerts import service as alert_service
from misper.api.incidents.schema import alerts, incidents
from misper.api.incidents.store import EVERY_FORCE, IncidentStore, Scope, ScopeMissing
from misper.engine import default_registry
from tests.support.api import Api, make_api

REPORT = "2023-07-11T19:40:00+01:00"
SHARED = "23-000123"  # an incident id both forces use
SUFFOLK_ONLY = "SUF-1"
NOWHERE = "NONE-1"
# Every route that reads or writes the incident store; the others judge what they are sent, or are
# documentation, health or metrics (national: they name no force's data).
NOT_STORE = {"/v1/evaluations", "/v1/simulations", "/v1/replays", "/v1/policies", "/v1/policies/{policy_id}"}
NOT_STORE |= {"/problems", "/problems/{slug}", "/healthz", "/readyz", "/metrics"}
STORE_ROUTES = {
    ("put", "/v1/incidents/{incident_id}"),
    ("get", "/v1/incidents/{incident_id}"),
    ("post", "/v1/incidents/{incident_id}/events"),
    ("get", "/v1/incidents/{incident_id}/evaluation"),
    ("get", "/v1/incidents"),
    ("get", "/v1/incidents/{incident_id}/decisions"),
    ("get", "/v1/incidents/{incident_id}/audit"),
    ("get", "/v1/alerts"),
    ("post", "/v1/alerts/{alert_id}/ack"),
    ("get", "/v1/alerts/stream"),
    ("get", "/v1/subscriptions"),
    ("post", "/v1/subscriptions"),
    ("delete", "/v1/subscriptions/{subscription_id}"),
    ("get", "/v1/subscriptions/{subscription_id}/deliveries"),
}


@pytest.fixture
def two(tmp_path: Path, database: str | None) -> Iterator[Api]:
    made = make_api(tmp_path, database_url=database)
    with made.client:
        yield made


def _open(api: Api, key: str, incident_id: str, child_id: str, grade: str | None = None) -> None:
    put = api.client.put(
        f"/v1/incidents/{incident_id}",
        json={"child": {"child_id": child_id, "age_years": 14}},
        headers=api.auth(key),
    )
    assert put.status_code in (200, 201), put.text
    events: list[dict[str, Any]] = [
        {"id": "r", "type": "report_received", "at": REPORT, "by": "call_handler"}
    ]
    if grade:
        events.append(
            {
                "id": "g",
                "type": "risk_graded",
                "at": "2023-07-11T19:50:00+01:00",
                "by": "call_handler",
                "grade": grade,
            }
        )
    added = api.client.post(
        f"/v1/incidents/{incident_id}/events", json={"events": events}, headers=api.auth(key)
    )
    assert added.status_code == 200, added.text


def _stores(api: Api) -> tuple[IncidentStore, IncidentStore]:
    url = api.app.state.settings.store_url
    return IncidentStore(url, Scope("suffolk")), IncidentStore(url, Scope("sussex"))


def _both_forces(api: Api) -> dict[str, Any]:
    """Both forces hold an incident under one id; Suffolk holds one more, evaluated (a decision),
    with alerts raised and a receiver registered."""
    _open(api, "control_room", SHARED, "C-SUF", grade="low")
    _open(api, "sussex:control_room", SHARED, "C-SUS", grade="low")
    _open(api, "control_room", SUFFOLK_ONLY, "C-SUF-2")
    api.client.get(f"/v1/incidents/{SUFFOLK_ONLY}/evaluation", headers=api.auth("control_room"))
    made = api.client.post(
        "/v1/subscriptions", json={"url": "http://127.0.0.1:9/hook"}, headers=api.auth("admin")
    ).json()
    url = api.app.state.settings.store_url
    # The dispatcher judges every force's incidents (years after their 2023 reports: all due).
    alert_service.raise_due(IncidentStore(url, EVERY_FORCE), default_registry(), 1.9e9)
    suffolk_alert = json.loads(alert_service.list_alerts(_stores(api)[0], "all", 1, 200))["alerts"][0]
    return {"subscription": made["id"], "alert": suffolk_alert["alert_id"]}


def _problem(answer: Any, *names: str) -> tuple[int, str, str]:
    """A problem with the ids it names replaced, to compare two answers' every other byte."""
    body = answer.json()
    detail = json.dumps(body.get("detail"), sort_keys=True) + json.dumps(body.get("errors"), sort_keys=True)
    for name in names:
        detail = detail.replace(name, "<id>")
    return answer.status_code, body["type"], detail


def test_every_store_route_is_among_those_the_isolation_test_checks(two: Api) -> None:
    paths = two.app.openapi()["paths"]
    found = {(verb, path) for path, verbs in paths.items() if path not in NOT_STORE for verb in verbs}
    assert found == STORE_ROUTES


def test_one_incident_id_in_two_forces_is_two_incidents_each_judged_by_its_forces_policy(two: Api) -> None:
    _open(two, "control_room", SHARED, "C-SUF", grade="low")
    _open(two, "sussex:control_room", SHARED, "C-SUS", grade="low")
    ours = two.client.get(f"/v1/incidents/{SHARED}", headers=two.auth("control_room")).json()
    theirs = two.client.get(f"/v1/incidents/{SHARED}", headers=two.auth("sussex:control_room")).json()
    assert (ours["child"]["child_id"], theirs["child"]["child_id"]) == ("C-SUF", "C-SUS")
    judged = {
        key: two.client.get(f"/v1/incidents/{SHARED}/evaluation", headers=two.auth(key)).json()
        for key in ("control_room", "sussex:control_room")
    }
    assert judged["control_room"]["policy"]["id"] == "suffolk-2023-02"
    assert judged["sussex:control_room"]["policy"]["id"] == "sussex-2022-09"
    # Graded low: outside Suffolk's G1 (medium or high only), within Sussex's (low or above).
    assert "GRADE_NOT_ALLOWED" in {f["code"] for f in judged["control_room"]["findings"]}
    assert "GRADE_NOT_ALLOWED" not in {f["code"] for f in judged["sussex:control_room"]["findings"]}


def test_the_same_posted_timeline_is_judged_by_each_keys_force(two: Api) -> None:
    body = {
        "incident_id": "X",
        "child": {"child_id": "C", "age_years": 14},
        "events": [
            {"id": "r", "type": "report_received", "at": REPORT, "by": "call_handler"},
            {
                "id": "g",
                "type": "risk_graded",
                "at": "2023-07-11T19:50:00+01:00",
                "by": "call_handler",
                "grade": "low",
            },
        ],
    }
    answers = {
        key: two.client.post("/v1/evaluations", json=body, headers=two.auth(key)).json()
        for key in ("control_room", "sussex:control_room")
    }
    assert answers["control_room"]["policy"]["id"] == "suffolk-2023-02"
    assert answers["sussex:control_room"]["policy"]["id"] == "sussex-2022-09"
    # A timeline naming another force than the key's is refused, naming the field.
    refused = two.client.post(
        "/v1/evaluations", json={**body, "force": "suffolk"}, headers=two.auth("sussex:control_room")
    )
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "force"


def test_another_forces_incident_is_answered_as_one_that_does_not_exist_on_every_route(two: Api) -> None:
    made = _both_forces(two)
    sussex = two.auth("sussex:control_room")
    checked: set[tuple[str, str]] = set()

    def same_as_nowhere(method: str, route: str, path: str, key: dict[str, str], **body: Any) -> None:
        checked.add((method, route))
        theirs = two.client.request(method, path.format(SUFFOLK_ONLY), headers=key, **body)
        nothing = two.client.request(method, path.format(NOWHERE), headers=key, **body)
        assert theirs.status_code == 404, (route, theirs.text)
        assert _problem(theirs, SUFFOLK_ONLY) == _problem(nothing, NOWHERE), route

    same_as_nowhere("get", "/v1/incidents/{incident_id}", "/v1/incidents/{}", sussex)
    event = {"events": [{"id": "x", "type": "report_received", "at": REPORT, "by": "call_handler"}]}
    same_as_nowhere(
        "post", "/v1/incidents/{incident_id}/events", "/v1/incidents/{}/events", sussex, json=event
    )
    same_as_nowhere("get", "/v1/incidents/{incident_id}/evaluation", "/v1/incidents/{}/evaluation", sussex)
    same_as_nowhere("get", "/v1/incidents/{incident_id}/decisions", "/v1/incidents/{}/decisions", sussex)
    same_as_nowhere("get", "/v1/incidents/{incident_id}/audit", "/v1/incidents/{}/audit", sussex)

    # The alert and the subscription ids are Suffolk's: to Sussex they do not exist.
    for method, route, real, fake, key, body in (
        ("post", "/v1/alerts/{alert_id}/ack", made["alert"], "al_" + "0" * 32, sussex, {"json": {}}),
        (
            "delete",
            "/v1/subscriptions/{subscription_id}",
            made["subscription"],
            "sub_" + "0" * 24,
            two.auth("sussex:admin"),
            {},
        ),
        (
            "get",
            "/v1/subscriptions/{subscription_id}/deliveries",
            made["subscription"],
            "sub_" + "0" * 24,
            two.auth("sussex:auditor"),
            {},
        ),
    ):
        checked.add((method, route))
        path = route.replace("{alert_id}", "{}").replace("{subscription_id}", "{}")
        theirs = two.client.request(method, path.format(real), headers=key, **body)
        nothing = two.client.request(method, path.format(fake), headers=key, **body)
        assert theirs.status_code == 404, (route, theirs.text)
        assert _problem(theirs, real) == _problem(nothing, fake), route

    # Lists and counts hold only the key's force's.
    checked |= _lists_hold_only_their_forces(two)
    # A PUT of another force's id makes the key's own incident, leaving the other untouched.
    checked.add(("put", "/v1/incidents/{incident_id}"))
    created = two.client.put(
        f"/v1/incidents/{SUFFOLK_ONLY}",
        json={"child": {"child_id": "C-SUS-9", "age_years": 12}},
        headers=sussex,
    )
    assert created.status_code == 201 and created.json()["profile_version"] == 1
    kept = two.client.get(f"/v1/incidents/{SUFFOLK_ONLY}", headers=two.auth("control_room")).json()
    assert kept["child"]["child_id"] == "C-SUF-2" and len(kept["events"]) == 1

    assert checked == STORE_ROUTES


def _lists_hold_only_their_forces(two: Api) -> set[tuple[str, str]]:
    worklists = {
        key: two.client.get("/v1/incidents?status=all", headers=two.auth(key)).json()
        for key in ("control_room", "sussex:control_room")
    }
    assert {i["incident_id"] for i in worklists["control_room"]["incidents"]} == {SHARED, SUFFOLK_ONLY}
    assert worklists["sussex:control_room"]["total"] == 1
    assert [i["incident_id"] for i in worklists["sussex:control_room"]["incidents"]] == [SHARED]

    listed = {
        key: two.client.get("/v1/alerts?status=all&per_page=200", headers=two.auth(key)).json()
        for key in ("control_room", "sussex:control_room")
    }
    suffolk_ids = {a["alert_id"] for a in listed["control_room"]["alerts"]}
    sussex_alerts = listed["sussex:control_room"]["alerts"]
    assert suffolk_ids and sussex_alerts and {a["incident_id"] for a in sussex_alerts} == {SHARED}
    assert listed["sussex:control_room"]["total"] == len(sussex_alerts)
    assert {a["incident_id"] for a in listed["control_room"]["alerts"]} == {SHARED, SUFFOLK_ONLY}

    assert two.client.get("/v1/subscriptions", headers=two.auth("sussex:admin")).json() == {
        "subscriptions": []
    }
    made = two.client.post(
        "/v1/subscriptions", json={"url": "http://127.0.0.1:9/sussex"}, headers=two.auth("sussex:admin")
    )
    assert made.status_code == 201, made.text
    ours = two.client.get("/v1/subscriptions", headers=two.auth("admin")).json()["subscriptions"]
    assert [s["url"] for s in ours] == ["http://127.0.0.1:9/hook"]

    # The stream replays from the store only the key's force's alerts.
    seen = _stream(two, "sussex:control_room", len(sussex_alerts))
    assert {json.loads(data)["data"]["incident_id"] for data in seen} == {SHARED}
    assert len(seen) == len(sussex_alerts)
    return {
        ("get", "/v1/incidents"),
        ("get", "/v1/alerts"),
        ("get", "/v1/subscriptions"),
        ("post", "/v1/subscriptions"),
        ("get", "/v1/alerts/stream"),
    }


def _stream(api: Api, key: str, count: int) -> list[str]:
    """The data of the first ``count`` events of the stream from the start, then a little more
    time for any event that should not be there."""
    found: list[str] = []
    headers = {**api.auth(key), "Last-Event-ID": "0"}
    done = threading.Event()

    def read() -> None:
        try:
            with api.client.stream("GET", "/v1/alerts/stream", headers=headers) as answer:
                for line in answer.iter_lines():
                    if line.startswith("data:"):
                        found.append(line.removeprefix("data:").strip())
                    if len(found) > count or done.is_set():
                        return
        except Exception:  # the stream never ends by itself: the client closing it ends the read
            return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(3)
    done.set()
    return found


def test_a_statement_that_names_no_force_still_reads_only_its_scopes_rows(two: Api) -> None:
    """On SQLite misper's one place of scoping limits it; on PostgreSQL the database's row-level
    security does, with the force misper sets for the transaction."""
    _both_forces(two)
    suffolk, sussex = _stores(two)
    with sussex.reading() as rows:
        every = rows.db.execute(sa.select(incidents.c.incident_id, incidents.c.child_id)).all()
        counted = rows.db.execute(sa.select(sa.func.count()).select_from(alerts)).scalar_one()
        joined = rows.db.execute(
            sa.select(alerts.c.incident_id).join(incidents, incidents.c.incident_id == alerts.c.incident_id)
        ).all()
    assert every == [(SHARED, "C-SUS")]
    assert counted == len(json.loads(alert_service.list_alerts(sussex, "all", 1, 200))["alerts"])
    assert {r.incident_id for r in joined} == {SHARED}
    with sussex.writing() as rows:  # an update naming no force changes only the scope's rows
        rows.db.execute(incidents.update().values(child_id="changed"))
    with suffolk.reading() as rows:
        assert "changed" not in set(rows.db.execute(sa.select(incidents.c.child_id)).scalars())
    with pytest.raises(ScopeMissing):  # a statement outside a scoped transaction is refused
        with sussex.engine.connect() as bare:
            bare.execute(sa.select(incidents))
    if two.app.state.settings.database_url is None:  # SQLite's scoping reads tables by name
        with pytest.raises(ScopeMissing), sussex.reading() as rows:
            rows.db.execute(sa.select(incidents.alias("i")))


@pytest.mark.postgresql
def test_postgresql_row_level_security_keeps_forces_apart_without_misper(
    tmp_path: Path, pg_cluster: Any
) -> None:
    """Plain SQL on PostgreSQL, past misper's own scoping: the database shows a transaction only
    the rows of the force it sets, refuses writing another force's, and shows nothing unset."""
    url = pg_cluster.new_database()
    api = make_api(tmp_path, database_url=url)
    with api.client:
        _both_forces(api)
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.begin() as db:
            assert db.execute(sa.text("SELECT count(*) FROM incidents")).scalar_one() == 0
            db.execute(sa.text("SELECT set_config('misper.force', 'sussex', true)"))
            assert db.execute(sa.text("SELECT incident_id, child_id FROM incidents")).all() == [
                (SHARED, "C-SUS")
            ]
            assert (
                db.execute(sa.text("SELECT count(*) FROM events WHERE force = 'suffolk'")).scalar_one() == 0
            )
            assert (
                db.execute(sa.text("UPDATE incidents SET child_id = 'x' WHERE force = 'suffolk'")).rowcount
                == 0
            )
        with pytest.raises(sa.exc.ProgrammingError, match="row-level security"), engine.begin() as db:
            db.execute(sa.text("SELECT set_config('misper.force', 'sussex', true)"))
            db.execute(
                sa.text(
                    "INSERT INTO audit (force, incident_id, at, key_name, action) "
                    "VALUES ('suffolk', :id, 'now', 'k', 'read')"
                ),
                {"id": SUFFOLK_ONLY},
            )
    finally:
        engine.dispose()


def test_the_inspectorate_reads_every_forces_incidents_read_only_and_each_read_is_audited(two: Api) -> None:
    _both_forces(two)
    inspector = two.auth("inspectorate")
    for force, child in (("suffolk", "C-SUF"), ("sussex", "C-SUS")):
        read = two.client.get(f"/v1/incidents/{SHARED}?force={force}", headers=inspector)
        assert read.status_code == 200 and read.json()["child"]["child_id"] == child
        listed = two.client.get(f"/v1/incidents?status=all&force={force}", headers=inspector).json()
        assert SHARED in {i["incident_id"] for i in listed["incidents"]}
    decisions = two.client.get(f"/v1/incidents/{SUFFOLK_ONLY}/decisions?force=suffolk", headers=inspector)
    assert decisions.status_code == 200 and decisions.json()["total"] == 1

    # Each read is in the incident's audit trail, which its own force reads.
    trail = two.client.get(f"/v1/incidents/{SHARED}/audit", headers=two.auth("sussex:control_room")).json()
    reads = [(e["key_name"], e["action"], e["note"]) for e in trail["entries"]]
    assert reads == [
        ("test-inspectorate", "inspectorate_read", "the incident"),
        ("test-inspectorate", "inspectorate_read", "the worklist (all, page 1)"),
    ]
    # Another force's incident id is unknown in the force named, as for any key.
    assert two.client.get(f"/v1/incidents/{SUFFOLK_ONLY}?force=sussex", headers=inspector).status_code == 404

    # It names the force; it writes nothing, and reads nothing else of a force's.
    unnamed = two.client.get(f"/v1/incidents/{SHARED}", headers=inspector)
    assert unnamed.status_code == 422 and unnamed.json()["errors"][0]["field"] == "query.force"
    misspelt = two.client.get(f"/v1/incidents/{SHARED}?force=sufolk", headers=inspector)
    assert "did you mean 'suffolk'" in misspelt.json()["errors"][0]["message"]
    for method, path in (
        ("put", f"/v1/incidents/{SHARED}"),
        ("post", f"/v1/incidents/{SHARED}/events"),
        ("get", f"/v1/incidents/{SHARED}/evaluation"),
        ("get", "/v1/alerts"),
        ("get", "/v1/subscriptions"),
    ):
        answer = two.client.request(method, path, headers=inspector, json={})
        assert answer.status_code == 403, (path, answer.text)
    # A force's key may name only its own force.
    own = two.client.get(f"/v1/incidents/{SHARED}?force=sussex", headers=two.auth("sussex:auditor"))
    other = two.client.get(f"/v1/incidents/{SHARED}?force=suffolk", headers=two.auth("sussex:auditor"))
    assert own.status_code == 200 and other.status_code == 422
    assert other.json()["errors"][0]["field"] == "query.force"
