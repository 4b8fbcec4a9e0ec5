"""Issue 8's acceptance, done as a policy author would: follow only docs/writing-rules.md to add a
clause to a copy of the policy, validate it with the misper command, and see it fire, not fire and
lapse (the edits are read from the guide itself, so the guide cannot drift from what works)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.support.cli import misper
from tests.support.paths import ROOT

GUIDE = (ROOT / "docs" / "writing-rules.md").read_text(encoding="utf-8")
MARKED = re.compile(
    r"<!-- (edit (?P<file>\S+): (?P<how>[^>]*)|file: (?P<new>\S+)) -->\n```\w*\n(?P<body>.*?)```", re.S
)
CODE = "LOOKED_AFTER_STRATEGY_LATE"
AS_SHOWN = "2023-07-12T09:00:00+01:00"  # the guide's evaluate command judges at this instant


def follow_the_guide(rules: Path) -> Path:
    """Apply the guide's marked edits to a copy of the shipped rules; return the timeline file."""
    shutil.copytree(ROOT / "rules", rules)
    folder = rules / "suffolk-2023-02"
    timeline = None
    for m in MARKED.finditer(GUIDE):
        body = m["body"]
        if m["new"]:
            timeline = rules.parent / m["new"]
            timeline.write_text(body, encoding="utf-8")
            continue
        path = folder / m["file"]
        text = path.read_text(encoding="utf-8")
        if m["how"] == "append":
            text = text.rstrip("\n") + "\n\n" + body
        else:
            anchor = re.fullmatch(r'insert before the line starting "(.*)"', m["how"])
            assert anchor, f"the guide's edit {m['how']!r} is not one this test knows"
            at = text.index("\n" + anchor[1]) + 1
            text = text[:at] + body + text[at:]
        path.write_text(text, encoding="utf-8")
    assert timeline is not None
    return timeline


@pytest.fixture(scope="module")
def guided(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    rules = tmp_path_factory.mktemp("guide") / "rules"
    return rules, follow_the_guide(rules)


def findings(rules: Path, timeline: Path, *args: str) -> list[dict]:
    done = misper("evaluate", str(timeline), "--rules", str(rules), *(args or ("--as-of", AS_SHOWN)))
    assert done.returncode == 0, done.stderr
    return [f for f in json.loads(done.stdout)["findings"] if f["code"] == CODE]


def test_the_guide_makes_four_edits_and_a_timeline() -> None:
    """Issue 8: the guide makes four edits and a timeline."""
    kinds = [(m["file"], m["how"]) if m["file"] else ("new", m["new"]) for m in MARKED.finditer(GUIDE)]
    assert kinds == [
        ("policy.yaml", 'insert before the line starting "  L1:"'),
        ("policy.yaml", "append"),
        ("parameters.yaml", "append"),
        ("looked_after.yaml", "append"),
        ("new", "looked-after-high.json"),
    ]


@pytest.mark.cli
def test_validate_runs_the_new_clauses_tests(guided) -> None:
    """Issue 8: validate runs the new clause's tests."""
    rules, _ = guided
    done = misper("rules", "validate", str(rules / "suffolk-2023-02"))
    assert done.returncode == 0, done.stdout + done.stderr
    shipped = misper("rules", "validate", str(ROOT / "rules" / "suffolk-2023-02"))
    count = re.compile(r"(\d+) rules, .* (\d+) passed, 0 failed")
    new_rules, new_tests = map(int, count.search(done.stdout).groups())  # type: ignore[union-attr]
    old_rules, old_tests = map(int, count.search(shipped.stdout).groups())  # type: ignore[union-attr]
    assert (new_rules - old_rules, new_tests - old_tests) == (1, 6)


@pytest.mark.cli
def test_it_fires_with_what_the_guide_shows(guided) -> None:
    """Issue 8: it fires with what the guide shows."""
    rules, timeline = guided
    assert f"--rules /tmp/my-rules --as-of {AS_SHOWN}" in GUIDE
    (finding,) = findings(rules, timeline)
    assert finding == {
        "code": CODE,
        "clause": "L2",
        "severity": "advisory",
        "message": "The looked-after child was graded high by the call handler at 19:50 on 11 July 2023 "
        "(BST) and no strategy discussion was held within 12 hours.",
        "at": "2023-07-12T07:50:00+01:00",
        "evidence": ["g"],
        "rule": "L2.looked-after-strategy-discussion",
        "basis": "stated",
        "basis_note": finding["basis_note"],
    }
    shown = re.search(r'"basis_note": "(.*)"', GUIDE)
    assert shown and shown[1] == finding["basis_note"]


@pytest.mark.cli
def test_not_yet_due_it_does_not_fire_and_says_when_it_will(guided) -> None:
    """Issue 8: not yet due it does not fire and says when it will."""
    rules, timeline = guided
    assert findings(rules, timeline, "--as-of", "2023-07-12T07:49:59+01:00") == []
    done = misper("evaluate", str(timeline), "--rules", str(rules), "--as-of", "2023-07-12T07:30:00+01:00")
    assert json.loads(done.stdout)["next_change_at"] == "2023-07-12T07:50:00+01:00"
    # At 07:00 the night's C3 check turns from an action to a breach a second later: first.
    done = misper("evaluate", str(timeline), "--rules", str(rules), "--as-of", "2023-07-12T07:00:00+01:00")
    assert json.loads(done.stdout)["next_change_at"] == "2023-07-12T07:00:01+01:00"
    assert len(findings(rules, timeline, "--as-of", "2023-07-12T07:50:00+01:00")) == 1


@pytest.mark.cli
def test_a_discussion_in_time_or_the_child_found_first_means_no_finding(guided, tmp_path) -> None:
    """Issue 8: a discussion in time or the child found first means no finding."""
    rules, timeline = guided
    body = json.loads(timeline.read_text())
    for event, expected in (
        ({"type": "strategy_discussion", "at": "2023-07-12T07:50:00+01:00", "by": "mash"}, 0),
        ({"type": "strategy_discussion", "at": "2023-07-12T07:51:00+01:00", "by": "mash"}, 1),
        ({"type": "found", "at": "2023-07-12T07:49:00+01:00", "by": "frontline_officer"}, 0),
    ):
        changed = tmp_path / "t.json"
        changed.write_text(json.dumps(dict(body, events=[*body["events"], {"id": "x", **event}])))
        assert len(findings(rules, changed)) == expected, event


@pytest.mark.cli
def test_why_not_names_the_condition_no_fact_met(guided) -> None:
    """Issue 8: why-not names the condition no fact met."""
    rules, timeline = guided
    done = misper(
        "evaluate",
        str(timeline),
        "--rules",
        str(rules),
        "--as-of",
        "2023-07-12T07:00:00+01:00",
        "--why-not",
        CODE,
    )
    (rule,) = json.loads(done.stdout)["trace"]["why_not"]["rules"]
    assert (rule["fired"], rule["unmet"]) == (False, "due")
    assert [c["met"] for c in rule["conditions"]] == [True, True, False, None, None]
    assert rule["conditions"][2]["unmet_field"] == "as_of"


def test_the_force_code_is_listed_by_the_policy_route(guided, tmp_path) -> None:
    """Issue 8: the force code is listed by the policy route."""
    from tests.support.api import make_api

    rules, _ = guided
    made = make_api(tmp_path, rules_dir=rules)
    with made.client:
        codes = made.client.get("/v1/policies/suffolk-2023-02", headers=made.auth()).json()["finding_codes"]
    mine = next(c for c in codes if c["code"] == CODE)
    assert mine == {
        "code": CODE,
        "clauses": ["L2"],
        "reserved": False,
        "meaning": "A looked-after child graded high had no strategy discussion in time.",
    }
    assert next(c for c in codes if c["code"] == "INTELLIGENCE_CHECKS_MISSING")["clauses"] == ["G5", "C3"]
