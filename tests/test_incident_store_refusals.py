"""The incident store under careless and hostile clients (issue 20): what it refuses, naming the
field, and what it leaves as it was; child data on disk is owner-only; the worklist follows a
profile change at once; decisions are numbered within their incident."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from tests.support.api import PROBLEM, Api, make_api
from tests.support.timelines import GRADED_MEDIUM, REPORT_EVENT

CHILD = {"child_id": "C-58213", "age_years": 14}
REPORT = REPORT_EVENT
GRADED = GRADED_MEDIUM


@pytest.fixture
def store_api(tmp_path: Path, database: str | None):  # type: ignore[no-untyped-def]
    """The app on SQLite in a temporary data folder, or on a fresh PostgreSQL database."""
    made = make_api(tmp_path, database_url=database)
    with made.client:
        yield made


def _open(api: Api, incident: str, *events: dict[str, Any], child: dict[str, Any] = CHILD) -> None:
    h = api.auth("control_room")
    assert api.client.put(f"/v1/incidents/{incident}", headers=h, json={"child": child}).status_code == 201
    if events:
        answer = api.client.post(f"/v1/incidents/{incident}/events", headers=h, json={"events": list(events)})
        assert answer.status_code == 200, answer.text


def test_database_files_are_owner_only_in_a_folder_others_can_read(tmp_path: Path) -> None:
    """Issue 20: misper.db, -wal and -shm were created 0644 in an existing 0755 data folder."""
    tmp_path.chmod(0o755)
    api = make_api(tmp_path)
    with api.client:
        _open(api, "I-1", REPORT, GRADED)
    files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.glob("misper.db*")}
    assert {"misper.db", "misper.db-wal", "misper.db-shm"} <= set(files)
    assert all(mode == 0o600 for mode in files.values()), files


def test_an_existing_database_readable_by_others_is_made_owner_only(tmp_path: Path) -> None:
    api = make_api(tmp_path)
    with api.client:
        _open(api, "I-1", REPORT)
    (tmp_path / "misper.db").chmod(0o644)
    from misper.api.incidents import store
    from misper.api.settings import Settings
    from misper.api.startup import prepare_store
    from misper.engine import default_registry

    settings = Settings(data_dir=tmp_path)
    store._ENGINES.pop(settings.store_url).dispose()  # as a server starting afresh on the folder
    prepare_store(settings, default_registry())
    assert stat.S_IMODE((tmp_path / "misper.db").stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        pytest.param(
            "", b'{"child":{"child_id":"C-1","age_years":13,"age_years":5}}', "child.age_years", id="put"
        ),
        pytest.param(
            "/events",
            b'{"events":[{"id":"r","type":"report_received","at":"2023-07-11T19:40:00+01:00","id":"q"}]}',
            "events[0].id",
            id="append",
        ),
    ],
)
def test_a_key_given_twice_is_refused_naming_the_field(api: Api, route: str, body: bytes, field: str) -> None:
    """Issue 20: "age_years":13,"age_years":5 stored 5."""
    _open(api, "I-1")
    method = api.client.put if not route else api.client.post
    answer = method(f"/v1/incidents/I-1{route}", headers=api.auth("control_room"), content=body)
    assert answer.status_code == 422 and answer.headers["content-type"] == PROBLEM
    assert answer.json()["errors"] == [
        {"field": field, "message": "is given more than once in one object; give each field once"}
    ]


@pytest.mark.parametrize("route", ["", "/events"], ids=["put", "append"])
def test_deeply_nested_json_is_a_422_not_a_500(api: Api, route: str) -> None:
    """Issue 20: a RecursionError was not caught on PUT and /events."""
    _open(api, "I-1")
    deep = b'{"child":' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    method = api.client.put if not route else api.client.post
    answer = method(f"/v1/incidents/I-1{route}", headers=api.auth("control_room"), content=deep)
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "body"


@pytest.mark.parametrize("path_id", ["A%00B", "A%0AB", "A%FFB", "A%FEB"])
def test_control_characters_and_undecodable_bytes_in_a_path_id_are_refused(
    store_api: Api, path_id: str
) -> None:
    """Issue 20: %00 was a 500 on PostgreSQL; %FF and %FE both became U+FFFD, one incident."""
    h = store_api.auth("control_room")
    for answer in (
        store_api.client.put(f"/v1/incidents/{path_id}", headers=h, json={"child": CHILD}),
        store_api.client.get(f"/v1/incidents/{path_id}/evaluation", headers=h),
        store_api.client.get(f"/v1/incidents/{path_id}/decisions", headers=h),
    ):
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["field"] == "path.incident_id"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"child": {"child_id": "C\u0000x", "age_years": 14}}, "child.child_id", id="child-id"),
        pytest.param({"child": CHILD, "policy": "suffolk\u00002023"}, "policy", id="policy-id"),
    ],
)
def test_control_characters_in_body_ids_are_refused(store_api: Api, body: dict[str, Any], field: str) -> None:
    answer = store_api.client.put("/v1/incidents/I-1", headers=store_api.auth("control_room"), json=body)
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == field
    assert "control characters" in answer.json()["errors"][0]["message"]


def test_a_nul_in_an_event_id_is_refused(store_api: Api) -> None:
    _open(store_api, "I-1")
    event = {**REPORT, "id": "r\u0000"}
    answer = store_api.client.post(
        "/v1/incidents/I-1/events", headers=store_api.auth("control_room"), json={"events": [event]}
    )
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "events[0].id"


@pytest.mark.parametrize(
    ("profile", "status", "error"),
    [
        pytest.param(
            {
                "child": {
                    **CHILD,
                    "previous_episodes": [
                        {"reported_at": "2023-07-12T10:00:00+01:00", "recorded_on": "compact"}
                    ],
                }
            },
            422,
            {
                "field": "child.previous_episodes[0].reported_at",
                "message": "must be before this report (2023-07-11T19:40:00+01:00)",
            },
            id="episode-after-the-report",
        ),
        pytest.param(
            {"child": CHILD, "policy": "nope"},
            422,
            {
                "field": "policy",
                "message": "unknown policy 'nope' (known: baseline-pre-2023, suffolk-2023-02)",
            },
            id="unknown-policy",
        ),
    ],
)
def test_a_profile_the_stored_events_cannot_be_judged_with_is_refused_and_nothing_saved(
    store_api: Api, profile: dict[str, Any], status: int, error: dict[str, str]
) -> None:
    """Issue 20: such a PUT answered 200 and every later evaluation and append answered 422."""
    h = store_api.auth("control_room")
    _open(store_api, "I-1", REPORT, GRADED)
    before = store_api.client.get("/v1/incidents", headers=h).json()
    answer = store_api.client.put("/v1/incidents/I-1", headers=h, json=profile)
    assert answer.status_code == status and answer.json()["errors"] == [error]
    assert store_api.client.get("/v1/incidents", headers=h).json() == before
    assert store_api.client.get("/v1/incidents/I-1/evaluation", headers=h).status_code == 200
    again = store_api.client.put("/v1/incidents/I-1", headers=h, json={"child": CHILD})
    assert again.json() == {"incident_id": "I-1", "created": False, "profile_version": 1}


def test_a_profile_change_moves_the_worklist_at_once(store_api: Api) -> None:
    """Issue 20: the worklist kept the old next duty until a later append. After the PUT it is
    what an incident opened with the new profile from the start shows."""
    h = store_api.auth("control_room")
    changed = {**CHILD, "response_plan": True}  # the call handler must now consult the plan
    checks = {
        "id": "i",
        "type": "intelligence_checks",
        "at": "2023-07-11T19:45:00+01:00",
        "by": "call_handler",
    }
    _open(store_api, "I-1", REPORT, checks, GRADED)
    _open(store_api, "I-2", REPORT, checks, GRADED, child=changed)

    def entry(incident: str) -> dict[str, Any]:
        rows = store_api.client.get("/v1/incidents?status=all", headers=h).json()["incidents"]
        return next({**r, "incident_id": None} for r in rows if r["incident_id"] == incident)

    assert entry("I-1") != entry("I-2")  # the change matters to the worklist
    assert store_api.client.put("/v1/incidents/I-1", headers=h, json={"child": changed}).status_code == 200
    assert entry("I-1") == entry("I-2")


def test_append_errors_name_the_requests_own_events_and_stored_ones_by_id(api: Api) -> None:
    """Issue 20: indices counted stored plus new events ("found events[0], events[1]")."""
    _open(api, "I-1", REPORT, GRADED)
    second = {**REPORT, "id": "r2", "at": "2023-07-11T19:45:00+01:00"}
    answer = api.client.post(
        "/v1/incidents/I-1/events", headers=api.auth("control_room"), json={"events": [GRADED, second]}
    )
    assert answer.status_code == 422
    errors = answer.json()["errors"]
    assert {
        "field": "events",
        "message": "must hold exactly one report_received event; found stored event 'r', events[1]",
    } in errors


def test_an_incident_with_no_events_says_so(api: Api) -> None:
    """Issue 20: it said "list should have at least 1 item" about a body nobody sent."""
    _open(api, "I-1")
    answer = api.client.get("/v1/incidents/I-1/evaluation", headers=api.auth("control_room"))
    assert answer.status_code == 422
    assert answer.json()["detail"] == "incident I-1 has no events yet: append its report_received first"


def test_decisions_are_numbered_within_their_incident(store_api: Api) -> None:
    """Issue 20: one trail read 1, 2, 8, 9, 10 (numbers ran across all incidents)."""
    h = store_api.auth("control_room")
    _open(store_api, "I-1", REPORT)
    _open(store_api, "I-2", REPORT)
    for incident in ("I-1", "I-2", "I-1", "I-2", "I-1"):
        assert store_api.client.get(f"/v1/incidents/{incident}/evaluation", headers=h).status_code == 200
    one = store_api.client.get("/v1/incidents/I-1/decisions", headers=h).json()["decisions"]
    two = store_api.client.get("/v1/incidents/I-2/decisions?page=2&per_page=1", headers=h).json()["decisions"]
    assert [d["decision"] for d in one] == [1, 2, 3] and [d["decision"] for d in two] == [2]


@pytest.mark.slow
def test_a_full_incident_refuses_ordinary_events_and_can_still_be_closed(api: Api) -> None:
    """Issue 20: at 5,000 events every append, found and closed included, was refused."""
    h = api.auth("control_room")
    notes = [
        {
            "id": f"n{i}",
            "type": "note",
            "at": f"2023-07-12T{i // 60 % 24:02d}:{i % 60:02d}:00+01:00",
            "by": "sergeant",
            "text": "Seen.",
        }
        for i in range(1, 4990)
    ]
    _open(api, "I-1", REPORT)
    for start in range(0, len(notes), 1000):
        batch = {"events": notes[start : start + 1000]}
        assert api.client.post("/v1/incidents/I-1/events", headers=h, json=batch).status_code == 200
    late = {"id": "x", "type": "note", "at": "2023-07-15T10:00:00+01:00", "by": "sergeant", "text": "Seen."}
    refused = api.client.post("/v1/incidents/I-1/events", headers=h, json={"events": [late]})
    assert refused.status_code == 409 and refused.json()["type"] == "/problems/incident_full"
    closing = [
        {"id": "f", "type": "found", "at": "2023-07-15T10:00:00+01:00", "by": "frontline_officer"},
        {"id": "c", "type": "closed", "at": "2023-07-15T11:00:00+01:00", "by": "inspector"},
    ]
    closed = api.client.post("/v1/incidents/I-1/events", headers=h, json={"events": closing})
    assert closed.status_code == 200 and closed.json()["event_count"] == 4992
    listed = api.client.get("/v1/incidents?status=closed", headers=h).json()
    assert [i["incident_id"] for i in listed["incidents"]] == ["I-1"]


def test_stored_work_goes_to_the_lane_the_incidents_size_needs(api: Api, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Issue 20: a 5,000-event incident's evaluation queued in front of 1-event evaluations."""
    from misper.api.workers import pools

    used: list[str] = []
    real = pools.Lane.run

    async def spy(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        used.append(f"{self.name}:{fn.__name__}")
        return await real(self, fn, *args, **kwargs)

    monkeypatch.setattr(pools.Lane, "run", spy)
    h = api.auth("control_room")
    notes = [
        {
            "id": f"n{i}",
            "type": "note",
            "at": f"2023-07-12T0{i // 60}:{i % 60:02d}:00+01:00",
            "by": "sergeant",
            "text": "Seen.",
        }
        for i in range(pools.SMALL_EVENTS + 1)
    ]
    _open(api, "SMALL", REPORT)
    _open(api, "LARGE", REPORT, *notes)
    used.clear()
    api.client.get("/v1/incidents/SMALL/evaluation", headers=h)
    api.client.get("/v1/incidents/LARGE/evaluation", headers=h)
    assert [u for u in used if "size" not in u] == ["small:stored_evaluation", "large:stored_evaluation"]
