"""Every timeline in fixtures/timelines: the expectations written from the policy
(fixtures/expected.yaml), then its golden evaluation."""

from __future__ import annotations

import pytest
import yaml

from misper.engine import choose_policy, default_registry, evaluate, parse_timeline
from tests.support.paths import FIXTURES

EXPECTED = yaml.safe_load((FIXTURES / "expected.yaml").read_text())
TIMELINES = sorted((FIXTURES / "timelines").glob("*.json"))


def evaluation(path):
    timeline = parse_timeline(path.read_bytes())
    return evaluate(timeline, choose_policy(default_registry(), timeline))


def test_there_are_enough_fixtures() -> None:
    assert len(TIMELINES) >= 21
    assert set(EXPECTED) == {p.stem for p in TIMELINES if p.stem != "case-study"}


@pytest.mark.parametrize("name", sorted(EXPECTED), ids=str)
def test_fixture_meets_its_expectations(name: str) -> None:
    want = EXPECTED[name]
    result = evaluation(FIXTURES / "timelines" / f"{name}.json")
    codes = {f.code for f in result.findings}
    for deadline_id, statuses in want.get("statuses", {}).items():
        got = [d.status for d in sorted(result.deadlines, key=lambda d: d.occurrence) if d.id == deadline_id]
        assert got == statuses, deadline_id
    assert set(want.get("codes", [])) <= codes
    assert not set(want.get("absent", [])) & codes
    if want.get("no_breaches"):
        assert [f.message for f in result.findings if f.severity == "breach"] == []
    for code, severity in want.get("severities", {}).items():
        assert {f.severity for f in result.findings if f.code == code} == {severity}
    for text in want.get("messages_contain", []):
        assert any(text in f.message for f in result.findings)
    checks = {
        "policy": result.policy.id,
        "mode": result.mode,
        "recommended": result.grade.recommended,
        "current_grade": result.grade.current,
        "required_role": result.oversight.required_role,
        "episodes_in_window": result.repeat_missing.episodes_in_window,
    }
    for key, value in checks.items():
        if key in want:
            assert value == want[key], key


@pytest.mark.parametrize("path", TIMELINES, ids=lambda p: p.stem)
def test_fixture_golden(path, request) -> None:
    golden = FIXTURES / "golden" / path.name
    output = evaluation(path).to_json() + "\n"
    if request.config.getoption("--update-golden"):
        golden.write_text(output)
    assert golden.exists(), f"no golden file for {path.name}: run pytest --update-golden and review it"
    assert output == golden.read_text()
