"""Every test case embedded in the shipped rule files, one pytest case each (e.g. G2:...:just-late),
and every clause covered by a rule or deadline."""

from __future__ import annotations

import pytest

from misper.engine import default_registry
from misper.engine.policy.selftest import policy_cases, run_case

CASES = [
    pytest.param(policy, name, spec, case, id=name)
    for policy in default_registry().policies
    for name, spec, case in policy_cases(policy)
]


@pytest.mark.parametrize(("policy", "name", "spec", "case"), CASES)
def test_embedded_case(policy, name, spec, case) -> None:
    result = run_case(policy, name, spec, case)
    assert result.ok, result.problem


# Clauses that shape other clauses' facts rather than raise findings of their own: R3 (both
# record kinds count) and O3 (oversight follows the grade), tested through R1 and O1/O2 cases;
# BG1 (every grade allowed), tested by BG4's and the deadlines' cases with low grades.
SHAPING = {"suffolk-2023-02": {"R3", "O3"}, "baseline-pre-2023": {"BG1"}, "sussex-2022-09": set()}


def test_every_clause_has_a_rule_or_deadline() -> None:
    policies = default_registry().policies
    assert {p.id for p in policies} == set(SHAPING)
    for policy in policies:
        covered = {d.clause for d in policy.deadlines} | {r.clause for r in policy.rules}
        assert set(policy.meta.clauses) - covered == SHAPING[policy.id]
