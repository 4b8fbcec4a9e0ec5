"""Start-up and readiness: the app and `misper serve` start only on loadable, self-tested policies
and a usable database, stopping with the reason otherwise; /healthz needs no key and /readyz fails
while the key store or the policies cannot be read."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from misper.api.http.app import create_app
from misper.api.settings import Settings
from misper.engine import PolicyInvalid
from tests.support.api import make_api
from tests.support.cli import misper, serve_with_rules
from tests.support.paths import ROOT
from tests.support.policies import edit_yaml


def test_health_needs_no_key(api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    assert api.client.get("/readyz").json() == {
        "status": "ready",
        "policies": ["baseline-pre-2023", "sussex-2022-09", "suffolk-2023-02"],
    }


@pytest.mark.cli
def test_a_broken_rules_folder_stops_start_up(tmp_path) -> None:
    broken = tmp_path / "rules" / "suffolk-2023-02"
    shutil.copytree(ROOT / "rules" / "suffolk-2023-02", broken)
    (broken / "grading.yaml").write_text("rules: [unclosed\n")
    app = create_app(Settings(data_dir=tmp_path, rules_dir=broken.parent, max_body_bytes=1024))
    with pytest.raises(PolicyInvalid), TestClient(app):
        pass
    run = subprocess.run(
        [sys.executable, "-m", "misper.api.cli", "serve", "--port", "1"],
        cwd=ROOT,
        timeout=60,
        capture_output=True,
        text=True,
        env={
            "MISPER_RULES_DIR": str(broken.parent),
            "MISPER_DATA_DIR": str(tmp_path),
            "PATH": "/usr/bin:/bin",
        },
    )
    assert run.returncode == 2 and "grading.yaml" in run.stderr


@pytest.mark.cli
def test_a_failing_embedded_test_stops_serve_naming_file_rule_and_test(
    rules_copy: Path, tmp_path: Path
) -> None:
    """Issue 6: a failing embedded test stops serve naming file rule and test."""
    edit_yaml(
        rules_copy / "suffolk-2023-02" / "parameters.yaml",
        lambda d: d["initial_grading"].update(value=20),
    )
    run = serve_with_rules(rules_copy, tmp_path)
    assert run.returncode == 2
    error = json.loads(run.stderr)
    fields = {e["field"] for e in error["errors"]}
    assert "suffolk-2023-02/grading.yaml: deadline initial_grading: test just-in-time" in fields


@pytest.mark.cli
@pytest.mark.parametrize("layout", ["missing", "empty"])
def test_a_missing_or_empty_rules_folder_stops_serve(layout: str, tmp_path: Path) -> None:
    """Issue 6: a missing or empty rules folder stops serve."""
    rules = tmp_path / "rules"
    if layout == "empty":
        rules.mkdir()
    run = serve_with_rules(rules, tmp_path)
    assert run.returncode == 2
    assert json.loads(run.stderr)["error"] == "policy_invalid"
    assert str(rules) in run.stderr


def test_readyz_fails_when_the_key_store_is_unreadable(tmp_path: Path) -> None:
    """Issue 6: /readyz fails when the key store is unreadable."""
    api = make_api(tmp_path)
    with api.client:
        assert api.client.get("/readyz").status_code == 200
        api.store.path.write_text("{not json")
        response = api.client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["detail"] == f"the key file {api.store.path} is not valid JSON"


def test_readyz_fails_when_policies_cannot_load(tmp_path: Path) -> None:
    """Issue 6: /readyz fails when policies cannot load."""
    app = create_app(Settings(data_dir=tmp_path, rules_dir=tmp_path / "nowhere", max_body_bytes=1024))
    with pytest.raises(PolicyInvalid), TestClient(app):
        pass


@pytest.mark.cli
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://nobody:secret@127.0.0.1:1/x", "cannot be used: connection failed"),
        ("mysql://x", "MISPER_DATABASE_URL must name a PostgreSQL database"),
    ],
)
def test_a_database_that_cannot_be_used_stops_start_up_with_its_reason(
    tmp_path: Path, url: str, expected: str
) -> None:
    """Issue 9: a database that cannot be used stops start-up with its reason."""
    env = {"MISPER_DATA_DIR": str(tmp_path), "HOME": str(tmp_path), "MISPER_DATABASE_URL": url}
    for command in (("db", "upgrade"), ("serve", "--port", "1")):
        done = misper(*command, env=env)
        assert done.returncode == 2 and expected in done.stderr, done.stderr
        assert "secret" not in done.stderr and "Traceback" not in done.stderr
