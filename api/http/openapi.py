"""The OpenAPI document: the timeline's JSON schema, problem responses and contract examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from misper.api.alerts.models import MODELS as ALERT_MODELS
from misper.api.alerts.models import AckAsk, SubscriptionAsk
from misper.api.http.problem_types import REGISTRY
from misper.api.http.problems import MEDIA_TYPE, Problem
from misper.api.incidents.models import MODELS, EventBatch, IncidentProfile
from misper.engine import Timeline
from misper.engine.contract.evaluation import Evaluation, Simulation

REF = "#/components/schemas/{model}"
EXAMPLES = Path(__file__).resolve().parent / "examples"


def _example(name: str) -> Any:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def timeline_body() -> dict[str, Any]:
    """The request body of the evaluation and simulation routes (parsed by the engine itself)."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": REF.format(model="Timeline")},
                    "examples": {
                        "contract-v1": {
                            "summary": "The contract's example timeline",
                            "value": _example("timeline.json"),
                        }
                    },
                }
            },
        }
    }


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    text = {
        401: "No API key, or not a valid one",
        403: "The key's role may not use this route",
        404: "Not found",
        409: "An event id is already stored with other content, or the incident is full (only found "
        "and closed events fit)",
        413: "The request body is over the size limit",
        415: "The body is not sent as Content-Type: application/json, or is encoded",
        429: "The evaluation lane is full; retry after the Retry-After seconds",
        422: "The input is not valid; errors name each bad field",
        500: "An unforeseen error (none is expected; nothing about the request is logged)",
        503: "Not ready (policies not loaded, key store unreadable), or the evaluation could not be made",
    }
    return {
        s: {
            "description": text[s],
            "content": {MEDIA_TYPE: {"schema": {"$ref": REF.format(model="Problem")}}},
        }
        for s in statuses
    }


def json_response(
    model: str, description: str, example: str | None = None
) -> dict[int | str, dict[str, Any]]:
    content: dict[str, Any] = {"schema": {"$ref": REF.format(model=model)}}
    if example:
        content["x-example-file"] = example  # filled in whole by _restore_examples
    return {200: {"description": description, "content": {"application/json": content}}}


def _restore_examples(schema: dict[str, Any]) -> None:
    """FastAPI drops every null from the document, examples included, and an answer without
    its nulls fails its own schema: put each example file back as it is."""
    for methods in schema.get("paths", {}).values():
        for operation in methods.values():
            for answer in operation.get("responses", {}).values():
                content = answer.get("content", {}).get("application/json", {})
                name = content.get("x-example-file")
                if name:
                    content["example"] = _example(name)
                    del content["x-example-file"]


DESCRIPTIONS = Path(__file__).resolve().parent / "field_descriptions.yaml"


def describe(components: dict[str, Any]) -> set[str]:
    """Give every field a description from field_descriptions.yaml (Model.field, else field);
    return the keys used."""
    wording = yaml.safe_load(DESCRIPTIONS.read_text(encoding="utf-8"))
    used = set()
    for model, schema in components.items():
        for name, prop in schema.get("properties", {}).items():
            key = f"{model}.{name}" if f"{model}.{name}" in wording else name
            if key in wording and "description" not in prop:
                prop["description"] = wording[key]
                used.add(key)
    return used


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        _restore_examples(schema)
        schema["x-problem-types"] = [t.as_dict() for t in REGISTRY.values()]
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        requests = (Timeline, IncidentProfile, EventBatch, SubscriptionAsk, AckAsk)
        for model in (Timeline, Evaluation, Simulation, Problem, *MODELS, *ALERT_MODELS):
            generated = model.model_json_schema(
                ref_template=REF, mode="validation" if model in requests else "serialization"
            )
            components.update(generated.pop("$defs", {}))
            components[model.__name__] = generated
        describe(components)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
