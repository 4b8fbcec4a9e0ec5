"""Lint, types and the fact schema's own invariants, enforced in the same run as the tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from misper.engine.policy.facts_schema import DISPLAY_FIELDS, FACT_FIELDS
from tests.conftest import ROOT


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_ruff() -> None:
    result = run("ruff", "check", "engine", "api", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_on_engine(tmp_path: Path) -> None:
    """mypy does not follow setuptools' editable finder: it reads misper.engine through a folder
    whose misper/ links to the project's own folders."""
    (tmp_path / "misper").mkdir()
    for top in ("engine", "api", "rules"):
        (tmp_path / "misper" / top).symlink_to(ROOT / top)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "-p", "misper.engine"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MYPYPATH": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_fact_fields_never_shadow_the_fact_identity() -> None:
    """A field named 'kind' or 'id' would overwrite the fact's own kind or id in the rule engine."""
    for kind, fields in FACT_FIELDS.items():
        assert not {"kind", "id", "sid"} & set(fields), kind
        assert not set(fields) & DISPLAY_FIELDS[kind], kind
