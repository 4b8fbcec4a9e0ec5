"""The misper command as a user runs it: arguments, exit codes, errors as JSON on stderr, the
one-screen text format, help and version."""

from __future__ import annotations

import json
import re

import pytest

from tests.support.cli import misper
from tests.support.paths import FIXTURES, ROOT
from tests.support.timelines import report_timeline

pytestmark = pytest.mark.cli


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


def test_unknown_policy_suggests_the_nearest() -> None:
    body = report_timeline([])
    del body["policy"]
    run = misper("evaluate", "-", "--policy", "suffolk-2023-03", stdin=json.dumps(body))
    assert run.returncode == 2
    assert "did you mean 'suffolk-2023-02'" in json.loads(run.stderr)["message"]


def test_rules_validate_runs_the_embedded_tests() -> None:
    run = misper("rules", "validate")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "embedded tests:" in run.stdout and " 0 failed" in run.stdout


def test_rules_validate_reports_a_broken_folder(tmp_path) -> None:
    run = misper("rules", "validate", str(tmp_path))
    assert run.returncode == 2 and "no policy.yaml" in run.stderr


def test_the_case_study_as_text_fits_one_screen() -> None:
    """Issue 11: the case study as text fits one screen."""
    done = misper("evaluate", "fixtures/timelines/case-study.json", "--format", "text")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) <= 50 and max(map(len, lines)) <= 120
    assert lines[0].startswith("Incident SUF-23-004711  policy suffolk-2023-02 (sha256 ")
    assert lines[1] == "Grade: high  recommended: high  oversight: cid supervisor"
    pattern = r"G2 +The control room's initial risk gra\S* +call handler +11 Jul 20:10 BST +breached$"
    assert any(re.match(pattern, line) for line in lines)
    assert any(line.startswith("F2 breach The prevention interview at 10:30") for line in lines)
    assert "\x1b[" not in done.stdout  # no colour codes when not on a terminal


def test_help_version_and_the_engine_stamp() -> None:
    """Issue 6: help, version and the engine stamp."""
    bare = misper()
    assert bare.returncode == 0 and "evaluate" in bare.stdout and "usage: misper" in bare.stdout
    version = misper("--version")
    from misper.engine.version import __version__

    assert version.stdout.strip() == f"misper {__version__}"
    case = ROOT / "fixtures" / "golden" / "case-study.json"
    assert json.loads(case.read_text())["engine"] == {"name": "misper", "version": __version__}
