"""Fixtures shared by the tests, and the test tiers: a test with a tier marker (server,
postgresql, browser, lint, packaging, cli) is also marked slow, so `pytest -m "not slow"` runs
the fast tier. Helpers live in tests/support/."""

from __future__ import annotations

import ast
import itertools
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from misper.engine import Policy, default_registry
from tests.support.paths import FIXTURES
from tests.support.policies import SHIPPED_POLICY, SHIPPED_RULES

# Markers of the slow tiers (registered, with their meaning, in pyproject.toml).
TIERS = ("server", "postgresql", "browser", "lint", "packaging", "cli")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite fixtures/golden/*.json from the engine's current output",
    )


@pytest.hookimpl(tryfirst=True)  # before pytest's own hook deselects by -m
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every item with a tier marker (its own, its module's, or its parameter's, such as the
    database fixture's postgresql param) is slow too."""
    for item in items:
        if any(item.get_closest_marker(name) for name in TIERS):
            item.add_marker(pytest.mark.slow)


def _module_marks(path: Path) -> set[str] | None:
    """The marker names of a test module's `pytestmark`, read without importing the module; None
    when it has none, or when anything else in it names a marker (a test's own decorator)."""
    tree = ast.parse(path.read_bytes())
    assigned = [
        node
        for node in tree.body
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "pytestmark" for t in node.targets)
    ]
    if len(assigned) != 1:
        return None

    def marks_in(node: ast.AST) -> set[str]:  # the X of every pytest.mark.X
        return {
            n.attr
            for n in ast.walk(node)
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Attribute) and n.value.attr == "mark"
        }

    module = marks_in(assigned[0].value)
    return module if module and marks_in(tree) <= module else None


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """A module all of whose tests -m rules out by its `pytestmark` alone is not even imported:
    importing test_api_conformance.py starts an app and builds schemathesis' cases (about 7 s),
    which `-m "not slow"` would only deselect. Whatever further marks a test might get (a
    fixture's param, say), the expression must still be false, so nothing it selects is lost."""
    markexpr = config.getoption("markexpr")
    if not markexpr or "(" in markexpr:  # marks with arguments are left to pytest
        return None
    if collection_path.suffix != ".py" or not collection_path.name.startswith("test_"):
        return None
    try:
        from _pytest.mark.expression import Expression

        expression = Expression.compile(markexpr)
        names = expression.idents()
    except Exception:  # another pytest's internals, or a bad expression: pytest reports that
        return None
    marks = _module_marks(collection_path)
    if marks is None:
        return None
    if marks & set(TIERS):
        marks.add("slow")
    unknown = sorted(set(names) - marks)
    for extra in itertools.product((False, True), repeat=len(unknown)):
        present = marks | {name for name, on in zip(unknown, extra, strict=True) if on}
        if expression.evaluate(present.__contains__):
            return None
    return True


@pytest.fixture
def api(tmp_path: Path):  # type: ignore[no-untyped-def]
    """The app on a temporary data folder, started, with one key per role."""
    from tests.support.api import make_api

    made = make_api(tmp_path)
    with made.client:
        yield made


@pytest.fixture(scope="session")
def policy() -> Policy:
    return default_registry().get("suffolk-2023-02")


@pytest.fixture(scope="session")
def case_study() -> dict[str, Any]:
    return json.loads((FIXTURES / "timelines" / "case-study.json").read_text())


@pytest.fixture
def copy_of_policy(tmp_path: Path) -> Path:
    """A copy of the shipped suffolk-2023-02 folder, to edit."""
    target = tmp_path / "suffolk-2023-02"
    shutil.copytree(SHIPPED_POLICY, target)
    return target


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    """A copy of the whole shipped rules folder (every version), to edit."""
    target = tmp_path / "rules"
    shutil.copytree(SHIPPED_RULES, target, ignore=shutil.ignore_patterns("__*"))
    return target


@pytest.fixture(scope="session")
def pg_cluster():  # type: ignore[no-untyped-def]
    """A PostgreSQL cluster of the test run's own (see tests/support/pg.py)."""
    from tests.support.pg import start_cluster

    cluster = start_cluster()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def database(request, tmp_path: Path) -> str | None:  # type: ignore[no-untyped-def]
    """None for SQLite in the test's data folder; else a fresh PostgreSQL database's URL. Only
    the postgresql param is marked postgresql (and so slow): the sqlite one stays fast."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("pg_cluster").new_database()  # type: ignore[no-any-return]
