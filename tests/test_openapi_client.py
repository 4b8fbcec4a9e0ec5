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


INCIDENT_SCRIPT = '''"""A control-room script against the generated client's incident routes only."""

from datetime import datetime

from misper_client import AuthenticatedClient
from misper_client.api.incidents import list_incidents, put_incident
from misper_client.models import Grade, IncidentProfile, IncidentSaved, Role, Worklist


def opened(client: AuthenticatedClient, incident: str, child: dict[str, object]) -> int:
    body = IncidentProfile.from_dict({"child": child})
    answer = put_incident.sync(client=client, incident_id=incident, body=body)
    assert isinstance(answer, IncidentSaved)
    return answer.profile_version


def first_high(client: AuthenticatedClient) -> tuple[str, Role | None, datetime | None] | None:
    worklist = list_incidents.sync(client=client)
    assert isinstance(worklist, Worklist)
    for item in worklist.incidents:
        if item.current_grade is Grade.HIGH:
            due = item.next_deadline.due_at if item.next_deadline else None
            return item.incident_id, item.required_role, due
    return None
'''


def test_the_generated_client_types_the_incident_routes(generated: Path) -> None:
    """Issue 20: a PUT that created answered None in a generated client, and the worklist's
    grades, roles and instants were plain strings."""
    run = _mypy(generated, INCIDENT_SCRIPT)
    assert run.returncode == 0, run.stdout + run.stderr
    wrong = _mypy(
        generated,
        INCIDENT_SCRIPT.replace(
            "-> tuple[str, Role | None, datetime | None]", "-> tuple[str, str | None, str | None]"
        ),
    )
    assert wrong.returncode == 1


def test_a_put_that_creates_gives_the_generated_client_an_object(generated: Path, tmp_path: Path) -> None:
    """Issue 20: the 201 of PUT had no schema, so the generated client returned None on create."""
    sys.path.insert(0, str(generated))
    try:
        from misper_client import AuthenticatedClient  # type: ignore[import-not-found]
        from misper_client.api.incidents import put_incident  # type: ignore[import-not-found]
        from misper_client.models import IncidentProfile, IncidentSaved  # type: ignore[import-not-found]

        api = make_api(tmp_path)
        with api.client:
            api.client.headers["Authorization"] = f"Bearer {api.keys['control_room']}"
            client = AuthenticatedClient(base_url="http://testserver", token=api.keys["control_room"])
            client.set_httpx_client(api.client)
            body = IncidentProfile.from_dict({"child": {"child_id": "C-1", "age_years": 13}})
            created = put_incident.sync(client=client, incident_id="SUF-1", body=body)
            again = put_incident.sync(client=client, incident_id="SUF-1", body=body)
    finally:
        sys.path.remove(str(generated))
        for name in [m for m in sys.modules if m.split(".")[0] == "misper_client"]:
            del sys.modules[name]
    assert isinstance(created, IncidentSaved) and created.created and created.profile_version == 1
    assert isinstance(again, IncidentSaved) and not again.created
