"""Issue 24: `misper rules schema` writes the JSON Schemas of a policy folder's files, generated
from the models that load them; every shipped policy file follows them, and a misspelt key is
flagged as an editor's YAML language server would flag it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from misper.engine.policy.registry import shipped_rules_dir
from misper.engine.policy.schema import file_kind
from misper.engine.policy.yamlfile import read_yaml
from tests.support.cli import misper

pytestmark = pytest.mark.cli


def _schemas(tmp_path: Path) -> dict[str, jsonschema.Draft202012Validator]:
    done = misper("rules", "schema", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    written = {Path(line).name for line in done.stdout.splitlines()}
    assert written == {"policy.schema.json", "parameters.schema.json", "clauses.schema.json"}
    return {
        kind: jsonschema.Draft202012Validator(json.loads((tmp_path / f"{kind}.schema.json").read_text()))
        for kind in ("policy", "parameters", "clauses")
    }


def test_every_shipped_policy_file_follows_its_schema(tmp_path: Path) -> None:
    validators = _schemas(tmp_path)
    files = sorted(p for p in shipped_rules_dir().glob("*/*.yaml"))
    assert len(files) >= 20
    for path in files:
        problems = [
            e.message for e in validators[file_kind(path.name)].iter_errors(read_yaml(path.read_text()))
        ]
        assert problems == [], path


def test_a_misspelt_key_is_flagged_by_the_schema(tmp_path: Path) -> None:
    validators = _schemas(tmp_path)
    found = read_yaml((shipped_rules_dir() / "suffolk-2023-02" / "looked_after.yaml").read_text())
    found["rules"][0]["tests"][0]["expect_fire"] = found["rules"][0]["tests"][0].pop("expect_fires")
    problems = [e.message for e in validators["clauses"].iter_errors(found)]
    assert any("'expect_fire' was unexpected" in p for p in problems), problems
    parameters = {
        "return_home_interview": {"value": 72, "unit": "hourz", "clause": "F3", "provenance": "stated"}
    }
    assert list(validators["parameters"].iter_errors(parameters))


def test_one_kind_is_printed_and_no_kind_without_out_is_refused() -> None:
    printed = misper("rules", "schema", "parameters")
    assert printed.returncode == 0 and json.loads(printed.stdout)["title"].startswith(
        "misper parameters.yaml"
    )
    refused = misper("rules", "schema")
    assert refused.returncode == 2 and "--out DIR" in refused.stderr
