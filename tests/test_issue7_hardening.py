"""Issue 7: hardening. Each test reproduces a defect found by hostile or careless input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from misper.engine import InvalidTimeline, parse_timeline
from tests.api_support import make_api
from tests.conftest import misper, report_timeline

PROBLEM = "application/problem+json"


def test_issue7_a_report_with_fractional_seconds_can_be_simulated(api) -> None:
    body = report_timeline(
        [
            {
                "id": "g",
                "type": "risk_graded",
                "at": "2023-07-11T19:50:00.250+01:00",
                "by": "call_handler",
                "grade": "high",
            }
        ],
        as_of="2023-07-11T21:00:00+01:00",
    )
    body["events"][0]["at"] = "2023-07-11T19:40:00.750+01:00"
    response = api.client.post("/v1/simulations", json=body, headers=api.auth("trainer"))
    assert response.status_code == 200, response.text
    assert response.json()["steps"][0]["at"] == "2023-07-11T19:40:00+01:00"


def test_issue7_a_repeated_query_parameter_is_refused(api) -> None:
    response = api.client.post(
        "/v1/evaluations?policy=suffolk-2023-02&policy=baseline-pre-2023",
        json=report_timeline([]),
        headers=api.auth("control_room"),
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "query.policy", "message": "is given more than once; give it once"}
    ]


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        pytest.param(
            {"Content-Type": "text/plain"},
            "the body must be sent as Content-Type: application/json, not text/plain",
            id="text-plain",
        ),
        pytest.param(
            {"Content-Type": "application/x-www-form-urlencoded"},
            "the body must be sent as Content-Type: application/json, not application/x-www-form-urlencoded",
            id="curl-default",
        ),
        pytest.param(
            {"Content-Type": "application/json", "Content-Encoding": "gzip"},
            "the body must not be encoded (Content-Encoding: gzip); send plain JSON",
            id="gzip",
        ),
    ],
)
def test_issue7_a_body_that_is_not_plain_json_is_415(api, headers, detail) -> None:
    auth = {"Authorization": api.auth("control_room")["Authorization"], **headers}
    response = api.client.post("/v1/evaluations", content=json.dumps(report_timeline([])), headers=auth)
    assert response.status_code == 415 and response.headers["content-type"] == PROBLEM
    assert response.json() == {
        "type": "/problems/unsupported_media_type",
        "title": "Unsupported media type",
        "status": 415,
        "detail": detail,
    }


def test_issue7_json_with_a_charset_is_accepted(api) -> None:
    headers = {**api.auth("control_room"), "Content-Type": "application/json; charset=utf-8"}
    body = json.dumps(report_timeline([], as_of="2023-07-11T20:00:00+01:00"))
    assert api.client.post("/v1/evaluations", content=body, headers=headers).status_code == 200


def test_issue7_duplicate_keys_are_refused_naming_each() -> None:
    text = json.dumps(report_timeline([]))
    text = text.replace('"incident_id": "T-1"', '"incident_id": "T-1", "incident_id": "T-2"')
    text = text.replace('"age_years": 14', '"age_years": 14, "age_years": 9')
    with pytest.raises(InvalidTimeline) as info:
        parse_timeline(text)
    assert [e.as_dict() for e in info.value.errors] == [
        {
            "field": "child.age_years",
            "message": "is given more than once in one object; give each field once",
        },
        {"field": "incident_id", "message": "is given more than once in one object; give each field once"},
    ]


@pytest.mark.parametrize("value", ["1689100800", 1689100800], ids=["digits", "number"])
def test_issue7_an_instant_must_be_iso_text_with_an_offset(value) -> None:
    body = report_timeline([{"id": "f", "type": "found", "at": value}])
    with pytest.raises(InvalidTimeline) as info:
        parse_timeline(json.dumps(body))
    assert [e.field for e in info.value.errors] == ["events[1].at"]
    assert "2023-07-11T19:40:00+01:00" in info.value.errors[0].message


def test_issue7_the_cli_reads_no_more_than_the_size_limit(tmp_path) -> None:
    run = misper(
        "evaluate", "/dev/zero", env={"MISPER_MAX_BODY_BYTES": "4096", "MISPER_DATA_DIR": str(tmp_path)}
    )
    assert run.returncode == 2
    assert run.stderr == "misper: /dev/zero is over the limit of 4096 bytes (MISPER_MAX_BODY_BYTES)\n"


def _keys(data, *args: str) -> subprocess.CompletedProcess[str]:
    return misper("keys", *args, env={"MISPER_DATA_DIR": str(data)})


def test_issue7_parallel_key_creates_are_all_kept(tmp_path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(20) as pool:
        runs = list(
            pool.map(lambda n: _keys(tmp_path, "create", "--name", f"k{n}", "--role", "auditor"), range(20))
        )
    assert all(r.returncode == 0 and r.stdout.startswith("msp_") for r in runs)
    listed = _keys(tmp_path, "list").stdout.splitlines()
    assert sorted(line.split("\t")[0] for line in listed) == sorted(f"k{n}" for n in range(20))


def test_issue7_a_revoke_racing_creates_is_kept(tmp_path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from misper.api.keys import KeyStore

    secret = _keys(tmp_path, "create", "--name", "victim", "--role", "auditor").stdout.strip()
    with ThreadPoolExecutor(10) as pool:
        jobs = [
            pool.submit(_keys, tmp_path, "create", "--name", f"k{n}", "--role", "trainer") for n in range(9)
        ]
        revoked = pool.submit(_keys, tmp_path, "revoke", "victim")
        assert all(j.result().returncode == 0 for j in jobs) and revoked.result().returncode == 0
    store = KeyStore(tmp_path / "keys.json")
    assert store.verify(secret) is None
    assert len(store.list()) == 9


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        pytest.param("{not json", "is not valid JSON", id="corrupt"),
        pytest.param("", "is not valid JSON", id="empty"),
        pytest.param('["a"]', "is not a key store", id="wrong-shape"),
        pytest.param('{"keys": [{"name": "x"}]}', "is not a key store", id="missing-fields"),
    ],
)
def test_issue7_a_broken_key_store_is_503_not_500(tmp_path, content, problem) -> None:
    api = make_api(tmp_path)
    api.store.path.write_text(content)
    with api.client:
        response = api.client.post("/v1/evaluations", json=report_timeline([]), headers=api.auth())
        ready = api.client.get("/readyz")
    assert response.status_code == 503 and response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"].endswith("/key_store_unreadable") and problem in body["detail"]
    assert ready.status_code == 503
    listed = _keys(tmp_path, "list")
    assert listed.returncode == 2 and problem in listed.stderr and "Traceback" not in listed.stderr
    created = _keys(tmp_path, "create", "--name", "new", "--role", "auditor")
    assert created.returncode == 2 and problem in created.stderr


def test_issue7_an_unreadable_key_store_is_503(tmp_path) -> None:
    import os

    if os.geteuid() == 0:
        pytest.skip("root reads every file; the permission case cannot be made")
    api = make_api(tmp_path)
    api.store.path.chmod(0)
    with api.client:
        response = api.client.post("/v1/evaluations", json=report_timeline([]), headers=api.auth())
    assert response.status_code == 503 and "cannot be read" in response.json()["detail"]


def _alternating_reviews(n: int) -> dict:
    from datetime import datetime, timedelta

    t0 = datetime.fromisoformat("2023-07-11T19:40:00+01:00")
    events = [{"id": "r", "type": "report_received", "at": t0.isoformat(), "by": "call_handler"}]
    for i in range(n):
        at = (t0 + timedelta(minutes=5 * (i + 1))).isoformat()
        grade = "high" if i % 2 == 0 else "medium"
        events.append(
            {"id": f"e{i}", "type": "supervisor_review", "at": at, "by": "inspector", "grade": grade}
        )
    as_of = (t0 + timedelta(minutes=5 * (n + 2))).isoformat()
    return report_timeline([], as_of=as_of) | {"events": events}


def _calls(body: dict, policy) -> int:
    """Python and C function calls made by one evaluation: a count, not a time, so the test
    cannot pass or fail with the machine's load."""
    from misper.engine import evaluate

    timeline = parse_timeline(json.dumps(body))
    evaluate(timeline, policy)  # warm caches
    count = 0

    def profile(frame, event, arg) -> None:  # type: ignore[no-untyped-def]
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(profile)
    try:
        evaluate(timeline, policy)
    finally:
        sys.setprofile(None)
    return count


def test_issue7_evaluation_work_grows_linearly_with_events(policy) -> None:
    """Alternating regrades and reviews made the deadline computation quadratic (a 5,000-event
    timeline took 7-10 s). Four times the events must cost about four times the calls."""
    small, large = _calls(_alternating_reviews(300), policy), _calls(_alternating_reviews(1200), policy)
    assert large / small < 4.6, (small, large)


def _dense_regrades_and_reviews(n: int) -> dict:
    """Regrades to high and reviews one second apart: every review's next review is brought
    forward, and all the later regrades fall inside its interval."""
    from datetime import datetime, timedelta

    t0 = datetime.fromisoformat("2023-07-11T19:40:00+01:00")
    events = [{"id": "r", "type": "report_received", "at": t0.isoformat(), "by": "call_handler"}]
    for i in range(n):
        at = (t0 + timedelta(seconds=i + 1)).isoformat()
        if i % 2:
            events.append({"id": f"s{i}", "type": "supervisor_review", "at": at, "by": "sergeant"})
        else:
            grade = "high" if i % 4 == 0 else "medium"
            events.append(
                {"id": f"g{i}", "type": "risk_graded", "at": at, "by": "frontline_officer", "grade": grade}
            )
    return report_timeline([], as_of=(t0 + timedelta(hours=3)).isoformat()) | {"events": events}


def test_issue7_bringing_reviews_forward_stays_linear(policy) -> None:
    """S2's bring-forward scan once walked every later regrade in the interval: quadratic."""
    small = _calls(_dense_regrades_and_reviews(400), policy)
    large = _calls(_dense_regrades_and_reviews(1600), policy)
    assert large / small < 4.6, (small, large)


def test_issue7_worker_processes_are_replaced_without_losing_work(monkeypatch) -> None:
    """Python 3.11's max_tasks_per_child hangs queued jobs once a worker retires: the lanes
    replace whole pools instead. Every job must be answered, by more than one process."""
    import asyncio
    import os

    import misper.api.workers.pools as work

    monkeypatch.setattr(work, "MAX_TASKS", 3)
    lane = work.Lane("test", 1, 64)

    async def run_all() -> list[int]:
        return await asyncio.wait_for(asyncio.gather(*(lane.run(os.getpid) for _ in range(20))), timeout=120)

    try:
        pids = asyncio.run(run_all())
    finally:
        lane.shutdown()
    assert len(pids) == 20 and len(set(pids)) >= 5 and lane._busy == 0


@pytest.mark.parametrize("layout", ["data-under-a-file", "lock-is-a-folder"])
def test_issue7_key_commands_explain_a_data_folder_they_cannot_use(tmp_path, layout) -> None:
    if layout == "data-under-a-file":
        (tmp_path / "afile").write_text("x")
        data = tmp_path / "afile" / "data"
    else:
        data = tmp_path / "data"
        (data / "keys.json.lock").mkdir(parents=True)
    for args in (("create", "--name", "k", "--role", "auditor"), ("revoke", "k"), ("list",)):
        run = _keys(data, *args)
        assert "Traceback" not in run.stderr, run.stderr
        assert run.returncode in (0, 2) and (run.returncode == 0 or run.stderr.startswith("misper: "))
    assert run.returncode == (2 if layout == "data-under-a-file" else 0)  # list: nothing, or cannot read
