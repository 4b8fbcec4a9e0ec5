"""Policy versions: the version in force is chosen by the report's local date, the same way by every
door (CLI, HTTP, MISPER_RULES_DIR); a named version out of force is used with a note; overlapping
dates or a folder named unlike its id are refused; versions are listed."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from misper.engine import PolicyInvalid, default_registry, evaluate, parse_timeline
from misper.engine.policy.registry import PolicyRegistry
from tests.support.cli import misper, serve_with_rules
from tests.support.policies import edit_yaml, registry_problems
from tests.support.timelines import report_timeline


def test_the_policies_route_lists_versions_and_details(api) -> None:
    listing = api.client.get("/v1/policies", headers=api.auth("control_room")).json()
    assert [p["id"] for p in listing] == ["baseline-pre-2023", "suffolk-2023-02"]
    assert all(len(p["sha256"]) == 64 for p in listing)
    # A key sees its own force's policies and the national ones, never another force's.
    theirs = api.client.get("/v1/policies", headers=api.auth("sussex:control_room")).json()
    assert [p["id"] for p in theirs] == ["baseline-pre-2023", "sussex-2022-09"]
    hidden = api.client.get("/v1/policies/suffolk-2023-02", headers=api.auth("sussex:auditor"))
    assert hidden.status_code == 404 and "suffolk-2023-02" not in hidden.json()["detail"].split("known:")[1]
    detail = api.client.get("/v1/policies/suffolk-2023-02", headers=api.auth("auditor")).json()
    assert detail["clauses"]["S4"].startswith("Reviews are specific to the child")
    assert detail["parameters"]["repeat_window"] == {
        "value": 42,
        "unit": "days",
        "clause": "R1",
        "provenance": "stated",
        "note": "Days on the local wall clock, inclusive: an earlier report counts when its local date "
        "and time is no more than this many days before this report's. This report is counted too.",
    }
    assert {d["id"] for d in detail["deadlines"]} >= {"initial_grading", "periodic_review"}


@pytest.mark.cli
def test_no_policy_in_force_is_an_error_not_a_default() -> None:
    body = report_timeline([])
    del body["policy"]
    body["events"][0]["at"] = "2013-12-01T19:40:00+00:00"  # before the earliest version
    run = misper("evaluate", "-", stdin=json.dumps(body))
    assert run.returncode == 2
    assert json.loads(run.stderr)["error"] == "no_policy_in_force"


@pytest.mark.cli
def test_policies_lists_versions() -> None:
    run = misper("policies")
    assert run.returncode == 0
    lines = [line.split("\t") for line in run.stdout.strip().splitlines()]
    assert [(f[0], f[1], f[2], f[3]) for f in lines] == [
        ("baseline-pre-2023", "-", "2014-01-01", "2023-01-31"),
        ("sussex-2022-09", "sussex", "2019-01-01", "-"),
        ("suffolk-2023-02", "suffolk", "2023-02-01", "-"),
    ]
    assert all(len(f[4]) == 64 for f in lines)


@pytest.mark.parametrize(
    ("report_at", "policy_id"),
    [
        pytest.param("2022-06-01T10:00:00+01:00", "baseline-pre-2023", id="2022"),
        pytest.param("2023-01-31T23:59:59+00:00", "baseline-pre-2023", id="last-second-of-baseline"),
        pytest.param("2023-02-01T00:00:00+00:00", "suffolk-2023-02", id="first-second-of-2023-policy"),
        pytest.param("2023-03-15T10:00:00+00:00", "suffolk-2023-02", id="march-2023"),
    ],
)
def test_the_version_in_force_is_chosen_by_the_reports_local_date(report_at, policy_id) -> None:
    """Issue 6: the version in force is chosen by the report's local date."""
    body = report_timeline([], as_of=report_at)
    del body["policy"]
    body["events"][0]["at"] = report_at
    timeline = parse_timeline(json.dumps(body))
    chosen = default_registry().in_force(timeline.report().at)
    assert chosen.id == policy_id
    assert evaluate(timeline, chosen).notes == []


@pytest.mark.cli
def test_a_2022_incident_is_judged_by_the_baseline() -> None:
    """Issue 6: a 2022 incident is judged by the baseline."""
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


def test_naming_a_policy_not_in_force_is_allowed_with_a_note() -> None:
    """Issue 6: naming a policy not in force is allowed with a note."""
    body = report_timeline([], as_of="2023-07-11T21:00:00+01:00", policy="baseline-pre-2023")
    result = evaluate(parse_timeline(json.dumps(body)), default_registry().get("baseline-pre-2023"))
    assert result.policy.id == "baseline-pre-2023"
    assert result.notes == [
        "The report at 19:40 on 11 July 2023 (BST) was received when policy baseline-pre-2023 was not in "
        "force (it applies from 2014-01-01 to 2023-01-31); it is judged by that policy because the "
        "policy was named."
    ]


@pytest.mark.cli
def test_overlapping_versions_stop_loading_and_serving(rules_copy: Path, tmp_path: Path) -> None:
    """Issue 6: overlapping versions (of one force) stop loading and serving."""
    shutil.copytree(rules_copy / "suffolk-2023-02", rules_copy / "suffolk-2023-06")
    edit_yaml(
        rules_copy / "suffolk-2023-06" / "policy.yaml",
        lambda d: d.update(id="suffolk-2023-06", effective_from="2023-06-01"),
    )
    found = registry_problems(rules_copy)
    assert found["suffolk-2023-06"].startswith(
        "its effective dates (from 2023-06-01, open-ended) overlap those of suffolk-2023-02"
    )
    run = serve_with_rules(rules_copy, tmp_path)
    assert run.returncode == 2 and "overlap those of suffolk-2023-02" in run.stderr


def test_an_open_ended_earlier_version_of_the_same_force_overlaps(rules_copy: Path) -> None:
    """Issue 6: an open-ended earlier version overlaps a later one of the same force."""
    shutil.copytree(rules_copy / "suffolk-2023-02", rules_copy / "suffolk-2024-01")
    edit_yaml(
        rules_copy / "suffolk-2024-01" / "policy.yaml",
        lambda d: d.update(id="suffolk-2024-01", effective_from="2024-01-01"),
    )
    assert "overlap those of suffolk-2023-02" in registry_problems(rules_copy)["suffolk-2024-01"]


def test_a_forces_version_may_overlap_a_national_one_and_wins(rules_copy: Path) -> None:
    """Issue 23: a national version still in force beside a force's own: the force's is chosen."""
    edit_yaml(rules_copy / "baseline-pre-2023" / "policy.yaml", lambda d: d.update(effective_to=None))
    registry = PolicyRegistry.from_folder(rules_copy)
    moment = datetime.fromisoformat("2023-07-11T19:40:00+01:00")
    assert registry.in_force(moment).id == "suffolk-2023-02"
    assert registry.in_force(moment, "suffolk").id == "suffolk-2023-02"


def test_a_folder_named_differently_from_its_id_is_refused(rules_copy: Path) -> None:
    """Issue 6: a folder named differently from its id is refused."""
    (rules_copy / "baseline-pre-2023").rename(rules_copy / "baseline")
    found = registry_problems(rules_copy)
    assert found["baseline/policy.yaml: id"] == (
        "is 'baseline-pre-2023' but the folder is named 'baseline'; name the folder after the policy id"
    )


def test_two_versions_with_one_id_are_refused() -> None:
    """Issue 6: two versions with one id are refused."""
    policy = default_registry().get("suffolk-2023-02")
    with pytest.raises(PolicyInvalid) as info:
        PolicyRegistry([policy, policy])
    assert info.value.errors[0].field == "suffolk-2023-02"
    assert "two policy folders declare this id" in info.value.errors[0].message


def test_effective_to_before_effective_from_is_refused(rules_copy: Path) -> None:
    """Issue 6: effective_to before effective_from is refused."""
    edit_yaml(rules_copy / "baseline-pre-2023" / "policy.yaml", lambda d: d.update(effective_to="2013-01-01"))
    found = registry_problems(rules_copy)
    assert (
        found["baseline-pre-2023/policy.yaml: effective_to"]
        == "2013-01-01 is before effective_from 2014-01-01"
    )


@pytest.mark.cli
def test_rules_dir_is_honoured_by_every_command(rules_copy: Path) -> None:
    """Issue 6: MISPER_RULES_DIR is honoured by every command."""
    shutil.rmtree(rules_copy / "baseline-pre-2023")
    env = {"MISPER_RULES_DIR": str(rules_copy)}
    listed = misper("policies", env=env)
    assert [line.split("\t")[0] for line in listed.stdout.splitlines()] == [
        "sussex-2022-09",
        "suffolk-2023-02",
    ]
    body = report_timeline([])
    del body["policy"]
    body["events"][0]["at"] = "2022-07-11T19:40:00+01:00"
    evaluated = misper("evaluate", "-", stdin=json.dumps(body), env=env)
    assert evaluated.returncode == 2 and json.loads(evaluated.stderr)["error"] == "no_policy_in_force"
