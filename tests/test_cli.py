"""The misper command as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import FIXTURES, ROOT, report_timeline


def misper(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


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


def test_evaluate_as_of_overrides_and_must_have_an_offset() -> None:
    path = str(FIXTURES / "timelines" / "case-study.json")
    run = misper("evaluate", path, "--as-of", "2023-07-11T19:50:00+01:00")
    assert run.returncode == 0 and json.loads(run.stdout)["mode"] == "live"
    naive = misper("evaluate", path, "--as-of", "2023-07-11T19:50:00")
    assert naive.returncode == 2 and "UTC offset" in naive.stderr


def test_no_policy_in_force_is_an_error_not_a_default() -> None:
    body = report_timeline([])
    del body["policy"]
    body["events"][0]["at"] = "2022-12-01T19:40:00+00:00"
    run = misper("evaluate", "-", stdin=json.dumps(body))
    assert run.returncode == 2
    assert json.loads(run.stderr)["error"] == "no_policy_in_force"


def test_unknown_policy_suggests_the_nearest() -> None:
    run = misper("evaluate", "-", "--policy", "suffolk-2023-03", stdin=json.dumps(report_timeline([])))
    assert run.returncode == 2
    assert "did you mean 'suffolk-2023-02'" in json.loads(run.stderr)["message"]


def test_policies_lists_versions() -> None:
    run = misper("policies")
    assert run.returncode == 0
    fields = run.stdout.strip().split("\t")
    assert fields[0] == "suffolk-2023-02" and fields[1] == "2023-02-01" and len(fields[3]) == 64


def test_rules_validate_runs_the_embedded_tests() -> None:
    run = misper("rules", "validate")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "embedded tests:" in run.stdout and " 0 failed" in run.stdout


def test_rules_validate_reports_a_broken_folder(tmp_path) -> None:
    run = misper("rules", "validate", str(tmp_path))
    assert run.returncode == 2 and "no policy.yaml" in run.stderr
