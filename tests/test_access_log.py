"""The access log: one JSON line per request whose fields are a closed set, never anything about the
child, even when a request fails unexpectedly (a 500 problem)."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from tests.support.api import make_api
from tests.support.paths import FIXTURES

CASE = (FIXTURES / "timelines" / "case-study.json").read_bytes()


def broken_job(*args, **kwargs):
    """A job for the worker process that fails the way an unforeseen bug would."""
    raise ValueError("child C-58213 aged 13")


def test_logs_carry_no_child_data(api) -> None:
    """Issue 7: logs carry no child data."""
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("misper.access")
    logger.addHandler(handler)
    try:
        api.client.post("/v1/evaluations", content=CASE, headers=api.auth("control_room"))
        api.client.post("/v1/evaluations", content=CASE.replace(b'+01:00"', b'"', 1), headers=api.auth())
    finally:
        logger.removeHandler(handler)
    assert len(lines) == 2
    records = [json.loads(line) for line in lines]
    policy_hash = records[0].pop("policy_sha256")  # the answer's policy: an id, nothing of the child
    assert policy_hash == api.app.state.registry.get("suffolk-2023-02").sha256
    for record in records:
        assert set(record) == {"at", "request_id", "method", "route", "status", "duration_ms", "key"}
        assert isinstance(record["duration_ms"], float) and len(record["request_id"]) == 32
        assert datetime.fromisoformat(record["at"]).utcoffset() == timedelta(0)
    assert records[0]["key"] == "test-control_room" and records[0]["route"] == "/v1/evaluations"
    # Every field but the two measured ones is one of a closed set of values: none can be the
    # child's age (13), id, factors or words. (Issue 7: the old substring test failed on a
    # duration such as 5.13.)
    shown = [[v for k, v in r.items() if k not in ("at", "request_id", "duration_ms")] for r in records]
    assert shown == [
        ["POST", "/v1/evaluations", 200, "test-control_room"],
        ["POST", "/v1/evaluations", 422, "test-admin"],
    ]


def test_an_unexpected_error_is_a_500_problem_and_logs_no_child_data(tmp_path, monkeypatch) -> None:
    """Issue 3: an unexpected error is a 500 problem and logs no child data."""
    import misper.api.http.routes.evaluations as route

    monkeypatch.setattr(route, "evaluation_json", broken_job)  # raised in the worker process
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage() + str(record.exc_info))  # type: ignore[method-assign]
    for name in ("misper.access", "uvicorn.error", ""):
        logging.getLogger(name).addHandler(handler)
    try:
        api = make_api(tmp_path)
        with api.client:
            response = api.client.post("/v1/evaluations", content=CASE, headers=api.auth())
    finally:
        for name in ("misper.access", "uvicorn.error", ""):
            logging.getLogger(name).removeHandler(handler)
    assert response.status_code == 500 and response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Internal error"
    assert len(lines) == 1 and json.loads(lines[0].removesuffix("None"))["error"] == "ValueError"
    assert "C-58213" not in "".join(lines)
