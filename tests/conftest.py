from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from misper.engine import Policy, default_registry

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite fixtures/golden/*.json from the engine's current output",
    )


@pytest.fixture
def api(tmp_path: Path):  # type: ignore[no-untyped-def]
    """The app on a temporary data folder, started, with one key per role."""
    from tests.api_support import make_api

    made = make_api(tmp_path)
    with made.client:
        yield made


@pytest.fixture(scope="session")
def policy() -> Policy:
    return default_registry().get("suffolk-2023-02")


@pytest.fixture(scope="session")
def case_study() -> dict[str, Any]:
    return json.loads((FIXTURES / "timelines" / "case-study.json").read_text())


def report_timeline(events: list[dict[str, Any]], **overrides: Any) -> dict[str, Any]:
    """A minimal valid timeline: a report at 19:40 BST plus the given events."""
    body: dict[str, Any] = {
        "incident_id": "T-1",
        "policy": "suffolk-2023-02",
        "child": {"child_id": "C-1", "age_years": 14},
        "events": [
            {"id": "r", "type": "report_received", "at": "2023-07-11T19:40:00+01:00", "by": "call_handler"},
            *events,
        ],
    }
    body.update(overrides)
    return body


def misper(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None, timeout: int = 120
) -> subprocess.CompletedProcess[str]:
    """The misper command as a user runs it, from the project folder. ``env``, when given, is
    the whole environment besides a minimal PATH (so nothing of the caller's leaks in)."""
    return subprocess.run(
        [sys.executable, "-m", "misper.api.cli", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=None if env is None else {"PATH": "/usr/bin:/bin", **env},
    )


@pytest.fixture(scope="session")
def pg_cluster():  # type: ignore[no-untyped-def]
    """A PostgreSQL cluster of the test run's own (see tests/pg.py)."""
    from tests.pg import start_cluster

    cluster = start_cluster()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path: Path) -> str | None:  # type: ignore[no-untyped-def]
    """None for SQLite in the test's data folder; else a fresh PostgreSQL database's URL."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("pg_cluster").new_database()  # type: ignore[no-any-return]
