"""Issue 23: replay across forces. A corpus line may name its force; each line is judged under its
force's policy; the summary and the report break down by force when the corpus holds more than
one, and a comparison is made per force (each line against the compared policy its force may be
judged by). A force's auditor replays only its own force's lines; the inspectorate's key any."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from misper.api.replay.runner import ReplayFiles, ReplayOptions, replay_to_files
from misper.engine import default_registry
from misper.engine.errors import InvalidRequest, UnknownPolicy
from misper.engine.policy.registry import shipped_rules_dir
from tests.support.api import Api
from tests.support.timelines import report_timeline

NDJSON = "application/x-ndjson"
GRADED_LOW = {
    "id": "g",
    "type": "risk_graded",
    "at": "2023-07-11T19:50:00+01:00",
    "by": "call_handler",
    "grade": "low",
}


def _line(incident_id: str, force: str | None, **extra: Any) -> str:
    body = report_timeline([GRADED_LOW], incident_id=incident_id, **extra)
    del body["policy"]
    if force:
        body["force"] = force
    return json.dumps(body)


def _corpus(tmp_path: Path) -> Path:
    lines = [
        _line("SUF-1", "suffolk", area="west"),
        _line("SUF-2", None, area="east"),  # no force: the rules' default force, Suffolk
        _line("SUS-1", "sussex", area="brighton"),
        _line("SUS-2", "sussex", area="brighton"),
    ]
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def _replay(tmp_path: Path, options: ReplayOptions, report: bool = False) -> dict[str, Any]:
    files = ReplayFiles(
        out=str(tmp_path / "out.jsonl"), report=str(tmp_path / "report.html") if report else None
    )
    return replay_to_files(
        str(_corpus(tmp_path)), default_registry(), str(shipped_rules_dir()), options, files, workers=1
    )


def test_each_line_is_judged_under_its_force_and_the_summary_breaks_down_by_force(tmp_path: Path) -> None:
    data = _replay(tmp_path, ReplayOptions(), report=True)
    assert data["incidents"] == 4 and data["errors"] == 0
    assert data["policies"] == {"suffolk-2023-02": 2, "sussex-2022-09": 2}
    assert set(data["forces"]) == {"suffolk", "sussex"}
    assert data["forces"]["suffolk"]["incidents"] == 2 and data["forces"]["sussex"]["incidents"] == 2
    # Graded low: a breach of Suffolk's G1, allowed by Sussex.
    assert data["forces"]["suffolk"]["breaches"] >= 2
    results = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    codes = {
        r["evaluation"]["incident_id"]: {f["code"] for f in r["evaluation"]["findings"]} for r in results
    }
    assert "GRADE_NOT_ALLOWED" in codes["SUF-1"] and "GRADE_NOT_ALLOWED" in codes["SUF-2"]
    assert "GRADE_NOT_ALLOWED" not in codes["SUS-1"]
    report = (tmp_path / "report.html").read_text()
    assert "<h2>By force</h2>" in report and ">sussex<" in report


def test_one_forces_corpus_has_no_force_breakdown(tmp_path: Path) -> None:
    path = tmp_path / "one.jsonl"
    path.write_text(_line("SUF-1", "suffolk") + "\n" + _line("SUF-2", None) + "\n")
    data = replay_to_files(
        str(path), default_registry(), str(shipped_rules_dir()), ReplayOptions(), ReplayFiles(), workers=1
    )
    assert data["incidents"] == 2 and "forces" not in data


def test_a_comparison_is_made_per_force_with_the_policy_each_force_may_use(tmp_path: Path) -> None:
    # Each force's lines against the national baseline: what each force's own policy changes.
    data = _replay(tmp_path, ReplayOptions(compare=("baseline-pre-2023",)), report=True)
    assert "comparison" in data
    for force in ("suffolk", "sussex"):
        assert data["forces"][force]["comparison"]["changed"], force
    assert "Policy comparison: what changes for sussex" in (tmp_path / "report.html").read_text()
    # Two policies of one force cannot both be compared; one per force can.
    with pytest.raises(InvalidRequest, match="one policy per force"):
        ReplayOptions(compare=("baseline-pre-2023", "baseline-pre-2023")).check(default_registry())
    ReplayOptions(compare=("suffolk-2023-02", "sussex-2022-09")).check(default_registry())
    # A line is compared only with a policy its force may use: Sussex's lines are not compared
    # with Suffolk's policy.
    _replay(tmp_path, ReplayOptions(compare=("suffolk-2023-02",)))
    results = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    compared = {r["evaluation"]["incident_id"] for r in results if "compared" in r}
    assert compared == {"SUF-1", "SUF-2"}


def test_a_forces_replay_refuses_another_forces_lines_and_policies(tmp_path: Path) -> None:
    with pytest.raises(UnknownPolicy):
        ReplayOptions(compare=("suffolk-2023-02",), force="sussex").check(default_registry())
    data = _replay(tmp_path, ReplayOptions(force="sussex"))
    # A line naming no force is the replaying key's force's.
    assert data["incidents"] == 3 and data["errors"] == 1 and data["policies"] == {"sussex-2022-09": 3}
    refused = [json.loads(line) for line in (tmp_path / "out.jsonl.errors.jsonl").read_text().splitlines()]
    assert [(r["line"], r["errors"][0]["field"]) for r in refused] == [(1, "force")]


def _post(api: Api, key: str, body: str, query: str = "") -> Any:
    return api.client.post(
        f"/v1/replays{query}", content=body, headers={**api.auth(key), "Content-Type": NDJSON}
    )


def test_over_http_a_forces_auditor_replays_its_own_force_and_the_inspectorate_any(
    api: Api, tmp_path: Path
) -> None:
    body = _corpus(tmp_path).read_text()
    mine = [json.loads(line) for line in _post(api, "sussex:auditor", body).text.splitlines()]
    summary = mine[-1]["summary"]
    assert summary["incidents"] == 3 and summary["errors"] == 1 and "forces" not in summary
    assert [r["line"] for r in mine if "error" in r] == [1]
    every = [json.loads(line) for line in _post(api, "inspectorate", body).text.splitlines()]
    assert set(every[-1]["summary"]["forces"]) == {"suffolk", "sussex"}
    refused = _post(api, "auditor", body, "?compare=sussex-2022-09")
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "query.compare"
    both = _post(api, "inspectorate", body, "?compare=baseline-pre-2023")
    assert both.status_code == 200 and "comparison" in json.loads(both.text.splitlines()[-1])["summary"]
