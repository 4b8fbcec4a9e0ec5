"""What operators and integrators rely on beyond single answers (issue 20): replays admitted in a
bounded number and run to their end, lines that end at newlines only, a document that types the
incident routes, parameters named as the caller gave them, and Prometheus metrics with no child
data behind a key of their own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.api import Api
from tests.support.cli import misper
from tests.support.paths import FIXTURES
from tests.support.timelines import report_timeline

NDJSON = "application/x-ndjson"
CASE = json.loads((FIXTURES / "timelines" / "case-study.json").read_text())


def _corpus_line(note: str) -> str:
    body = report_timeline(
        [{"id": "n", "type": "note", "at": "2023-07-11T20:00:00+01:00", "by": "sergeant", "text": note}]
    )
    return json.dumps(body, ensure_ascii=False)


def _replay(api: Api, content: bytes) -> Any:
    return api.client.post(
        "/v1/replays", content=content, headers={**api.auth("auditor"), "Content-Type": NDJSON}
    )


def test_replay_lines_end_at_a_newline_only_over_http(api: Api) -> None:
    """Issue 20: str.splitlines() broke a note holding U+2028 into two "not JSON" errors."""
    corpus = "\n".join(_corpus_line(f"seen{sep}again") for sep in ("\u2028", "\u2029", "\u0085")) + "\n"
    out = [json.loads(line) for line in _replay(api, corpus.encode()).text.splitlines()]
    assert [r.get("line") for r in out[:-1]] == [1, 2, 3]
    assert all("evaluation" in r for r in out[:-1]) and out[-1]["summary"]["errors"] == 0


@pytest.mark.cli
def test_replay_lines_end_at_a_newline_only_on_the_command_line(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        _corpus_line("one\u2028two") + "\n" + _corpus_line("three\rfour") + "\n", encoding="utf-8"
    )
    done = misper("replay", str(corpus), "--workers", "1", "--errors", str(tmp_path / "e.jsonl"))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["incidents"] == 2 and json.loads(done.stdout)["errors"] == 0


def test_replays_beyond_the_limit_are_refused_before_their_body(api: Api) -> None:
    """Issue 20: any number of 64 MiB bodies were held at once."""
    admission = api.app.state.pools.replays
    taken = [admission.admit() for _ in range(admission.limit)]
    try:
        refused = _replay(api, (_corpus_line("x") + "\n").encode())
        assert refused.status_code == 429 and refused.headers["retry-after"] == "5"
    finally:
        for release in taken:
            release()
    assert _replay(api, (_corpus_line("x") + "\n").encode()).status_code == 200
    assert admission.held == 0


def test_an_admitted_replay_runs_to_its_end_while_its_lane_is_full(api: Api) -> None:
    """Issue 20: a later chunk's 429 was raised inside a stream that had answered 200, and the
    stream ended with no summary."""
    from misper.api.http.routes import replays

    lane = api.app.state.pools.large
    lines = "\n".join(_corpus_line(f"n{i}") for i in range(replays.CHUNK + 5)).encode()
    lane._busy += lane.processes + lane.waiting  # every later request would be refused
    try:
        assert lane.full()
        answer = _replay(api, lines)
    finally:
        lane._busy -= lane.processes + lane.waiting
    out = [json.loads(line) for line in answer.text.splitlines()]
    assert answer.status_code == 200 and out[-1]["summary"]["incidents"] == replays.CHUNK + 5


def test_the_document_types_every_answer_of_the_incident_routes(api: Api) -> None:
    """Issue 20: the 201 of PUT had no schema; grades, roles and instants were plain strings."""
    document = api.client.get("/openapi.json").json()
    put = document["paths"]["/v1/incidents/{incident_id}"]["put"]["responses"]
    assert put["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/IncidentSaved"
    }
    schemas = document["components"]["schemas"]

    def kind(model: str, field: str) -> Any:
        prop = schemas[model]["properties"][field]
        options = prop.get("anyOf", [prop])
        return [o.get("$ref", o.get("format", o.get("type"))) for o in options]

    assert kind("WorklistItem", "current_grade") == ["#/components/schemas/Grade", "null"]
    assert kind("WorklistItem", "required_role") == ["#/components/schemas/Role", "null"]
    assert kind("NextDuty", "owner") == ["#/components/schemas/Role"]
    assert kind("NextDuty", "due_at") == ["date-time"]
    assert kind("Decision", "asked_at") == ["date-time"] and kind("Decision", "as_of") == ["date-time"]
    assert {"$ref": "#/components/schemas/FindingCode"} in schemas["FindingCodeView"]["properties"]["code"][
        "anyOf"
    ]


def test_a_query_instant_before_the_report_is_named_as_a_query_parameter(api: Api) -> None:
    """Issue 20: the error named as_of, not query.as_of."""
    answer = api.client.post(
        "/v1/evaluations?as_of=2023-07-10T00:00:00%2B01:00",
        headers=api.auth("control_room"),
        json=report_timeline([]),  # no as_of of its own: the query's is the only one
    )
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "query.as_of"


def test_a_page_with_at_is_refused_not_ignored(api: Api) -> None:
    """Issue 20: ?page= was silently ignored with ?at=."""
    answer = api.client.post(
        "/v1/simulations?at=2023-07-12T07:40:00%2B01:00&page=2", headers=api.auth("trainer"), json=CASE
    )
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "query.page"


def test_metrics_need_their_own_key_and_hold_no_child_data(api: Api) -> None:
    """Issue 20: operators' metrics, behind a key like every other route, with nothing about a
    child in any label."""
    h = api.auth("control_room")
    assert (
        api.client.put(
            "/v1/incidents/SUF-1", headers=h, json={"child": {"child_id": "C-58213", "age_years": 13}}
        ).status_code
        == 201
    )
    assert api.client.post("/v1/evaluations", headers=h, json=CASE).status_code == 200
    assert api.client.get("/v1/incidents/NOPE/decisions", headers=h).status_code == 404
    assert api.client.get("/metrics").status_code == 401
    assert api.client.get("/metrics", headers=h).status_code == 403
    scraped = api.client.get("/metrics", headers=api.auth("metrics"))
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    text = scraped.text
    assert 'route="/v1/evaluations",status="200"' in text
    assert 'misper_store_errors_total{kind="unknown_incident"' in text
    assert 'misper_lane_refused_total{lane="small"' in text and "misper_open_incidents 1.0" in text
    assert "misper_open_alerts 0.0" in text
    for child_data in ("C-58213", "SUF-1", "NOPE", CASE["child"]["child_id"], CASE["incident_id"]):
        assert child_data not in text
    metrics_key = api.auth("metrics")
    assert api.client.post("/v1/evaluations", headers=metrics_key, json=CASE).status_code == 403
