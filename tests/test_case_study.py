"""The inspection's case study (seed 000), as the golden test of the whole engine."""

from __future__ import annotations

import json

from misper.engine import evaluate, parse_timeline
from tests.support.paths import FIXTURES

REQUIRED = {  # the findings the policy spec's case-study section lists
    ("INITIAL_GRADING_LATE", "G2"),
    ("CONTROL_ROOM_REVIEW_LATE", "G3"),
    ("RESPONSE_PLAN_NOT_USED", "R2"),
    ("RISK_ASSESSMENT_LATE", "G6"),
    ("ENDORSEMENT_LATE", "G6"),
    ("UNDER_GRADED", "G4"),
    ("INSPECTOR_OVERSIGHT_LATE", "O2"),
    ("REVIEW_OVERDUE", "S2"),
    ("ESCALATION_REVIEW_LATE", "S3"),
    ("CHILD_BLAMING_LANGUAGE", "S4"),
    ("VOICE_OF_CHILD_MISSING", "F2"),
}


def test_case_study_reports_the_inspection_findings(case_study, policy) -> None:
    result = evaluate(parse_timeline(json.dumps(case_study)), policy)
    found = {(f.code, f.clause) for f in result.findings}
    assert REQUIRED <= found
    assert result.grade.recommended == "high"
    assert result.grade.current == "high"
    assert result.policy.sha256 == policy.sha256 and len(result.policy.sha256) == 64
    assert result.mode == "complete"
    for finding in result.findings:
        assert finding.message.endswith(".") and finding.evidence


def test_case_study_evidence_points_at_the_events(case_study, policy) -> None:
    result = evaluate(parse_timeline(json.dumps(case_study)), policy)
    by_code = {f.code: f for f in result.findings}
    assert by_code["CHILD_BLAMING_LANGUAGE"].evidence == ["e07"]
    assert by_code["UNDER_GRADED"].evidence == ["e05"]
    assert by_code["VOICE_OF_CHILD_MISSING"].evidence == ["e10"]
    assert by_code["ENDORSEMENT_LATE"].evidence == ["e05", "e06"]
    assert "never happened" in by_code["INITIAL_GRADING_LATE"].message
    assert "3 hours after it was due" in by_code["ENDORSEMENT_LATE"].message


def test_case_study_live_at_the_inspectors_review(case_study, policy) -> None:
    """Judged live at 08:30 the next morning (the contract's example), before she was found."""
    body = dict(case_study, as_of="2023-07-12T07:50:00+01:00")
    result = evaluate(parse_timeline(json.dumps(body)), policy)
    assert result.mode == "live"
    statuses = {(d.id, d.occurrence): d.status for d in result.deadlines}
    assert statuses[("initial_grading", 1)] == "breached"
    assert statuses[("cid_oversight", 1)] == "pending"
    assert result.oversight.required_role == "cid_supervisor"
    assert "has not been recorded" in next(
        f.message for f in result.findings if f.code == "INITIAL_GRADING_LATE"
    )


def test_case_study_golden(case_study, policy, request) -> None:
    golden = FIXTURES / "golden" / "case-study.json"
    output = evaluate(parse_timeline(json.dumps(case_study)), policy).to_json() + "\n"
    if request.config.getoption("--update-golden"):
        golden.write_text(output)
    assert output == golden.read_text()
