"""misper installs under one name: the wheel's only top-level package is misper, it holds every
module and data file of the project's folders, and the installed command runs outside the clone."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support.paths import ROOT

SHIPPED = ("engine", "api", "rules")
SKIPPED_PARTS = {"__pycache__"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """Built from a copy of the project's files (a build in the clone leaves build/ behind, whose
    stale files a later build would take into its wheel)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for top in SHIPPED:
        shutil.copytree(ROOT / top, source / top, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (path,) = out.glob("misper-*.whl")
    return zipfile.ZipFile(path)


@pytest.mark.packaging
def test_the_wheel_installs_only_the_misper_package(wheel: zipfile.ZipFile) -> None:
    tops = {name.split("/")[0] for name in wheel.namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"misper"}


@pytest.mark.packaging
def test_the_wheel_holds_every_file_of_engine_api_and_rules(wheel: zipfile.ZipFile) -> None:
    """A sub-package or data file left out breaks only non-editable installs (the Docker image)."""
    on_disk = {
        f"misper/{path.relative_to(ROOT)}"
        for top in SHIPPED
        for path in (ROOT / top).rglob("*")
        if path.is_file() and not SKIPPED_PARTS & set(path.parts) and path.suffix != ".pyc"
    }
    assert on_disk - set(wheel.namelist()) == set()


@pytest.mark.cli
def test_the_installed_command_runs_outside_the_clone(tmp_path: Path) -> None:
    """The editable install resolves misper.* from anywhere, not only from the clone's folder."""
    run = subprocess.run(
        [sys.executable, "-m", "misper.api.cli", "policies"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "suffolk-2023-02" in run.stdout
