"""Issue 6: policy versions that cannot be silently wrong, chosen the same way by both doors."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from misper.api.http.app import create_app
from misper.api.settings import Settings
from misper.engine import PolicyInvalid, default_registry, evaluate, parse_timeline
from misper.engine.policy.registry import PolicyRegistry, shipped_rules_dir
from tests.api_support import make_api
from tests.conftest import ROOT, misper, report_timeline

SHIPPED = shipped_rules_dir()


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(SHIPPED, target, ignore=shutil.ignore_patterns("__*"))
    return target


def edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def errors_of(folder: Path) -> dict[str, str]:
    with pytest.raises(PolicyInvalid) as info:
        PolicyRegistry.from_folder(folder)
    return {e.field: e.message for e in info.value.errors}


def serve(rules: Path, data: Path) -> subprocess.CompletedProcess[str]:
    return misper("serve", "--port", "1", env={"MISPER_RULES_DIR": str(rules), "MISPER_DATA_DIR": str(data)})


@pytest.mark.parametrize(
    ("report_at", "policy_id"),
    [
        pytest.param("2022-06-01T10:00:00+01:00", "baseline-pre-2023", id="2022"),
        pytest.param("2023-01-31T23:59:59+00:00", "baseline-pre-2023", id="last-second-of-baseline"),
        pytest.param("2023-02-01T00:00:00+00:00", "suffolk-2023-02", id="first-second-of-2023-policy"),
        pytest.param("2023-03-15T10:00:00+00:00", "suffolk-2023-02", id="march-2023"),
    ],
)
def test_issue6_the_version_in_force_is_chosen_by_the_reports_local_date(report_at, policy_id) -> None:
    body = report_timeline([], as_of=report_at)
    del body["policy"]
    body["events"][0]["at"] = report_at
    timeline = parse_timeline(json.dumps(body))
    chosen = default_registry().in_force(timeline.report().at)
    assert chosen.id == policy_id
    assert evaluate(timeline, chosen).notes == []


def test_issue6_a_2022_incident_is_judged_by_the_baseline() -> None:
    body = report_timeline(
        [
            {
                "id": "g",
                "type": "risk_graded",
                "at": "2022-07-11T19:50:00+01:00",
                "by": "call_handler",
                "grade": "low",
            },
            {"id": "c", "type": "closed", "at": "2022-07-13T09:00:00+01:00"},
        ]
    )
    del body["policy"]
    for event in body["events"]:
        event["at"] = event["at"].replace("2023-", "2022-")
    run = misper("evaluate", "-", stdin=json.dumps(body))
    result = json.loads(run.stdout)
    assert result["policy"]["id"] == "baseline-pre-2023"
    codes = {f["code"] for f in result["findings"]}
    assert "GRADE_NOT_ALLOWED" not in codes  # BG1: a low grade is allowed
    assert result["oversight"]["required_role"] is None  # no oversight duty below high
    assert {f["clause"] for f in result["findings"]} <= {
        "BG2",
        "BG3",
        "BG4",
        "BO1",
        "BS2",
        "BC1",
        "BF1",
        "BF2",
        "BF3",
    }


def test_issue6_naming_a_policy_not_in_force_is_allowed_with_a_note() -> None:
    body = report_timeline([], as_of="2023-07-11T21:00:00+01:00", policy="baseline-pre-2023")
    result = evaluate(parse_timeline(json.dumps(body)), default_registry().get("baseline-pre-2023"))
    assert result.policy.id == "baseline-pre-2023"
    assert result.notes == [
        "The report at 19:40 on 11 July 2023 (BST) was received when policy baseline-pre-2023 was not in "
        "force (it applies from 2014-01-01 to 2023-01-31); it is judged by that policy because the "
        "policy was named."
    ]


def test_issue6_overlapping_versions_stop_loading_and_serving(rules_copy: Path, tmp_path: Path) -> None:
    edit(rules_copy / "baseline-pre-2023" / "policy.yaml", lambda d: d.update(effective_to="2023-02-01"))
    found = errors_of(rules_copy)
    assert found["suffolk-2023-02"].startswith(
        "its effective dates (from 2023-02-01, open-ended) overlap those of baseline-pre-2023"
    )
    run = serve(rules_copy, tmp_path)
    assert run.returncode == 2 and "overlap those of baseline-pre-2023" in run.stderr


def test_issue6_an_open_ended_earlier_version_overlaps(rules_copy: Path) -> None:
    edit(rules_copy / "baseline-pre-2023" / "policy.yaml", lambda d: d.update(effective_to=None))
    assert "suffolk-2023-02" in errors_of(rules_copy)


def test_issue6_a_folder_named_differently_from_its_id_is_refused(rules_copy: Path) -> None:
    (rules_copy / "baseline-pre-2023").rename(rules_copy / "baseline")
    found = errors_of(rules_copy)
    assert found["baseline/policy.yaml: id"] == (
        "is 'baseline-pre-2023' but the folder is named 'baseline'; name the folder after the policy id"
    )


def test_issue6_two_versions_with_one_id_are_refused() -> None:
    policy = default_registry().get("suffolk-2023-02")
    with pytest.raises(PolicyInvalid) as info:
        PolicyRegistry([policy, policy])
    assert info.value.errors[0].field == "suffolk-2023-02"
    assert "two policy folders declare this id" in info.value.errors[0].message


def test_issue6_effective_to_before_effective_from_is_refused(rules_copy: Path) -> None:
    edit(rules_copy / "baseline-pre-2023" / "policy.yaml", lambda d: d.update(effective_to="2013-01-01"))
    found = errors_of(rules_copy)
    assert (
        found["baseline-pre-2023/policy.yaml: effective_to"]
        == "2013-01-01 is before effective_from 2014-01-01"
    )


def test_issue6_an_unknown_deadline_in_a_rule_condition_fails_at_load(rules_copy: Path) -> None:
    def change(data) -> None:
        data["rules"][0]["when"]["late"] = {"fact": "deadline", "deadline": "initial_gradng"}

    edit(rules_copy / "suffolk-2023-02" / "grading.yaml", change)
    found = errors_of(rules_copy)
    message = found["suffolk-2023-02/grading.yaml: rule G1.grade-not-allowed: when.late.deadline"]
    assert message.startswith("unknown value 'initial_gradng'; did you mean 'initial_grading'?")


def test_issue6_a_failing_embedded_test_stops_serve_naming_file_rule_and_test(
    rules_copy: Path, tmp_path: Path
) -> None:
    edit(
        rules_copy / "suffolk-2023-02" / "parameters.yaml",
        lambda d: d["initial_grading"].update(value=20),
    )
    run = serve(rules_copy, tmp_path)
    assert run.returncode == 2
    error = json.loads(run.stderr)
    fields = {e["field"] for e in error["errors"]}
    assert "suffolk-2023-02/grading.yaml: deadline initial_grading: test just-in-time" in fields


@pytest.mark.parametrize("layout", ["missing", "empty"])
def test_issue6_a_missing_or_empty_rules_folder_stops_serve(layout: str, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    if layout == "empty":
        rules.mkdir()
    run = serve(rules, tmp_path)
    assert run.returncode == 2
    assert json.loads(run.stderr)["error"] == "policy_invalid"
    assert str(rules) in run.stderr


def test_issue6_rules_dir_is_honoured_by_every_command(rules_copy: Path) -> None:
    shutil.rmtree(rules_copy / "baseline-pre-2023")
    env = {"MISPER_RULES_DIR": str(rules_copy)}
    listed = misper("policies", env=env)
    assert [line.split("\t")[0] for line in listed.stdout.splitlines()] == ["suffolk-2023-02"]
    body = report_timeline([])
    del body["policy"]
    body["events"][0]["at"] = "2022-07-11T19:40:00+01:00"
    evaluated = misper("evaluate", "-", stdin=json.dumps(body), env=env)
    assert evaluated.returncode == 2 and json.loads(evaluated.stderr)["error"] == "no_policy_in_force"


def test_issue6_readyz_fails_when_the_key_store_is_unreadable(tmp_path: Path) -> None:
    api = make_api(tmp_path)
    with api.client:
        assert api.client.get("/readyz").status_code == 200
        api.store.path.write_text("{not json")
        response = api.client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["detail"] == f"the key file {api.store.path} is not valid JSON"


def test_issue6_readyz_fails_when_policies_cannot_load(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, rules_dir=tmp_path / "nowhere", max_body_bytes=1024))
    with pytest.raises(PolicyInvalid), TestClient(app):
        pass


def test_issue6_a_lost_plus_in_a_query_instant_gets_a_hint(tmp_path: Path) -> None:
    api = make_api(tmp_path)
    body = report_timeline([])
    with api.client:
        # An unencoded '+' in a query string arrives as a space.
        response = api.client.post(
            "/v1/evaluations?as_of=2023-07-11T20:20:00+01:00", json=body, headers=api.auth("control_room")
        )
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["field"] == "query.as_of" and "%2B" in error["message"]


def test_issue6_cli_help_version_and_engine_stamp() -> None:
    bare = misper()
    assert bare.returncode == 0 and "evaluate" in bare.stdout and "usage: misper" in bare.stdout
    version = misper("--version")
    from misper.engine.version import __version__

    assert version.stdout.strip() == f"misper {__version__}"
    case = ROOT / "fixtures" / "golden" / "case-study.json"
    assert json.loads(case.read_text())["engine"] == {"name": "misper", "version": __version__}


@pytest.mark.parametrize(
    ("file", "content", "field", "message"),
    [
        pytest.param(
            "policy.yaml",
            "",
            "suffolk-2023-02/policy.yaml",
            "is empty; it needs its settings",
            id="empty-policy",
        ),
        pytest.param(
            "parameters.yaml",
            "",
            "suffolk-2023-02/parameters.yaml",
            "must map parameter names to their settings",
            id="empty-parameters",
        ),
    ],
)
def test_issue6_an_empty_file_is_named_not_zero_problems(
    rules_copy: Path, file, content, field, message
) -> None:
    (rules_copy / "suffolk-2023-02" / file).write_text(content)
    found = errors_of(rules_copy)
    assert found[field] == message


def test_issue6_a_parameter_with_no_settings_is_named(rules_copy: Path) -> None:
    path = rules_copy / "baseline-pre-2023" / "parameters.yaml"
    path.write_text(path.read_text() + "\nrepeat_threshold:\n")
    found = errors_of(rules_copy)
    assert found["baseline-pre-2023/parameters.yaml: repeat_threshold"] == "is empty; it needs its settings"


def test_issue6_test_defaults_are_required_and_checked(rules_copy: Path) -> None:
    edit(rules_copy / "suffolk-2023-02" / "policy.yaml", lambda d: d.pop("test_defaults"))
    assert errors_of(rules_copy)["suffolk-2023-02/policy.yaml: test_defaults"] == "Field required"
