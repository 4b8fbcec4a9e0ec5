"""Replaying a corpus of historical incidents: the synthetic corpus, the same results whatever the
number of workers with bounded read-ahead, the summary and self-contained report an inspection
wants, comparing policy versions, and the same over HTTP."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from misper.api.replay.synth import synth
from misper.engine import default_registry
from tests.support.api import Api
from tests.support.cli import misper

BAD_LINES = [
    "this is not json",
    '{"incident_id": "X-1", "child": {"child_id": "c", "age_years": 14}, "events": []}',
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "year.jsonl"
    lines = list(synth(240, 7))
    lines[100:100] = BAD_LINES  # lines 101 and 102
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def report(corpus: Path) -> Path:
    """The report of the corpus, as misper replay --report writes it."""
    path = corpus.parent / "report.html"
    done = misper(
        "replay",
        str(corpus),
        "--workers",
        "1",
        "--report",
        str(path),
        "--summary",
        str(corpus.parent / "s.json"),
    )
    assert done.returncode == 0, done.stderr
    return path


@pytest.mark.cli
def test_synth_is_deterministic_and_looks_like_a_year() -> None:
    """Issue 10: synth is deterministic and looks like a year."""
    assert list(synth(50, 3)) == list(synth(50, 3)) and list(synth(50, 3)) != list(synth(50, 4))
    year = [json.loads(line) for line in synth(2800, 1)]
    children = Counter(b["child"]["child_id"] for b in year)
    assert 700 <= len(children) <= 740
    assert max(children.values()) >= 24  # a heavy tail: some children missing dozens of times
    reports = [b["events"][0]["at"] for b in year]
    assert any(r.startswith("2023-03-26") for r in reports) and any(
        r.startswith("2023-10-29") for r in reports
    )
    done = misper("synth", "--incidents", "5", "--seed", "3")
    assert done.returncode == 0 and done.stdout.splitlines() == list(synth(5, 3))


@pytest.mark.cli
def test_the_same_results_whatever_the_number_of_workers(corpus: Path, tmp_path: Path) -> None:
    """Issue 10: the same results whatever the number of workers."""
    outputs = []
    for workers in ("1", "2"):
        folder = tmp_path / workers
        folder.mkdir()
        done = misper(
            "replay",
            str(corpus),
            "--workers",
            workers,
            "--out",
            str(folder / "out.jsonl"),
            "--csv",
            str(folder / "findings.csv"),
            "--summary",
            str(folder / "summary.json"),
            "--errors",
            str(tmp_path / "errors.jsonl"),
        )
        assert done.returncode == 0, done.stderr
        outputs.append(
            [(folder / name).read_bytes() for name in ("out.jsonl", "findings.csv", "summary.json")]
        )
    assert outputs[0] == outputs[1]
    summary = json.loads(outputs[0][2])
    assert (summary["incidents"], summary["errors"]) == (240, 2)
    errors = [json.loads(line) for line in (tmp_path / "errors.jsonl").read_text().splitlines()]
    assert [(e["line"], e["error"][:20]) for e in errors] == [
        (101, "the line is not JSON"),
        (102, "the timeline does no"),
    ]
    assert {
        "field": "events",
        "message": "list should have at least 1 item after validation, not 0",
    } in errors[1]["errors"]
    header, *rows = outputs[0][1].decode().splitlines()
    assert header.startswith("line,incident_id,area,policy,clause,code,severity")
    # A row per finding, and one for an incident with none (its rating alone).
    assert len(rows) == sum(
        max(len(json.loads(r)["evaluation"]["findings"]), 1) for r in outputs[0][0].decode().splitlines()
    )


@pytest.mark.cli
def test_the_summary_an_inspector_wants(corpus: Path, tmp_path: Path) -> None:
    """Issue 10: the summary an inspector wants."""
    done = misper("replay", str(corpus), "--workers", "1", "--errors", str(tmp_path / "e.jsonl"))
    summary = json.loads(done.stdout)
    assert summary["children"] < summary["incidents"] and summary["repeat_children"] > 0
    assert set(summary["grades"]) == {"initial", "final", "recommended"}
    g2 = next(c for c in summary["clauses"] if c["clause"] == "G2")
    assert g2["basis"] == "assumed" and 0 < g2["breached"] <= g2["applicable"] and g2["share"] is not None
    g1 = next(c for c in summary["clauses"] if c["clause"] == "G1")
    assert (
        g1["applicable"] == summary["policies"]["suffolk-2023-02"]
    )  # a rule's clause applies to every incident
    grading = next(
        d
        for d in summary["deadlines"]
        if d["deadline"] == "initial_grading" and d["policy"] == "suffolk-2023-02"
    )
    assert grading["median_minutes"] <= grading["p90_minutes"] <= grading["worst_minutes"]
    assert set(summary["areas"]) <= {"East", "South", "West"} and len(summary["months"]) >= 6
    top = summary["most_breaches"]
    assert len(top) == 10 and top[0]["breaches"] >= top[-1]["breaches"]
    # The inspectorate's scale: every incident rated, by month and by area too.
    quality = summary["quality"]
    assert set(quality) == {"good", "requires_improvement", "inadequate"} and all(quality.values())
    assert sum(quality.values()) == summary["incidents"]
    for groups in (summary["months"], summary["areas"]):
        assert sum(g.get("inadequate", 0) for g in groups.values()) == quality["inadequate"]
    assert f"of {summary['incidents']} incidents, {quality['good']} good" in done.stderr
    assert top[0]["findings"][0]["evidence"] and top[0]["events"][0]["type"] == "report_received"


@pytest.mark.cli
def test_the_report_is_one_self_contained_file(report: Path) -> None:
    """Issue 10: the report is one self-contained file."""
    html = report.read_text()
    for section in (
        "Clauses: how often each was breached",
        "Deadlines: how late each duty was",
        "By month",
        "Incidents with the most breaches",
        "Quality: the inspectorate's scale for audited cases",
    ):
        assert section in html
    assert "required improvement and" in html and "aria-label='ratings'" in html
    assert html.count("<svg") >= 13  # three charts and a timeline for each of ten incidents
    assert "<script" not in html and "http://" not in html and "https://" not in html and "src=" not in html


@pytest.mark.browser
@pytest.mark.cli
def test_the_report_renders_in_a_real_browser(report: Path, tmp_path: Path) -> None:
    """Issue 10: the report renders in a real browser."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
    dom = subprocess.run(
        [browser, *flags, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert "Incidents with the most breaches" in dom.stdout
    shot = tmp_path / "report.png"
    subprocess.run(
        [browser, *flags, f"--screenshot={shot}", "--window-size=1200,2000", report.as_uri()],
        capture_output=True,
        timeout=120,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


@pytest.mark.cli
def test_compare_lists_what_a_policy_change_alters(corpus: Path, tmp_path: Path) -> None:
    """Issue 10: compare lists what a policy change alters."""
    done = misper(
        "replay",
        str(corpus),
        "--workers",
        "1",
        "--compare",
        "baseline-pre-2023",
        "--errors",
        str(tmp_path / "e.jsonl"),
    )
    comparison = json.loads(done.stdout)["comparison"]
    assert comparison["changed"]["recommended grade"]["incidents"] > 0
    assert len(comparison["changed"]["recommended grade"]["examples"]) == 3
    assert "GRADE_NOT_ALLOWED" in comparison["disappeared"]  # the baseline allowed every grade
    # How many incidents change rating under the other policy, and from what to what.
    moved = comparison["ratings"]
    assert comparison["changed"]["quality rating"]["incidents"] == sum(v["incidents"] for v in moved.values())
    assert all(" to " in k and v["examples"] for k, v in moved.items())


@pytest.mark.cli
def test_the_csv_carries_each_incidents_rating_even_with_no_finding(corpus: Path, tmp_path: Path) -> None:
    import csv

    table = tmp_path / "findings.csv"
    done = misper(
        "replay", str(corpus), "--workers", "1", "--csv", str(table), "--errors", str(tmp_path / "e")
    )
    summary = json.loads(done.stdout)
    with table.open() as handle:
        rows = list(csv.DictReader(handle))
    ratings = {r["incident_id"]: r["rating"] for r in rows}
    assert len(ratings) == summary["incidents"]
    assert sorted(ratings.values()) == sorted(r for r, n in summary["quality"].items() for _ in range(n))


@pytest.mark.cli
def test_a_gzipped_corpus_and_an_unknown_policy(corpus: Path, tmp_path: Path) -> None:
    """Issue 10: a gzipped corpus and an unknown policy."""
    packed = tmp_path / "year.jsonl.gz"
    packed.write_bytes(gzip.compress(corpus.read_bytes()))
    done = misper("replay", str(packed), "--workers", "1", "--errors", str(tmp_path / "e.jsonl"))
    assert json.loads(done.stdout)["incidents"] == 240
    unknown = misper("replay", str(corpus), "--policy", "suffolk-2024")
    assert unknown.returncode == 2 and "unknown policy 'suffolk-2024'" in unknown.stderr


def test_replay_over_http_streams_results_then_the_summary(api: Api, corpus: Path) -> None:
    """Issue 10: replay over HTTP streams results then the summary."""
    lines = corpus.read_text().splitlines()[:120]
    answer = api.client.post(
        "/v1/replays",
        content="\n".join(lines).encode(),
        headers={**api.auth("auditor"), "Content-Type": "application/x-ndjson"},
    )
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/x-ndjson")
    out = [json.loads(line) for line in answer.text.splitlines()]
    assert [r["line"] for r in out[:-1]] == list(range(1, 121))
    assert "error" in out[100] and "evaluation" in out[0] and "facts" not in out[0]
    assert out[-1]["summary"]["incidents"] == 118 and out[-1]["summary"]["errors"] == 2
    assert api.client.post("/v1/replays", content=b"{}", headers=api.auth("control_room")).status_code == 403
    bad = api.client.post("/v1/replays?compare=nope", content=b"{}", headers=api.auth("auditor"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.compare"


def test_a_key_given_twice_in_a_line_is_refused_as_over_http() -> None:
    """Issue 10: A corpus line whose object repeats a key is refused naming the field (the parsed line
    would keep one value silently), with the line's other errors beside it."""
    from misper.api.replay.runner import ReplayOptions, replay

    line = next(iter(synth(1, 3)))
    once = line.replace('"age_years":', '"age_years":9,"age_years":', 1)
    twice_and_wrong = re.sub(r'"age_years":(\d+)', r'"age_years":\1,"age_years":"nine"', line, count=1)
    rules = str(Path(__file__).resolve().parent.parent / "rules")
    results = list(replay([line, once, twice_and_wrong], rules, ReplayOptions(), workers=1))
    assert "error" not in results[0]
    repeated = {
        "field": "child.age_years",
        "message": "is given more than once in one object; give each field once",
    }
    assert results[1]["errors"] == [repeated]
    assert results[2]["errors"][0] == repeated and len(results[2]["errors"]) == 2


def test_replay_reads_a_bounded_window_ahead_of_its_workers() -> None:
    """Issue 13: With workers, replay reads at most AHEAD chunks per worker ahead of the results it has
    given back, so its memory does not grow with the corpus."""
    from misper.api.replay import runner as run

    consumed = 0

    def lines():  # type: ignore[no-untyped-def]
        nonlocal consumed
        for n in range(3000):
            consumed += 1
            yield f"not json {n}"

    rules = str(Path(__file__).resolve().parent.parent / "rules")
    results = run.replay(lines(), rules, run.ReplayOptions(), workers=2, chunk=16)
    first = next(results)
    assert first["line"] == 1 and "error" in first
    assert consumed <= (run.AHEAD * 2 + 1) * 16
    rest = list(results)
    assert consumed == 3000 and [r["line"] for r in rest] == list(range(2, 3001))


def test_the_summary_counts_children_exactly() -> None:
    """Issue 13: Children are counted by a digest of their id: the counts equal counting the ids."""
    from misper.api.replay import runner as run
    from misper.api.replay.summary import Summary
    from misper.api.replay.synth import synth

    lines = list(synth(300, 11))
    summary = Summary()
    rules = str(Path(__file__).resolve().parent.parent / "rules")
    for result in run.replay(lines, rules, run.ReplayOptions(), workers=1):
        summary.add(result)
    counts = Counter(json.loads(line)["child"]["child_id"] for line in lines)
    data = summary.as_dict(default_registry())
    assert data["incidents"] == 300 and data["children"] == len(counts)
    assert data["repeat_children"] == sum(1 for n in counts.values() if n > 1)
    assert data["most_episodes"] == max(counts.values()) > 1


def test_blocks_of_lines_give_what_the_lines_one_by_one_give(tmp_path: Path) -> None:
    """Issue 25: the command line judges blocks of lines and merges their summaries; its result
    lines, refused lines and summary are those of the results taken one by one (as over HTTP),
    whatever the size of the blocks, a key given twice and a last line with no newline included."""
    from misper.api.replay import runner as run
    from misper.api.replay.summary import Summary

    lines = list(synth(60, 5))
    twice = lines[3].replace('"age_years":', '"age_years":9,"age_years":', 1)
    spaced = json.dumps(json.loads(lines[4]))  # not as the serialiser writes it: scanned for repeats
    lines[10:10] = [*BAD_LINES, "", "  ", twice, spaced]
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(lines))
    rules = str(Path(__file__).resolve().parent.parent / "rules")
    options = run.ReplayOptions(compare=("baseline-pre-2023",))
    tally = run.Tally()
    with run.open_corpus(str(path)) as corpus:
        one_by_one = [(r, tally.take(r)) for r in run.replay(corpus, rules, options, workers=1)]
    results = "".join(text + "\n" for result, text in one_by_one if "error" not in result)
    refused = "".join(text + "\n" for result, text in one_by_one if "error" in result)
    assert refused.count("\n") == 3 and "given more than once" in refused
    for size in (1, 700, run.BLOCK):
        summary = Summary()
        with run.open_corpus(str(path)) as corpus:
            blocks = list(run.judge_corpus(corpus, rules, options, run.Wanted(results=True), 1, size))
        for block in blocks:
            summary.merge(block.summary)
        assert "".join(b.results for b in blocks) == results
        assert "".join(b.refused for b in blocks) == refused
        assert sum(b.lines for b in blocks) == len(one_by_one)
        # Compared as text: the order of keys is part of the summary's bytes.
        expected = json.dumps(tally.summary.as_dict(default_registry()))
        assert json.dumps(summary.as_dict(default_registry())) == expected
