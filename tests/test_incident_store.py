"""Live incidents in a durable store, on SQLite and on a real PostgreSQL server: an incident fed
event by event is judged exactly as the same timeline sent whole; retries are harmless, conflicts
refused; the worklist orders by urgency; episodes of one child count across incidents; every
evaluation served is recorded and can be reproduced."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from misper.api.incidents.store import MIGRATIONS
from tests.support.api import Api, make_api
from tests.support.cli import misper
from tests.support.paths import ROOT
from tests.support.timelines import report_timeline

CASE = json.loads((ROOT / "fixtures" / "timelines" / "case-study.json").read_text())
CLOSE = "2023-07-14T09:00:00%2B01:00"


@pytest.fixture
def live(tmp_path: Path, database: str | None) -> Iterator[Api]:
    made = make_api(tmp_path, database_url=database)
    with made.client:
        yield made


def put(api: Api, incident_id: str, child: dict[str, Any], policy: str | None = None) -> Any:
    body = {"child": child, **({"policy": policy} if policy else {})}
    return api.client.put(f"/v1/incidents/{incident_id}", json=body, headers=api.auth("control_room"))


def append(api: Api, incident_id: str, *events: dict[str, Any]) -> Any:
    return api.client.post(
        f"/v1/incidents/{incident_id}/events", json={"events": list(events)}, headers=api.auth("control_room")
    )


def feed_case_study(api: Api, incident_id: str = "SUF-23-004711") -> None:
    assert put(api, incident_id, CASE["child"], CASE["policy"]).status_code == 201
    for event in CASE["events"]:
        answer = append(api, incident_id, event)
        assert answer.status_code == 200, answer.text
        assert answer.json()["added"] == [event["id"]]


def _episode(api: Api, incident_id: str, child_id: str, report_at: str, recorded: bool = True) -> None:
    put(api, incident_id, {"child_id": child_id, "age_years": 14})
    events = [{"id": "r", "type": "report_received", "at": report_at, "by": "call_handler"}]
    if recorded:
        events.append({"id": "c", "type": "compact_record_created", "at": report_at, "by": "call_handler"})
    assert append(api, incident_id, *events).status_code == 200


def test_the_case_study_fed_event_by_event_is_judged_as_the_whole_timeline(live: Api) -> None:
    """Issue 9: the case study fed event by event is judged as the whole timeline."""
    feed_case_study(live)
    stored = live.client.get(
        f"/v1/incidents/SUF-23-004711/evaluation?as_of={CLOSE}", headers=live.auth("auditor")
    )
    stateless = live.client.post("/v1/evaluations", json=CASE, headers=live.auth("control_room"))
    assert stored.status_code == 200 and stored.json() == stateless.json()
    # Closed: with no as_of it is judged at its close, and says so.
    again = live.client.get("/v1/incidents/SUF-23-004711/evaluation", headers=live.auth("control_room"))
    assert again.json() == stateless.json()


def test_retries_are_harmless_and_conflicts_refused(live: Api) -> None:
    """Issue 9: retries are harmless and conflicts refused."""
    feed_case_study(live)
    event = CASE["events"][5]
    retried = append(live, "SUF-23-004711", event)
    assert retried.status_code == 200
    assert retried.json() == {
        "incident_id": "SUF-23-004711",
        "added": [],
        "repeated": [event["id"]],
        "event_count": 12,
        "status": "closed",
        "current_grade": "high",
        "required_role": "cid_supervisor",
        "next_deadline": None,
        "next_change_at": None,
    }
    # The same instant written with another offset is the same event.
    same_instant = {**event, "at": "2023-07-12T01:40:00+00:00"}
    assert append(live, "SUF-23-004711", same_instant).json()["repeated"] == [event["id"]]
    changed = append(live, "SUF-23-004711", {**event, "by": "inspector"})
    assert changed.status_code == 409
    assert changed.json()["type"] == "/problems/incident_conflict"
    assert changed.json()["errors"][0]["field"] == "events[0]"
    assert "send a new event with 'corrects'" in changed.json()["errors"][0]["message"]


def test_a_correction_is_kept_beside_the_event_it_corrects(live: Api) -> None:
    """Issue 9: a correction is kept beside the event it corrects."""
    assert put(live, "C-1", {"child_id": "K-1", "age_years": 14}).status_code == 201
    report = {"id": "r", "type": "report_received", "at": "2023-07-11T19:40:00+01:00", "by": "call_handler"}
    low = {
        "id": "g",
        "type": "risk_graded",
        "at": "2023-07-11T19:50:00+01:00",
        "by": "call_handler",
        "grade": "low",
    }
    fixed = {**low, "id": "g2", "grade": "medium", "corrects": "g"}
    assert append(live, "C-1", report, low).status_code == 200
    assert append(live, "C-1", fixed).status_code == 200
    answer = live.client.get(
        "/v1/incidents/C-1/evaluation?as_of=2023-07-11T20:30:00%2B01:00", headers=live.auth("control_room")
    ).json()
    assert answer["grade"]["current"] == "medium"
    assert "GRADE_NOT_ALLOWED" not in {f["code"] for f in answer["findings"]}
    trail = live.client.get("/v1/incidents/C-1/decisions", headers=live.auth("auditor")).json()
    assert trail["decisions"][0]["event_ids"] == ["r", "g", "g2"]


def test_bad_requests_name_the_field(live: Api) -> None:
    """Issue 9: bad requests name the field."""
    assert append(live, "NOPE", CASE["events"][0]).status_code == 404
    assert put(live, "P-1", {"child_id": "K-1", "age_years": 19}).json()["errors"] == [
        {"field": "child.age_years", "message": "input should be less than or equal to 17"}
    ]
    assert put(live, "P-1", {"child_id": "K-1", "age_years": 14}).status_code == 201
    naive = append(live, "P-1", {**CASE["events"][0], "at": "2023-07-11T19:40:00"})
    assert naive.status_code == 422 and naive.json()["errors"][0]["field"] == "events[0].at"
    first = append(live, "P-1", CASE["events"][1])
    assert first.status_code == 422
    assert first.json()["errors"] == [
        {"field": "events", "message": "must hold exactly one report_received event; found none"}
    ]
    assert append(live, "P-1", CASE["events"][0]).status_code == 200
    early = {**CASE["events"][1], "at": "2023-07-11T19:00:00+01:00"}
    refused = append(live, "P-1", CASE["events"][2], early)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "events[1].at"
    assert (
        live.client.get(
            "/v1/incidents/P-1/evaluation?as_of=2023-07-11T20:00:00%2B01:00",
            headers=live.auth("control_room"),
        ).status_code
        == 200
    )
    # Nothing of the refused batch was stored.
    assert append(live, "P-1", CASE["events"][2]).json()["added"] == ["e03"]


def test_who_may_do_what(live: Api) -> None:
    """Issue 9: who may do what."""
    assert put(live, "A-1", {"child_id": "K-1", "age_years": 14}).status_code == 201
    auditor = live.client.put(
        "/v1/incidents/A-1", json={"child": {"child_id": "K", "age_years": 1}}, headers=live.auth("auditor")
    )
    assert auditor.status_code == 403
    assert live.client.get("/v1/incidents", headers=live.auth("trainer")).status_code == 403
    assert live.client.get("/v1/incidents").status_code == 401


def test_the_worklist_puts_the_most_urgent_first(live: Api) -> None:
    """Issue 9: the worklist puts the most urgent first."""
    for incident_id, report_at in (
        ("W-late", "2023-07-11T20:40:00+01:00"),
        ("W-early", "2023-07-11T19:40:00+01:00"),
    ):
        put(live, incident_id, {"child_id": incident_id, "age_years": 15})
        append(
            live, incident_id, {"id": "r", "type": "report_received", "at": report_at, "by": "call_handler"}
        )
    closed = report_timeline([])["events"] + [
        {"id": "f", "type": "found", "at": "2023-07-11T20:00:00+01:00", "by": "frontline_officer"},
        {"id": "c", "type": "closed", "at": "2023-07-11T21:00:00+01:00", "by": "sergeant"},
    ]
    put(live, "W-closed", {"child_id": "W-closed", "age_years": 15})
    append(live, "W-closed", *closed)
    worklist = live.client.get("/v1/incidents", headers=live.auth("control_room")).json()
    assert [i["incident_id"] for i in worklist["incidents"]] == ["W-early", "W-late"]
    first = worklist["incidents"][0]
    assert first["next_deadline"] == {
        "id": "initial_grading",
        "occurrence": 1,
        "owner": "call_handler",
        "due_at": "2023-07-11T20:10:00+01:00",
        "overdue": True,
    }
    assert first["required_role"] == "inspector" and first["current_grade"] is None
    page2 = live.client.get("/v1/incidents?per_page=1&page=2", headers=live.auth("control_room")).json()
    assert (page2["total"], [i["incident_id"] for i in page2["incidents"]]) == (2, ["W-late"])
    done = live.client.get("/v1/incidents?status=closed", headers=live.auth("auditor")).json()
    assert [i["incident_id"] for i in done["incidents"]] == ["W-closed"]
    assert done["incidents"][0]["next_deadline"] is None


def test_episodes_count_across_incidents_of_one_child(live: Api) -> None:
    """Issue 9: episodes count across incidents of one child."""
    _episode(live, "R-1", "K-9", "2023-06-20T22:10:00+01:00")
    _episode(live, "R-2", "K-9", "2023-07-01T18:05:00+01:00")
    _episode(live, "R-x", "K-other", "2023-07-02T18:05:00+01:00")
    _episode(live, "R-unrecorded", "K-9", "2023-07-03T18:05:00+01:00", recorded=False)
    _episode(live, "R-3", "K-9", "2023-07-11T19:40:00+01:00")
    answer = live.client.get(
        "/v1/incidents/R-3/evaluation?as_of=2023-07-11T20:00:00%2B01:00", headers=live.auth("control_room")
    ).json()
    assert answer["repeat_missing"]["episodes_in_window"] == 3
    assert "RESPONSE_PLAN_REQUIRED" in {f["code"] for f in answer["findings"]}
    # An episode the caller also sends is not counted twice.
    put(
        live,
        "R-3",
        {
            "child_id": "K-9",
            "age_years": 14,
            "previous_episodes": [{"reported_at": "2023-06-20T22:10:00+01:00", "recorded_on": "compact"}],
        },
    )
    again = live.client.get(
        "/v1/incidents/R-3/evaluation?as_of=2023-07-11T20:00:00%2B01:00", headers=live.auth("control_room")
    ).json()
    assert again["repeat_missing"]["episodes_in_window"] == 3
    # The first incident counts no later one.
    first = live.client.get(
        "/v1/incidents/R-1/evaluation?as_of=2023-06-20T23:00:00%2B01:00", headers=live.auth("control_room")
    ).json()
    assert first["repeat_missing"]["episodes_in_window"] == 1


@pytest.mark.cli
def test_every_evaluation_is_recorded_and_can_be_verified(tmp_path: Path, live: Api) -> None:
    """Issue 9: every evaluation is recorded and can be verified."""
    feed_case_study(live)
    for _ in range(2):
        live.client.get(f"/v1/incidents/SUF-23-004711/evaluation?as_of={CLOSE}", headers=live.auth("auditor"))
    trail = live.client.get("/v1/incidents/SUF-23-004711/decisions", headers=live.auth("auditor")).json()
    assert trail["total"] == 2
    record = trail["decisions"][0]
    assert record["key_name"] == "test-auditor" and record["as_of"] == "2023-07-14T09:00:00+01:00"
    assert record["policy"]["id"] == "suffolk-2023-02" and len(record["result_sha256"]) == 64
    env = {"MISPER_DATA_DIR": str(tmp_path), "HOME": str(tmp_path)}
    url = live.app.state.settings.database_url
    if url:
        env["MISPER_DATABASE_URL"] = url
    verified = misper("audit", "verify", "SUF-23-004711", env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.count(": OK (same answer)") == 2
    # A record that no longer matches what the engine says is reported, and the exit code says so.
    engine = sa.create_engine(live.app.state.settings.store_url)
    with engine.begin() as db:
        if db.dialect.name == "postgresql":  # row-level security: a transaction sees its force's rows
            db.execute(sa.text("SELECT set_config('misper.force', 'suffolk', true)"))
        db.execute(sa.text("UPDATE decisions SET result_sha256 = :h WHERE seq = 1"), {"h": "0" * 64})
    engine.dispose()
    tampered = misper("audit", "verify", "SUF-23-004711", env=env)
    assert tampered.returncode == 1 and "decision 1: DIFFERS (different answer)" in tampered.stdout


@pytest.mark.cli
def test_db_upgrade_is_idempotent(tmp_path: Path) -> None:
    """Issue 9: db upgrade is idempotent."""
    env = {"MISPER_DATA_DIR": str(tmp_path), "HOME": str(tmp_path)}
    first = misper("db", "upgrade", env=env)
    assert first.returncode == 0 and "is at the latest migration" in first.stdout
    assert (tmp_path / "misper.db").exists()
    again = misper("db", "upgrade", env=env)
    assert again.returncode == 0 and again.stdout == first.stdout
    with sa.create_engine(f"sqlite:///{tmp_path / 'misper.db'}").connect() as db:
        assert db.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
        assert db.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == head


def test_nothing_about_the_child_reaches_the_log(live: Api, caplog: pytest.LogCaptureFixture) -> None:
    """Issue 9: nothing about the child reaches the log."""
    import logging

    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("misper.access")
    logger.addHandler(handler)
    try:
        feed_case_study(live)
        live.client.get(f"/v1/incidents/SUF-23-004711/evaluation?as_of={CLOSE}", headers=live.auth("auditor"))
    finally:
        logger.removeHandler(handler)
    text = "\n".join(lines)
    assert '"incident_id": "SUF-23-004711"' in text
    evaluated = json.loads(lines[-1])
    assert evaluated["route"] == "/v1/incidents/{incident_id}/evaluation"
    assert evaluated["policy_sha256"] == live.app.state.registry.get("suffolk-2023-02").sha256
    for secret in ("C-58213", "sexual_exploitation", "unusual behaviour", "park"):
        assert secret not in text
    assert os.environ.get("MISPER_DATABASE_URL") is None  # the tests never lean on the caller's database
    assert copy.deepcopy(CASE) == CASE


def test_two_clients_creating_one_incident_at_once(live: Api) -> None:
    """Issue 9: two clients creating one incident at once."""
    from concurrent.futures import ThreadPoolExecutor

    def create(age: int) -> int:
        return int(put(live, "SAME", {"child_id": "K-1", "age_years": age}).status_code)

    with ThreadPoolExecutor(4) as pool:
        statuses = sorted(pool.map(create, (10, 11, 12, 13)))
    assert statuses.count(201) == 1 and statuses.count(200) == 3


def test_the_migrations_make_exactly_the_tables_the_code_reads(tmp_path: Path, database: str | None) -> None:
    """The schema is made only by the migrations; api/incidents/schema.py is what the code reads
    and writes. Alembic's comparison of the two finds nothing to change, on either database."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from misper.api.incidents.schema import metadata
    from misper.api.incidents.store import upgrade

    url = database or f"sqlite:///{tmp_path / 'misper.db'}"
    upgrade(url)
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as db:
            assert compare_metadata(MigrationContext.configure(db), metadata) == []
    finally:
        engine.dispose()
