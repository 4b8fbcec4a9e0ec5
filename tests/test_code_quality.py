"""Lint, types and the fact schema's own invariants, enforced in the same run as the tests."""

from __future__ import annotations

import subprocess
import sys

from engine.policy.facts_schema import DISPLAY_FIELDS, FACT_FIELDS
from tests.conftest import ROOT


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_ruff() -> None:
    result = run("ruff", "check", "engine", "api", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_on_engine() -> None:
    result = run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_fact_fields_never_shadow_the_fact_identity() -> None:
    """A field named 'kind' or 'id' would overwrite the fact's own kind or id in the rule engine."""
    for kind, fields in FACT_FIELDS.items():
        assert not {"kind", "id", "sid"} & set(fields), kind
        assert not set(fields) & DISPLAY_FIELDS[kind], kind


def test_every_package_is_in_the_distribution() -> None:
    """A sub-package missing from the wheel breaks only non-editable installs (the Docker image)."""
    import tomllib

    from setuptools import find_packages

    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    include = setuptools["packages"]["find"]["include"]
    found = set(find_packages(where=ROOT, include=include))
    on_disk = {
        str(p.parent.relative_to(ROOT)).replace("/", ".")
        for top in ("engine", "api", "rules")
        for p in (ROOT / top).rglob("__init__.py")
    }
    assert on_disk <= found
