"""Hostile or careless input (odd media types and encodings, repeated keys or parameters, deep
nesting, non-JSON values, instants that overflow, bodies and files over the limit) is refused naming
what is wrong, never a crash or a 500; harmless variations are accepted."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime

import pytest

from misper.engine import InvalidTimeline, evaluate, parse_timeline
from tests.support.api import PROBLEM, make_api
from tests.support.cli import misper
from tests.support.paths import FIXTURES, ROOT
from tests.support.timelines import report_timeline

CASE = (FIXTURES / "timelines" / "case-study.json").read_bytes()


def test_body_over_the_limit_is_413(tmp_path) -> None:
    api = make_api(tmp_path, max_body_bytes=1000)
    with api.client:
        response = api.client.post("/v1/evaluations", content=CASE, headers=api.auth())
    assert response.status_code == 413 and response.json() == {
        "type": "/problems/request_body_too_large",
        "title": "Request body too large",
        "status": 413,
        "detail": "the body is over the limit of 1000 bytes",
    }


def test_a_report_with_fractional_seconds_can_be_simulated(api) -> None:
    """Issue 7: a report with fractional seconds can be simulated."""
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


def test_a_repeated_query_parameter_is_refused(api) -> None:
    """Issue 7: a repeated query parameter is refused."""
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
def test_a_body_that_is_not_plain_json_is_415(api, headers, detail) -> None:
    """Issue 7: a body that is not plain JSON is 415."""
    auth = {"Authorization": api.auth("control_room")["Authorization"], **headers}
    response = api.client.post("/v1/evaluations", content=json.dumps(report_timeline([])), headers=auth)
    assert response.status_code == 415 and response.headers["content-type"] == PROBLEM
    assert response.json() == {
        "type": "/problems/unsupported_media_type",
        "title": "Unsupported media type",
        "status": 415,
        "detail": detail,
    }


def test_json_with_a_charset_is_accepted(api) -> None:
    """Issue 7: JSON with a charset is accepted."""
    headers = {**api.auth("control_room"), "Content-Type": "application/json; charset=utf-8"}
    body = json.dumps(report_timeline([], as_of="2023-07-11T20:00:00+01:00"))
    assert api.client.post("/v1/evaluations", content=body, headers=headers).status_code == 200


def test_duplicate_keys_are_refused_naming_each() -> None:
    """Issue 7: duplicate keys are refused naming each."""
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
def test_an_instant_must_be_iso_text_with_an_offset(value) -> None:
    """Issue 7: an instant must be ISO text with an offset."""
    body = report_timeline([{"id": "f", "type": "found", "at": value}])
    with pytest.raises(InvalidTimeline) as info:
        parse_timeline(json.dumps(body))
    assert [e.field for e in info.value.errors] == ["events[1].at"]
    assert "2023-07-11T19:40:00+01:00" in info.value.errors[0].message


@pytest.mark.cli
def test_the_cli_reads_no_more_than_the_size_limit(tmp_path) -> None:
    """Issue 7: the CLI reads no more than the size limit."""
    run = misper(
        "evaluate", "/dev/zero", env={"MISPER_MAX_BODY_BYTES": "4096", "MISPER_DATA_DIR": str(tmp_path)}
    )
    assert run.returncode == 2
    assert run.stderr == "misper: /dev/zero is over the limit of 4096 bytes (MISPER_MAX_BODY_BYTES)\n"


def test_deeply_nested_json_is_a_field_error_not_a_crash() -> None:
    """Issue 2: deeply nested JSON is a field error not a crash."""
    with pytest.raises(InvalidTimeline) as info:
        parse_timeline(b'{"incident_id":"I","zz":' + b"[" * 100_000)
    assert info.value.errors[0].field == "body"


def test_a_dict_holding_non_json_values_is_refused() -> None:
    """Issue 2: a dict holding non-JSON values is refused."""
    with pytest.raises(InvalidTimeline) as info:
        parse_timeline({"incident_id": "I", "as_of": datetime(2023, 1, 1)})
    assert info.value.errors[0].field == "body"


@pytest.mark.cli
def test_as_of_whose_offset_overflows_is_refused(policy) -> None:
    """Issue 2: as_of whose offset overflows is refused."""
    timeline = parse_timeline(CASE)
    with pytest.raises(InvalidTimeline) as info:
        evaluate(timeline, policy, datetime.fromisoformat("9999-12-31T23:59:59-23:59"))
    assert [e.as_dict() for e in info.value.errors] == [
        {"field": "as_of", "message": "must be between 1970-01-01 and 2999-12-31"}
    ]
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "misper.api.cli",
            "evaluate",
            "fixtures/timelines/case-study.json",
            "--as-of",
            "9999-12-31T23:59:59-23:59",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and '"field": "--as-of"' in run.stderr


def test_a_query_instant_whose_offset_overflows_is_422(tmp_path) -> None:
    """Issue 3: a query instant whose offset overflows is 422."""
    api = make_api(tmp_path)
    with api.client:
        response = api.client.post(
            "/v1/evaluations", content=CASE, headers=api.auth(), params={"as_of": "9999-12-31T23:59:59-23:59"}
        )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "query.as_of", "message": "must be between 1970-01-01 and 2999-12-31"}
    ]
