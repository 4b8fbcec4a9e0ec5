"""The house's rules, read from the code: the ways in do not lean on each other, the store never
calls back into its service nor reads settings, the engine reads no environment and its policy
package does not import the clock, and every import names the one installed package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support.paths import ROOT

TOPS = {"engine": "misper.engine", "api": "misper.api", "rules": "misper.rules"}


def _modules() -> dict[str, Path]:
    out = {}
    for top, package in TOPS.items():
        for path in (ROOT / top).rglob("*.py"):
            parts = path.relative_to(ROOT / top).with_suffix("").parts
            out[".".join((package, *parts)).removesuffix(".__init__")] = path
    return out


MODULES = _modules()


def imports_of(path: Path) -> set[str]:
    """Every module an import statement in the file names (``from a import b`` gives a and a.b)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _importing(prefix: str, forbidden: str) -> list[str]:
    return sorted(
        f"{name} imports {target}"
        for name, path in MODULES.items()
        if name == prefix or name.startswith(prefix + ".")
        for target in imports_of(path)
        if target == forbidden or target.startswith(forbidden + ".")
    )


@pytest.mark.parametrize(
    ("importer", "forbidden"),
    [
        pytest.param("misper.api.cli", "misper.api.http", id="the-cli-does-not-import-the-http-app"),
        pytest.param("misper.api.http", "misper.api.cli", id="the-http-app-does-not-import-the-cli"),
        pytest.param(
            "misper.api.incidents.store", "misper.api.incidents.service", id="the-store-never-calls-back"
        ),
        pytest.param("misper.api.incidents.store", "misper.api.settings", id="the-store-knows-no-settings"),
        pytest.param("misper.api.incidents", "misper.api.http", id="the-incident-service-knows-no-http"),
        pytest.param("misper.api.replay", "misper.api.http", id="the-replay-knows-no-http"),
        pytest.param("misper.engine", "misper.api", id="the-engine-knows-no-api"),
        pytest.param("misper.engine.policy", "misper.engine.clock", id="policy-does-not-import-the-clock"),
        pytest.param("misper.engine.localtime", "misper.engine.policy", id="local-time-is-a-leaf"),
    ],
)
def test_a_part_of_the_house_does_not_import_another(importer: str, forbidden: str) -> None:
    assert _importing(importer, forbidden) == []


def test_the_rules_are_checked_for_real() -> None:
    """The import rules above would pass on an empty tree: they read modules that exist."""
    assert {"misper.api.cli.main", "misper.api.http.app", "misper.api.incidents.store"} <= set(MODULES)
    assert (
        "misper.engine.localtime" in _importing("misper.engine.policy.registry", "misper.engine.localtime")[0]
    )


def test_every_import_of_the_project_names_the_installed_package() -> None:
    """A bare ``import engine`` or ``from api ...`` would resolve to the clone's folders only when
    run from the clone, and load a second copy of a module beside misper.*."""
    bare = sorted(
        f"{name} imports {target}"
        for name, path in MODULES.items()
        for target in imports_of(path)
        if target.split(".")[0] in TOPS
    )
    assert bare == []


def test_the_engine_never_reads_the_environment() -> None:
    """The engine is handed its rules folder; only api/settings.py reads MISPER_ variables."""
    readers = sorted(
        name
        for name, path in MODULES.items()
        if name.startswith("misper.engine") and any(w in path.read_text() for w in ("os.environ", "getenv"))
    )
    assert readers == []
