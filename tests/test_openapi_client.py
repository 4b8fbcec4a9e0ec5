"""A client generated from the served OpenAPI document needs nothing written by hand: a control-room
script written only against it passes mypy --strict, and a typo in an enum member fails it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.api import make_api

pytestmark = pytest.mark.lint

SCRIPT = '''"""A control-room script written against the generated client only."""

from misper_client import AuthenticatedClient
from misper_client.api.evaluations import create_evaluation
from misper_client.models import Evaluation, Problem, Status, Timeline


def first_breach(client: AuthenticatedClient, timeline: dict[str, object]) -> str | None:
    answer = create_evaluation.sync(client=client, body=Timeline.from_dict(timeline))
    if isinstance(answer, Problem):
        return f"refused ({answer.status}): {answer.detail}"
    assert isinstance(answer, Evaluation)
    for deadline in answer.deadlines:
        if deadline.status is Status.BREACHED:
            return deadline.id
    return None
'''


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("client")
    api = make_api(work / "data")
    with api.client:
        (work / "openapi.json").write_text(json.dumps(api.client.get("/openapi.json").json()))
    bin_dir = Path(sys.executable).parent
    run = subprocess.run(
        [
            str(bin_dir / "openapi-python-client"),
            "generate",
            "--path",
            str(work / "openapi.json"),
            "--output-path",
            str(work / "misper_client"),
            "--meta",
            "none",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=work,
    )
    assert (work / "misper_client" / "client.py").exists(), run.stdout + run.stderr
    return work


def _mypy(work: Path, source: str) -> subprocess.CompletedProcess[str]:
    (work / "script.py").write_text(source)
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "script.py"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=work,
    )


def test_a_typed_script_against_the_generated_client_passes_mypy_strict(generated: Path) -> None:
    """Issue 12: a typed script against the generated client passes mypy --strict."""
    run = _mypy(generated, SCRIPT)
    assert run.returncode == 0, run.stdout + run.stderr


def test_a_typo_in_an_enum_member_fails_mypy(generated: Path) -> None:
    """Issue 12: a typo in an enum member fails mypy."""
    run = _mypy(generated, SCRIPT.replace("Status.BREACHED", "Status.BREECHED"))
    assert run.returncode == 1 and 'has no attribute "BREECHED"' in run.stdout
