"""The misper command as a user runs it."""

from __future__ import annotations

import json

from tests.conftest import FIXTURES, misper, report_timeline


def test_evaluate_case_study_prints_the_golden_evaluation() -> None:
    run = misper("evaluate", str(FIXTURES / "timelines" / "case-study.json"))
    assert run.returncode == 0, run.stderr
    assert run.stdout == (FIXTURES / "golden" / "case-study.json").read_text()


def test_evaluate_naive_timestamp_exits_non_zero_naming_the_field(tmp_path) -> None:
    body = report_timeline([{"id": "f", "type": "found", "at": "2023-07-11T21:00:00"}])
    path = tmp_path / "t.json"
    path.write_text(json.dumps(body))
    run = misper("evaluate", str(path))
    assert run.returncode == 2 and run.stdout == ""
    error = json.loads(run.stderr)
    assert error["error"] == "invalid_timeline"
    assert error["errors"][0]["field"] == "events[1].at"


def test_evaluate_unknown_risk_factor_exits_non_zero() -> None:
    body = report_timeline([])
    body["child"]["risk_factors"] = ["glue"]
    run = misper("evaluate", "-", stdin=json.dumps(body))
    assert run.returncode == 2
    assert json.loads(run.stderr)["errors"][0]["field"] == "child.risk_factors[0]"


def test_evaluate_as_of_judges_at_that_instant_and_must_have_an_offset(tmp_path) -> None:
    body = json.loads((FIXTURES / "timelines" / "case-study.json").read_text())
    del body["as_of"]
    path = tmp_path / "case.json"
    path.write_text(json.dumps(body))
    run = misper("evaluate", str(path), "--as-of", "2023-07-11T19:50:00+01:00")
    assert run.returncode == 0 and json.loads(run.stdout)["mode"] == "live"
    naive = misper("evaluate", str(path), "--as-of", "2023-07-11T19:50:00")
    assert naive.returncode == 2 and "UTC offset" in naive.stderr
    assert json.loads(naive.stderr)["errors"][0]["field"] == "--as-of"


def test_evaluate_refuses_as_of_or_policy_that_disagree_with_the_file() -> None:
    path = str(FIXTURES / "timelines" / "case-study.json")
    run = misper("evaluate", path, "--as-of", "2023-07-11T19:50:00+01:00")
    assert run.returncode == 2 and run.stdout == ""
    error = json.loads(run.stderr)
    assert error["file"] == path and error["errors"][0]["field"] == "--as-of"
    run = misper("evaluate", path, "--policy", "baseline-pre-2023")
    assert run.returncode == 2
    assert json.loads(run.stderr)["errors"] == [
        {
            "field": "--policy",
            "message": "differs from the policy in the timeline (suffolk-2023-02); send one",
        }
    ]


def test_no_policy_in_force_is_an_error_not_a_default() -> None:
    body = report_timeline([])
    del body["policy"]
    body["events"][0]["at"] = "2013-12-01T19:40:00+00:00"  # before the earliest version
    run = misper("evaluate", "-", stdin=json.dumps(body))
    assert run.returncode == 2
    assert json.loads(run.stderr)["error"] == "no_policy_in_force"


def test_unknown_policy_suggests_the_nearest() -> None:
    body = report_timeline([])
    del body["policy"]
    run = misper("evaluate", "-", "--policy", "suffolk-2023-03", stdin=json.dumps(body))
    assert run.returncode == 2
    assert "did you mean 'suffolk-2023-02'" in json.loads(run.stderr)["message"]


def test_policies_lists_versions() -> None:
    run = misper("policies")
    assert run.returncode == 0
    lines = [line.split("\t") for line in run.stdout.strip().splitlines()]
    assert [(f[0], f[1], f[2]) for f in lines] == [
        ("baseline-pre-2023", "2014-01-01", "2023-01-31"),
        ("suffolk-2023-02", "2023-02-01", "-"),
    ]
    assert all(len(f[3]) == 64 for f in lines)


def test_rules_validate_runs_the_embedded_tests() -> None:
    run = misper("rules", "validate")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "embedded tests:" in run.stdout and " 0 failed" in run.stdout


def test_rules_validate_reports_a_broken_folder(tmp_path) -> None:
    run = misper("rules", "validate", str(tmp_path))
    assert run.returncode == 2 and "no policy.yaml" in run.stderr
