"""The served OpenAPI document: stable operation ids with the roles that may call them, typed answer
values and defaults, examples that validate and are current, a description for every field and
parameter, every problem type listed with a page."""

from __future__ import annotations

import json

from tests.support.paths import ROOT


def _problem_slugs_raised() -> set[str]:
    """Every slug the API's code passes to ApiProblem, and every engine error code."""
    import ast

    from misper.engine.errors import EngineError

    slugs: set[str] = set()
    for path in (ROOT / "api").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", "") == "ApiProblem"
                and len(node.args) >= 2
            ):
                if isinstance(node.args[1], ast.Constant):
                    slugs.add(node.args[1].value)
    pending = [EngineError]
    while pending:
        cls = pending.pop()
        slugs.add(cls.code)
        pending += cls.__subclasses__()
    from misper.api.http.problems import HTTP_TITLES

    slugs |= {t.lower().replace(" ", "_") for t in HTTP_TITLES.values()} | {"request_failed", "bad_request"}
    return slugs


def test_openapi_has_the_contract_examples(api) -> None:
    schema = api.client.get("/openapi.json").json()
    body = schema["paths"]["/v1/evaluations"]["post"]["requestBody"]["content"]["application/json"]
    assert body["examples"]["contract-v1"]["value"]["incident_id"] == "SUF-23-004711"
    assert "Timeline" in schema["components"]["schemas"]
    assert api.client.get("/docs").status_code == 200


def test_openapi_example_evaluation_is_current(api, request) -> None:
    path = ROOT / "api" / "http" / "examples"
    response = api.client.post(
        "/v1/evaluations", content=(path / "timeline.json").read_bytes(), headers=api.auth()
    )
    output = json.dumps(response.json(), indent=2) + "\n"
    if request.config.getoption("--update-golden"):
        (path / "evaluation.json").write_text(output)
    assert json.loads(output) == json.loads((path / "evaluation.json").read_text())


def test_operations_have_stable_ids_and_say_who_may_call_them(api) -> None:
    """Issue 12: operations have stable ids and say who may call them."""
    schema = api.client.get("/openapi.json").json()
    operations = {
        (path, method): op for path, methods in schema["paths"].items() for method, op in methods.items()
    }
    ids = {key: op["operationId"] for key, op in operations.items()}
    assert ids == {
        ("/v1/evaluations", "post"): "createEvaluation",
        ("/v1/simulations", "post"): "createSimulation",
        ("/v1/policies", "get"): "listPolicies",
        ("/v1/policies/{policy_id}", "get"): "getPolicy",
        ("/v1/incidents/{incident_id}", "put"): "putIncident",
        ("/v1/incidents/{incident_id}", "get"): "getIncident",
        ("/v1/incidents/{incident_id}/events", "post"): "appendEvents",
        ("/v1/incidents/{incident_id}/evaluation", "get"): "getIncidentEvaluation",
        ("/v1/incidents", "get"): "listIncidents",
        ("/v1/incidents/{incident_id}/decisions", "get"): "listDecisions",
        ("/v1/incidents/{incident_id}/audit", "get"): "incidentAudit",
        ("/v1/alerts", "get"): "listAlerts",
        ("/v1/alerts/{alert_id}/ack", "post"): "acknowledgeAlert",
        ("/v1/alerts/stream", "get"): "streamAlerts",
        ("/v1/subscriptions", "post"): "createSubscription",
        ("/v1/subscriptions", "get"): "listSubscriptions",
        ("/v1/subscriptions/{subscription_id}", "delete"): "deleteSubscription",
        ("/v1/subscriptions/{subscription_id}/deliveries", "get"): "listDeliveries",
        ("/v1/replays", "post"): "createReplay",
        ("/healthz", "get"): "getHealth",
        ("/readyz", "get"): "getReadiness",
        ("/problems", "get"): "listProblemTypes",
        ("/problems/{slug}", "get"): "getProblemType",
        ("/metrics", "get"): "getMetrics",
    }
    assert operations[("/v1/evaluations", "post")]["x-roles"] == [
        "control_room",
        "trainer",
        "auditor",
        "admin",
    ]
    assert operations[("/v1/simulations", "post")]["x-roles"] == ["trainer", "auditor", "admin"]
    assert {"415", "429"} <= set(operations[("/v1/evaluations", "post")]["responses"])
    for (path, method), name in (
        (("/v1/evaluations", "post"), "as_of"),
        (("/v1/simulations", "post"), "until"),
    ):
        param = next(p for p in operations[(path, method)]["parameters"] if p["name"] == name)
        assert (param["schema"]["type"], param["schema"]["format"]) == ("string", "date-time")


def test_answer_values_are_typed_in_the_schema(api) -> None:
    """Issue 12: answer values are typed in the schema."""
    schemas = api.client.get("/openapi.json").json()["components"]["schemas"]
    deadline = schemas["Deadline"]["properties"]
    status = schemas[deadline["status"]["$ref"].rsplit("/", 1)[1]]
    assert status["enum"] == ["met", "met_late", "breached", "pending", "due_soon", "not_applicable"]
    assert (deadline["due_at"]["type"], deadline["due_at"]["format"]) == ("string", "date-time")
    finding = schemas["Finding"]["properties"]
    assert schemas[finding["severity"]["$ref"].rsplit("/", 1)[1]]["enum"] == [
        "breach",
        "warning",
        "action",
        "advisory",
    ]
    contract, force = finding["code"]["anyOf"]
    assert "GRADE_NOT_ALLOWED" in schemas[contract["$ref"].rsplit("/", 1)[1]]["enum"]
    assert force == {"type": "string", "pattern": "^[A-Z][A-Z0-9_]{2,63}$"}
    assert schemas["Evaluation"]["properties"]["mode"]["enum"] == ["live", "complete"]


def test_optional_lists_state_their_defaults(api) -> None:
    """Issue 12: optional lists state their defaults."""
    child = api.client.get("/openapi.json").json()["components"]["schemas"]["Child"]["properties"]
    assert child["risk_factors"]["default"] == [] and child["previous_episodes"]["default"] == []


def test_served_examples_validate_against_the_served_schema(api) -> None:
    """Issue 12: served examples validate against the served schema."""
    import jsonschema_rs

    document = api.client.get("/openapi.json").json()
    checked = 0
    for methods in document["paths"].values():
        for operation in methods.values():
            bodies = [operation.get("requestBody", {}).get("content", {}).get("application/json", {})]
            bodies += [
                a.get("content", {}).get("application/json", {}) for a in operation["responses"].values()
            ]
            for content in bodies:
                examples = [e["value"] for e in content.get("examples", {}).values()]
                examples += [content["example"]] if "example" in content else []
                for example in examples:
                    schema = {"components": document["components"], **content["schema"]}
                    errors = [e.message for e in jsonschema_rs.validator_for(schema).iter_errors(example)]
                    assert errors == [], errors[:3]
                    checked += 1
    assert checked >= 3  # the timeline (twice, as request bodies) and the evaluation


def test_every_problem_type_is_listed_and_has_a_page(api) -> None:
    """Issue 12: every problem type is listed and has a page."""
    from misper.api.http.problem_types import REGISTRY

    raised = _problem_slugs_raised()
    assert raised <= set(REGISTRY), raised - set(REGISTRY)
    listed = api.client.get("/openapi.json").json()["x-problem-types"]
    assert [t["type"] for t in listed] == [f"/problems/{slug}" for slug in REGISTRY]
    page = api.client.get("/problems/invalid_timeline")  # no key: documentation
    assert page.status_code == 200 and page.json()["status"] == 422
    assert api.client.get("/problems").json() == listed
    missing = api.client.get("/problems/nope")
    assert missing.status_code == 404 and missing.json()["type"] == "/problems/not_found"


def test_every_field_and_parameter_has_a_description(api) -> None:
    """Issue 12: every field and parameter has a description."""
    import yaml

    from misper.api.http.openapi import DESCRIPTIONS, describe

    document = api.client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    bare = [
        f"{m}.{p}"
        for m, s in schemas.items()
        for p, v in s.get("properties", {}).items()
        if not v.get("description")
    ]
    assert bare == []
    params = [
        f"{method} {path} {p['name']}"
        for path, methods in document["paths"].items()
        for method, op in methods.items()
        for p in op.get("parameters", [])
        if not p.get("description")
    ]
    assert params == []
    # Every wording in the file is used: none is left behind when a field is renamed.
    fresh = {m: {**s, "properties": {k: {} for k in s.get("properties", {})}} for m, s in schemas.items()}
    assert set(yaml.safe_load(DESCRIPTIONS.read_text())) == describe(fresh)


def test_openapi_spec_validator_reports_nothing(api) -> None:
    """Issue 12: OpenAPI spec validator reports nothing."""
    from openapi_spec_validator import validate

    validate(api.client.get("/openapi.json").json())  # raises on any error
