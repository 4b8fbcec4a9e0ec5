"""Every test case embedded in the shipped rule files, one pytest case each (e.g. G2:...:just-late)."""

from __future__ import annotations

import pytest

from engine import default_registry
from engine.selftest import policy_cases, run_case

CASES = [
    pytest.param(policy, name, spec, case, id=name)
    for policy in default_registry().policies
    for name, spec, case in policy_cases(policy)
]


@pytest.mark.parametrize(("policy", "name", "spec", "case"), CASES)
def test_embedded_case(policy, name, spec, case) -> None:
    result = run_case(policy, name, spec, case)
    assert result.ok, result.problem


def test_every_clause_has_a_rule_or_deadline() -> None:
    for policy in default_registry().policies:
        covered = {d.clause for d in policy.deadlines} | {r.clause for r in policy.rules}
        # R3 (counting both record kinds) and O3 (oversight follows the grade) shape other
        # clauses' facts; their behaviour is tested through R1 and O1/O2 cases.
        assert set(policy.meta.clauses) - covered == {"R3", "O3"}
