"""POST /v1/evaluations: the same answer as the command line; as_of and policy as query parameters,
checked against the body; every refusal a problem+json naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.api import PROBLEM, make_api
from tests.support.paths import FIXTURES
from tests.support.timelines import report_timeline

CASE = (FIXTURES / "timelines" / "case-study.json").read_bytes()


@pytest.mark.parametrize("role", ["control_room", "trainer", "auditor", "admin"])
def test_evaluation_is_the_cli_evaluation(api, role) -> None:
    response = api.client.post("/v1/evaluations", content=CASE, headers=api.auth(role))
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.json() == json.loads((FIXTURES / "golden" / "case-study.json").read_text())


def test_naive_timestamp_is_422_naming_the_field(api) -> None:
    body = report_timeline([{"id": "f", "type": "found", "at": "2023-07-11T21:00:00"}])
    response = api.client.post("/v1/evaluations", json=body, headers=api.auth("control_room"))
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM
    assert response.json() == {
        "type": "/problems/invalid_timeline",
        "title": "The timeline is not valid",
        "status": 422,
        "detail": "the timeline does not follow contract v1",
        "errors": [
            {
                "field": "events[1].at",
                "message": (
                    "must carry a UTC offset, e.g. 2023-07-11T19:40:00+01:00: a local time without one is "
                    "ambiguous around daylight-saving changes"
                ),
            }
        ],
    }


def test_as_of_and_policy_as_query_parameters(api) -> None:
    body = json.loads(CASE)
    del body["as_of"], body["policy"]
    response = api.client.post(
        "/v1/evaluations",
        json=body,
        headers=api.auth("control_room"),
        params={"as_of": "2023-07-11T20:20:00+01:00", "policy": "suffolk-2023-02"},
    )
    result = response.json()
    assert result["as_of"] == "2023-07-11T20:20:00+01:00" and result["mode"] == "live"


def test_query_and_body_must_agree(api) -> None:
    response = api.client.post(
        "/v1/evaluations",
        content=CASE,
        headers=api.auth("control_room"),
        params={"as_of": "2023-07-11T20:20:00+01:00"},
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "field": "query.as_of",
            "message": "differs from the as_of in the timeline (2023-07-14T09:00:00+01:00); send one",
        }
    ]


def test_naive_query_instant_is_422(api) -> None:
    response = api.client.post(
        "/v1/evaluations",
        content=CASE,
        headers=api.auth("control_room"),
        params={"as_of": "2023-07-11T20:20:00"},
    )
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "query.as_of"


def test_unknown_policy_is_422_with_a_suggestion(api) -> None:
    body = json.loads(CASE)
    del body["policy"]
    response = api.client.post(
        "/v1/evaluations",
        json=body,
        headers=api.auth("control_room"),
        params={"policy": "suffolk-2023-03"},
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "field": "policy",
            "message": (
                "unknown policy 'suffolk-2023-03'; did you mean 'suffolk-2023-02'? "
                "(known: baseline-pre-2023, suffolk-2023-02)"
            ),
        }
    ]


def test_unknown_policy_and_route_are_404_problems(api) -> None:
    missing = api.client.get("/v1/policies/suffolk-2023-03", headers=api.auth())
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    assert "did you mean 'suffolk-2023-02'" in missing.json()["detail"]
    route = api.client.get("/v2/nothing")
    assert route.status_code == 404 and route.json()["title"] == "Not found"
    method = api.client.get("/v1/evaluations", headers=api.auth())
    assert method.status_code == 405 and method.headers["content-type"] == PROBLEM


def test_unknown_query_parameter_is_refused_not_ignored(api) -> None:
    response = api.client.post(
        "/v1/evaluations",
        content=CASE,
        headers=api.auth("control_room"),
        params={"asof": "2023-07-11T20:20:00+01:00"},
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "field": "query.asof",
            "message": "is not a parameter of this route; accepted: as_of, policy, trace, why_not",
        }
    ]


def test_a_lost_plus_in_a_query_instant_gets_a_hint(tmp_path: Path) -> None:
    """Issue 6: a lost plus in a query instant gets a hint."""
    api = make_api(tmp_path)
    body = report_timeline([])
    with api.client:
        # An unencoded '+' in a query string arrives as a space.
        response = api.client.post(
            "/v1/evaluations?as_of=2023-07-11T20:20:00+01:00", json=body, headers=api.auth("control_room")
        )
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["field"] == "query.as_of" and "%2B" in error["message"]
