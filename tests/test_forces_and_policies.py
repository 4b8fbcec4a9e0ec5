"""Issue 23, first part: a policy belongs to a force or is national. The forces are data
(forces.yaml in the rules folder), a policy names one of them or none, versions must not overlap
within one force, a force's own version in force wins over a national one, and a timeline may name
its force: it is then judged by that force's policy (or a national one), never another force's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from misper.engine import evaluate, parse_timeline
from misper.engine.errors import InvalidTimeline
from misper.engine.inputs import choose_policy
from misper.engine.policy.registry import PolicyRegistry
from tests.support.policies import edit_yaml, registry_problems
from tests.support.timelines import report_timeline


def second_force(rules: Path, *, default: str | None = "suffolk") -> PolicyRegistry:
    """The rules folder with a further force, whose policy is (for the test) Suffolk's with a
    30-minute initial grading changed to 20, and ``default`` as its default force."""

    def declare(d: dict[str, object]) -> None:
        d["forces"].update(testshire="Testshire Police")  # type: ignore[attr-defined]
        d.pop("default", None)
        if default:
            d["default"] = default

    edit_yaml(rules / "forces.yaml", declare)
    shutil.copytree(rules / "suffolk-2023-02", rules / "testshire-test")
    edit_yaml(
        rules / "testshire-test" / "policy.yaml", lambda d: d.update(id="testshire-test", force="testshire")
    )
    edit_yaml(rules / "testshire-test" / "parameters.yaml", lambda d: d["initial_grading"].update(value=20))
    return PolicyRegistry.from_folder(rules)


def test_each_force_is_judged_by_its_own_policy_in_force(rules_copy: Path) -> None:
    registry = second_force(rules_copy)
    body = report_timeline([])
    del body["policy"]
    for force, expected in (("suffolk", "suffolk-2023-02"), ("testshire", "testshire-test")):
        timeline = parse_timeline(json.dumps({**body, "force": force}))
        policy = choose_policy(registry, timeline)
        assert policy.id == expected
        result = evaluate(timeline, policy)
        grading = next(d for d in result.deadlines if d.id == "initial_grading")
        assert grading.due_at == (
            "2023-07-11T20:10:00+01:00" if force == "suffolk" else "2023-07-11T20:00:00+01:00"
        )
        assert result.policy.force == force and json.loads(result.to_json())["policy"]["force"] == force
    # A timeline that names none is judged under the default force forces.yaml names.
    assert choose_policy(registry, parse_timeline(json.dumps(body))).id == "suffolk-2023-02"


def test_with_several_forces_and_no_default_a_timeline_must_say_its_force(rules_copy: Path) -> None:
    registry = second_force(rules_copy, default=None)
    body = report_timeline([])
    del body["policy"]
    # Judged only by a national policy, and there is none in force in 2023.
    with pytest.raises(Exception, match="no policy version was in force"):
        choose_policy(registry, parse_timeline(json.dumps(body)))


def test_the_default_force_must_be_a_declared_one(rules_copy: Path) -> None:
    edit_yaml(rules_copy / "forces.yaml", lambda d: d.update(default="sufolk"))
    found = registry_problems(rules_copy)
    assert "did you mean 'suffolk'" in found["forces.yaml: default"]


def test_a_timeline_cannot_be_judged_by_another_forces_policy(rules_copy: Path) -> None:
    registry = second_force(rules_copy)
    body = report_timeline([], force="suffolk", policy="testshire-test")
    with pytest.raises(InvalidTimeline) as refused:
        choose_policy(registry, parse_timeline(json.dumps(body)))
    assert [(e.field, e.message) for e in refused.value.errors] == [
        ("policy", "testshire-test is Testshire Police's policy, not suffolk's")
    ]
    national = report_timeline([], force="testshire", policy="baseline-pre-2023")
    assert choose_policy(registry, parse_timeline(json.dumps(national))).id == "baseline-pre-2023"
    with pytest.raises(InvalidTimeline) as unknown:
        choose_policy(registry, parse_timeline(json.dumps(report_timeline([], force="sufolk"))))
    assert "did you mean 'suffolk'" in unknown.value.errors[0].message


def test_a_national_policy_has_no_force_in_the_answer() -> None:
    from misper.engine import default_registry

    body = report_timeline([], policy="baseline-pre-2023")
    result = evaluate(parse_timeline(json.dumps(body)), default_registry().get("baseline-pre-2023"))
    assert "force" not in json.loads(result.to_json())["policy"]


def test_a_force_must_be_declared_and_versions_of_one_force_must_not_overlap(rules_copy: Path) -> None:
    edit_yaml(rules_copy / "suffolk-2023-02" / "policy.yaml", lambda d: d.update(force="sufolk"))
    found = registry_problems(rules_copy)
    assert "did you mean 'suffolk'" in found["suffolk-2023-02/policy.yaml: force"]
    (rules_copy / "forces.yaml").write_text("forces: {Suffolk Police: Suffolk}\n")
    found = registry_problems(rules_copy)
    assert "lower-case" in found["forces.yaml: Suffolk Police"]


def test_misper_policies_lists_a_forces_versions_and_the_national_ones(rules_copy: Path) -> None:
    from tests.support.cli import misper

    second_force(rules_copy)
    done = misper("policies", "--force", "testshire", env={"MISPER_RULES_DIR": str(rules_copy)})
    assert done.returncode == 0, done.stderr
    rows = [line.split("\t")[:2] for line in done.stdout.splitlines()]
    assert rows == [["baseline-pre-2023", "-"], ["testshire-test", "testshire"]]
