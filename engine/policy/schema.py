"""JSON Schemas of a policy folder's files, generated from the models that load them, so an editor
with a YAML language server completes keys and flags a misspelt one as the author types:
``policy.yaml`` (PolicyMeta), ``parameters.yaml`` (parameter name -> Parameter) and every other
file of clauses (ClauseFile: deadlines and rules). The loader checks more than a schema can say
(names against the vocabularies, references between files, the embedded tests): the schema is
the first line, the loader the last word."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from misper.engine.policy.files import ClauseFile, Parameter, PolicyMeta

SCHEMA_FILES = {
    "policy": "policy.schema.json",
    "parameters": "parameters.schema.json",
    "clauses": "clauses.schema.json",
}
DIALECT = "https://json-schema.org/draft/2020-12/schema"
TITLES = {
    "policy": "misper policy.yaml: the policy's identity, clauses, codes, messages and rubric",
    "parameters": "misper parameters.yaml: each number or list the policy sets, with its provenance",
    "clauses": "misper clause file: the deadlines and rules of some clauses, each with its tests",
}


def file_kind(name: str) -> str:
    """Which schema a policy folder's file follows, by its name."""
    return {"policy.yaml": "policy", "parameters.yaml": "parameters"}.get(name, "clauses")


def policy_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of one kind of policy file (policy, parameters or clauses)."""
    if kind == "policy":
        schema = PolicyMeta.model_json_schema()
    elif kind == "parameters":
        schema = TypeAdapter(dict[str, Parameter]).json_schema()
    elif kind == "clauses":
        schema = ClauseFile.model_json_schema()
    else:
        raise ValueError(f"unknown kind of policy file {kind!r}; kinds: {', '.join(SCHEMA_FILES)}")
    return {"$schema": DIALECT, "title": TITLES[kind], **{k: v for k, v in schema.items() if k != "title"}}
