"""Run the test cases embedded in a policy's rule files against the real engine.

A case is a short timeline relative to a report (``+30m``, ``+2h1m``, ``+1d``) and an
expectation: the statuses of a deadline's occurrences, or how often a rule fires and on what.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from misper.engine.contract.evaluation import Evaluation
from misper.engine.contract.parse import parse_timeline
from misper.engine.errors import EngineError, FieldError, PolicyInvalid
from misper.engine.judging.judge import evaluate
from misper.engine.policy.files import RELATIVE, DeadlineSpec, Ladder, QualityRubric, RuleSpec, TestCase
from misper.engine.policy.model import Policy

_CHECKED: set[str] = set()  # content hashes whose embedded tests passed in this process


@dataclass(frozen=True)
class CaseResult:
    name: str
    ok: bool
    problem: str = ""


Spec = DeadlineSpec | RuleSpec | QualityRubric | Ladder


def policy_cases(policy: Policy) -> list[tuple[str, Spec, TestCase]]:
    """Every embedded case with its id, e.g. 'G2:initial_grading:just-late'."""
    out: list[tuple[str, Spec, TestCase]] = []
    specs: list[Spec] = [*policy.deadlines, *policy.rules, policy.meta.quality]
    if policy.meta.recommendation is not None:
        specs.append(policy.meta.recommendation)
    for spec in specs:
        label = spec.id if spec.id.startswith(spec.clause) else f"{spec.clause}:{spec.id}"
        out += [(f"{label}:{case.id}", spec, case) for case in spec.tests]
    return out


def run_policy_tests(policy: Policy) -> list[CaseResult]:
    return [run_case(policy, name, spec, case) for name, spec, case in policy_cases(policy)]


def check_policy_tests(policy: Policy) -> None:
    """Raise PolicyInvalid naming the file, the rule or deadline and the test of every embedded
    test that fails: a server must not start on rules that contradict their own examples."""
    failed = []
    for name, spec, case in policy_cases(policy):
        result = run_case(policy, name, spec, case)
        if not result.ok:
            if isinstance(spec, QualityRubric | Ladder):
                where = f"{policy.id}/policy.yaml: {spec.id}: test {case.id}"
            else:
                kind = "deadline" if isinstance(spec, DeadlineSpec) else "rule"
                where = f"{policy.id}/{policy.sources.get(spec.id, '?')}: {kind} {spec.id}: test {case.id}"
            failed.append(FieldError(where, result.problem))
    if failed:
        raise PolicyInvalid(f"{len(failed)} embedded tests of policy {policy.id} fail", failed)


def check_all_policy_tests(policies: list[Policy]) -> None:
    """Every policy's embedded tests, run once per process for each policy's content hash."""
    for policy in policies:
        if policy.sha256 not in _CHECKED:
            check_policy_tests(policy)
            _CHECKED.add(policy.sha256)


def run_case(policy: Policy, name: str, spec: Spec, case: TestCase) -> CaseResult:
    try:
        # An instant YAML read unquoted (a datetime) is written back as ISO 8601 text.
        timeline = parse_timeline(json.dumps(case_timeline(policy, case), default=_iso))
        result = evaluate(timeline, policy)
    except (EngineError, ValueError) as exc:
        details = "; ".join(f"{e.field}: {e.message}" for e in getattr(exc, "errors", []))
        return CaseResult(name, False, f"{exc} {details}".strip())
    if isinstance(spec, QualityRubric):
        problem = _check_quality(case, result)
    elif isinstance(spec, Ladder):
        problem = _check_recommended(case, result)
    elif isinstance(spec, DeadlineSpec):
        problem = _check_deadline(spec, case, result)
    else:
        problem = _check_rule(spec, case, result)
    return CaseResult(name, problem is None, problem or "")


def _iso(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{value!r} is not a value a timeline holds")


def case_timeline(policy: Policy, case: TestCase) -> dict[str, Any]:
    defaults = policy.meta.test_defaults
    report_at = datetime.fromisoformat(case.report_at) if case.report_at else defaults.report_at
    events: list[dict[str, Any]] = [
        {"id": "e0", "type": "report_received", "at": report_at.isoformat(), "by": "call_handler"}
    ]
    for i, event in enumerate(case.events, start=1):
        body = event.model_dump(exclude_none=True)
        body.update(id=event.id or f"e{i}", at=_instant(event.at, report_at))
        events.append(body)
    timeline: dict[str, Any] = {
        "incident_id": f"TEST-{case.id}",
        "policy": policy.id,
        "as_of": _instant(case.as_of or defaults.as_of, report_at),
        "child": {**defaults.child, **case.child},
        "events": events,
    }
    if case.mode:
        timeline["mode"] = case.mode
    return timeline


def _instant(text: str, report_at: datetime) -> str:
    match = RELATIVE.match(text)
    if not match:
        return datetime.fromisoformat(text).isoformat()
    days, hours, minutes = (int(g or 0) for g in match.groups())
    return (report_at + timedelta(days=days, hours=hours, minutes=minutes)).isoformat()


def _check_deadline(spec: DeadlineSpec, case: TestCase, result: Evaluation) -> str | None:
    want = [case.expect_status] if isinstance(case.expect_status, str) else case.expect_status
    if want is None:
        return "a deadline test needs expect_status"
    occurrences = sorted((d for d in result.deadlines if d.id == spec.id), key=lambda d: d.occurrence)
    got = [d.status.value for d in occurrences]
    if got != want:
        return f"expected statuses {want}, got {got}"
    late = sum(s in ("breached", "met_late") for s in got)
    soon = sum(s == "due_soon" for s in got)
    fired_late = sum(f.rule == f"{spec.clause}.{spec.id}:late" for f in result.findings)
    fired_soon = sum(f.rule == f"{spec.clause}.{spec.id}:due_soon" for f in result.findings)
    if (late, soon) != (fired_late, fired_soon):
        return (
            f"{late} late and {soon} due-soon occurrences but {fired_late} late and "
            f"{fired_soon} due-soon findings"
        )
    return None


def _check_rule(spec: RuleSpec, case: TestCase, result: Evaluation) -> str | None:
    if case.expect_fires is None:
        return "a rule test needs expect_fires"
    fired = [f for f in result.findings if f.rule == spec.id]
    if len(fired) != case.expect_fires:
        return f"expected {case.expect_fires} findings from {spec.id}, got {len(fired)}"
    if case.expect_evidence is not None and (not fired or fired[0].evidence != case.expect_evidence):
        return f"expected evidence {case.expect_evidence}, got {fired[0].evidence if fired else None}"
    return None


def _check_recommended(case: TestCase, result: Evaluation) -> str | None:
    if case.expect_recommended is None:
        return "a test of the recommendation ladder needs expect_recommended"
    got = result.grade.recommended.value
    if got != case.expect_recommended:
        why = "; ".join(result.grade.reasons)
        return f"expected the recommended grade {case.expect_recommended}, got {got} ({why})"
    return None


def _check_quality(case: TestCase, result: Evaluation) -> str | None:
    got = result.quality.rating if result.quality else None
    if got != case.expect_quality:
        reasons = ", ".join(result.quality.reasons) if result.quality else ""
        return f"expected the rating {case.expect_quality}, got {got} ({reasons or 'no breach'})"
    return None
