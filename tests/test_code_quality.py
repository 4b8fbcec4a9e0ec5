"""Lint and types, enforced in the same run as the tests: ruff over the code and mypy --strict over
misper.engine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import ROOT

pytestmark = pytest.mark.lint


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
