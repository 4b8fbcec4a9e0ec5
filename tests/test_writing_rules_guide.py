"""The policy author's guide (docs/writing-rules.md), done as a policy author would: follow only the
guide to add its worked examples to a copy of the shipped rules, validate them with the misper
command, and see each do what the guide shows. The edits, the commands and what they print are read
from the guide itself, so the guide cannot drift from what works.

Issue 8: a rule (a strategy discussion for a looked-after child graded high). Issue 24: a deadline
in working days that skips a bank holiday, a deadline for children in a children's home only, a
three-rung recommendation ladder for Sussex; and every key, list and message the guide promises,
checked against the code that defines it.

The guide's marked edits, each followed by a fenced block:

    <!-- edit FILE: append -->
    <!-- edit FILE: insert before the line starting "TEXT" -->
    <!-- edit FILE: replace the line starting "TEXT" -->
    <!-- edit FILE: replace the lines from the line starting "FIRST" to the line starting "LAST" -->
    <!-- file: NAME -->                (a timeline file, written beside the rules folder)

FILE is a file of suffolk-2023-02, or FOLDER/FILE for another policy folder."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import pytest

from tests.support.cli import misper
from tests.support.paths import ROOT
from tests.support.policies import A_RULE

GUIDE = (ROOT / "docs" / "writing-rules.md").read_text(encoding="utf-8")
MARKED = re.compile(
    r"<!-- (edit (?P<file>\S+): (?P<how>[^>]*)|file: (?P<new>\S+)) -->\n```\w*\n(?P<body>.*?)```", re.S
)
FENCE = re.compile(r"^```(?P<lang>\w*)\n(?P<body>.*?)^```", re.S | re.M)
HEADING = re.compile(r"^#{2,3} ", re.M)
MY_RULES = "/tmp/my-rules"  # where the guide's commands say the copy is
POLICY = "suffolk-2023-02"  # the folder an edit naming no folder changes
CODE = "LOOKED_AFTER_STRATEGY_LATE"
AS_SHOWN = "2023-07-12T09:00:00+01:00"  # the guide's first evaluate command judges at this instant
VALIDATED = re.compile(
    r"(?P<policy>\S+): valid, (?P<deadlines>\d+) deadlines, (?P<rules>\d+) rules, sha256 \S+; "
    r"embedded tests: (?P<passed>\d+) passed, (?P<failed>\d+) failed"
)


def _line(text: str, start: str, after: int = 0) -> int:
    """Where the first line starting with ``start`` begins, at or after ``after``."""
    offset = 0
    for line in text.splitlines(keepends=True):
        if offset >= after and line.startswith(start):
            return offset
        offset += len(line)
    raise AssertionError(f"the guide's edit names a line starting {start!r}, which is not there")


def apply_edit(rules: Path, file: str, how: str, body: str) -> None:
    """One of the guide's marked edits, made as an author would make it."""
    folder, _, name = file.rpartition("/")
    path = rules / (folder or POLICY) / name
    text = path.read_text(encoding="utf-8")
    if how == "append":
        text = text.rstrip("\n") + "\n\n" + body
    elif m := re.fullmatch(r'insert before the line starting "(.*)"', how):
        at = _line(text, m[1])
        text = text[:at] + body + text[at:]
    elif m := re.fullmatch(r'replace the line starting "(.*)"', how):
        at = _line(text, m[1])
        text = text[:at] + body + text[text.index("\n", at) + 1 :]
    elif m := re.fullmatch(
        r'replace the lines from the line starting "(.*)" to the line starting "(.*)"', how
    ):
        at = _line(text, m[1])
        last = _line(text, m[2], at)
        text = text[:at] + body + text[text.index("\n", last) + 1 :]
    else:
        raise AssertionError(f"the guide's edit {how!r} is not one this test knows")
    path.write_text(text, encoding="utf-8")


def follow_the_guide(rules: Path, until: int | None = None) -> dict[str, Path]:
    """Copy the shipped rules to ``rules`` and make the guide's marked edits (those before the
    offset ``until`` in the guide, when given); return the timeline files it writes, by name."""
    shutil.copytree(ROOT / "rules", rules)
    files = {}
    for m in MARKED.finditer(GUIDE):
        if until is not None and m.start() >= until:
            break
        if m["new"]:
            files[m["new"]] = rules.parent / m["new"]
            files[m["new"]].write_text(m["body"], encoding="utf-8")
        else:
            apply_edit(rules, m["file"], m["how"], m["body"])
    return files


@dataclass
class Shown:
    """A misper command in the guide, what it says the command prints (its "# ..." lines) and the
    JSON it shows after it (before the next command or heading)."""

    at: int
    argv: list[str]
    said: list[str]
    results: list[Any] = field(default_factory=list)


def shown_commands() -> list[Shown]:
    marked = [(m.start(), m.end()) for m in MARKED.finditer(GUIDE)]
    fences = [f for f in FENCE.finditer(GUIDE) if not any(a <= f.start() < b for a, b in marked)]
    out: list[Shown] = []
    for i, fence in enumerate(fences):
        if fence["lang"] != "sh":
            continue
        lines = fence["body"].replace("\\\n", " ").splitlines()
        found = []
        for n, line in enumerate(lines):
            if line.startswith(".venv/bin/misper "):
                said = []
                for after in lines[n + 1 :]:
                    if not after.startswith("# "):
                        break
                    said.append(after.removeprefix("# "))
                found.append(Shown(fence.start(), line.split()[1:], said))
        heading = HEADING.search(GUIDE, fence.end())
        ends = heading.start() if heading else len(GUIDE)
        for later in fences[i + 1 :]:
            if later.start() >= ends or later["lang"] == "sh":
                break
            if later["lang"] == "json" and len(found) == 1:
                found[0].results.append(json.loads(later["body"]))
        out.extend(found)
    return out


def _local(arg: str, rules: Path, files: dict[str, Path]) -> str:
    return str(files[arg]) if arg in files else arg.replace(MY_RULES, str(rules))


def run(shown: Shown, rules: Path, files: dict[str, Path]) -> Any:
    return misper(*(_local(a, rules, files) for a in shown.argv))


@pytest.fixture(scope="module")
def followed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    """The copy of the rules with every worked example of the guide made, and its timelines."""
    rules = tmp_path_factory.mktemp("guide") / "rules"
    return rules, follow_the_guide(rules)


@pytest.fixture(scope="module")
def guided(followed) -> tuple[Path, Path]:
    rules, files = followed
    return rules, files["looked-after-high.json"]


def findings(rules: Path, timeline: Path, *args: str) -> list[dict]:
    done = misper("evaluate", str(timeline), "--rules", str(rules), *(args or ("--as-of", AS_SHOWN)))
    assert done.returncode == 0, done.stderr
    return [f for f in json.loads(done.stdout)["findings"] if f["code"] == CODE]


def evaluated(rules: Path, timeline: Path, as_of: str) -> dict[str, Any]:
    done = misper("evaluate", str(timeline), "--rules", str(rules), "--as-of", as_of)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def with_events(timeline: Path, tmp_path: Path, *events: dict[str, Any], **child: Any) -> Path:
    """A copy of a timeline with more events, or other details of the child."""
    body = json.loads(timeline.read_text())
    body["events"] = [*body["events"], *({"id": f"x{i}", **e} for i, e in enumerate(events))]
    body["child"] = {**body["child"], **child}
    changed = tmp_path / f"changed-{timeline.name}"
    changed.write_text(json.dumps(body))
    return changed


def deadline(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [d for d in body["deadlines"] if d["id"] == name]


# The guide's edits


def test_the_guide_makes_its_edits_in_order() -> None:
    """Issues 8 and 24: the worked examples' edits and timelines, in the order the guide makes them."""
    kinds = [(m["file"], m["how"]) if m["file"] else ("new", m["new"]) for m in MARKED.finditer(GUIDE)]
    assert kinds == [
        # 13.1: a rule
        ("policy.yaml", 'insert before the line starting "  L1:"'),
        ("policy.yaml", "append"),
        ("parameters.yaml", "append"),
        ("looked_after.yaml", "append"),
        ("new", "looked-after-high.json"),
        # 13.2: a deadline in working days
        ("policy.yaml", 'insert before the line starting "  L2:"'),
        ("policy.yaml", 'insert before the line starting "  LOOKED_AFTER_STRATEGY_LATE:"'),
        ("parameters.yaml", "append"),
        ("found.yaml", 'insert before the line starting "rules:"'),
        ("new", "adviser-review.json"),
        # 13.3: a deadline for children in a children's home
        ("policy.yaml", 'insert before the line starting "  L1:"'),
        ("policy.yaml", 'insert before the line starting "  LOOKED_AFTER_STRATEGY_LATE:"'),
        ("parameters.yaml", "append"),
        ("looked_after.yaml", 'insert before the line starting "rules:"'),
        ("new", "childrens-home.json"),
        # 13.4: a recommendation ladder for Sussex
        ("sussex-2022-09/parameters.yaml", "append"),
        (
            "sussex-2022-09/policy.yaml",
            'replace the lines from the line starting "# Below high the source sets" to the line '
            'starting "below_high:"',
        ),
        ("sussex-2022-09/grading.yaml", 'replace the line starting "    parameters: [high_risk_indicators"'),
        ("new", "sussex-often-missing.json"),
        ("new", "sussex-one-factor.json"),
        ("new", "sussex-no-factor.json"),
    ]


def test_the_ladder_replaces_below_high_and_only_it(followed) -> None:
    """Issue 24: the replacing edit takes out Sussex's below_high and its comment, nothing else."""
    from misper.engine.policy.yamlfile import read_yaml

    rules, _ = followed
    shipped = read_yaml((ROOT / "rules" / "sussex-2022-09" / "policy.yaml").read_text())
    edited = read_yaml((rules / "sussex-2022-09" / "policy.yaml").read_text())
    assert "below_high" not in edited and "below_high" in shipped
    assert {k: v for k, v in edited.items() if k != "recommendation"} == {
        k: v for k, v in shipped.items() if k != "below_high"
    }
    assert len(edited["recommendation"]["rungs"]) == 3


# What the guide's commands print


@pytest.mark.cli
def test_each_validate_the_guide_shows_prints_what_it_says(tmp_path: Path) -> None:
    """Issues 8 and 24: after each worked example's edits, `misper rules validate` passes every
    embedded test, with as many more deadlines, rules and tests as the guide shows (counted from the
    folder as shipped, which the guide shows first: so a change to the shipped rules does not make
    the guide wrong)."""
    shown = [c for c in shown_commands() if c.argv[:2] == ["rules", "validate"]]
    assert [c.argv[2] for c in shown] == [
        f"{MY_RULES}/suffolk-2023-02",  # as shipped (section 1)
        f"{MY_RULES}/suffolk-2023-02",  # 13.1
        f"{MY_RULES}/suffolk-2023-02",  # 13.2
        f"{MY_RULES}/suffolk-2023-02",  # 13.3
        f"{MY_RULES}/sussex-2022-09",  # 13.4, as shipped
        f"{MY_RULES}/sussex-2022-09",  # 13.4
    ]
    first: dict[str, tuple[dict[str, int], dict[str, int]]] = {}
    for n, command in enumerate(shown):
        rules = tmp_path / str(n) / "rules"
        follow_the_guide(rules, until=command.at)
        done = run(command, rules, {})
        assert done.returncode == 0, done.stdout + done.stderr
        (said,) = command.said
        want, got = VALIDATED.fullmatch(said), VALIDATED.fullmatch(done.stdout.strip())
        assert want and got, (said, done.stdout)
        assert want["policy"] == got["policy"] and got["failed"] == want["failed"] == "0"
        counts = ("deadlines", "rules", "passed")
        shown_counts, real_counts = {k: int(want[k]) for k in counts}, {k: int(got[k]) for k in counts}
        shown_before, real_before = first.setdefault(got["policy"], (shown_counts, real_counts))
        assert {k: real_counts[k] - real_before[k] for k in counts} == {
            k: shown_counts[k] - shown_before[k] for k in counts
        }, said


@pytest.mark.cli
def test_each_evaluation_the_guide_shows_is_what_misper_prints(followed) -> None:
    """Issues 8 and 24: every deadline, finding, grade and compiled rule the guide shows after a
    misper command is in what that command prints, as shown."""
    rules, files = followed
    checked = 0
    for command in shown_commands():
        if command.argv[0] != "evaluate" and command.argv[:2] != ["rules", "compiled"]:
            continue
        done = run(command, rules, files)
        assert done.returncode == 0, (command.argv, done.stderr)
        body = json.loads(done.stdout)
        for shown in command.results:
            candidates, part = _placed(shown, body)
            assert any(_within(part, c) for c in candidates), (command.argv, shown, candidates)
            checked += 1
    # 13.1: a finding; section 11: a compiled rule and deadline; 13.2 and 13.3: a deadline and a
    # finding each; 13.4: three grades and a finding.
    assert checked == 11


def _placed(shown: dict[str, Any], body: dict[str, Any]) -> tuple[list[Any], Any]:
    """Where in a command's output the JSON the guide shows belongs, and the part to compare."""
    if "occurrence" in shown:
        return [
            d for d in body["deadlines"] if (d["id"], d["occurrence"]) == (shown["id"], shown["occurrence"])
        ], shown
    if "rule" in shown:
        return [f for f in body["findings"] if f["rule"] == shown["rule"]], shown
    if "recommended" in shown:
        return [body["grade"]], shown
    if "starts" in shown:
        return [d for d in body["deadlines"] if d["id"] == shown["id"]], shown
    ((name, part),) = shown.items()
    return [body["rules"][name]], part


def _within(shown: Any, real: Any) -> bool:
    """Whether what the guide shows is in the real output: every key shown, with the value shown."""
    if isinstance(shown, dict):
        return isinstance(real, dict) and all(k in real and _within(v, real[k]) for k, v in shown.items())
    return bool(shown == real)


# 13.1: a rule (issue 8)


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
    # 13.1's rule and its six tests; 13.2's six tests and 13.3's eight are of deadlines.
    assert (new_rules - old_rules, new_tests - old_tests) == (1, 6 + 6 + 8)


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
    for event, expected in (
        ({"type": "strategy_discussion", "at": "2023-07-12T07:50:00+01:00", "by": "mash"}, 0),
        ({"type": "strategy_discussion", "at": "2023-07-12T07:51:00+01:00", "by": "mash"}, 1),
        ({"type": "found", "at": "2023-07-12T07:49:00+01:00", "by": "frontline_officer"}, 0),
    ):
        assert len(findings(rules, with_events(timeline, tmp_path, event))) == expected, event


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
    """Issue 8: the force code is listed by the policy route (and 13.2's and 13.3's beside it)."""
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
    assert next(c for c in codes if c["code"] == "ADVISER_REVIEW_LATE")["clauses"] == ["F4"]
    assert next(c for c in codes if c["code"] == "CHILDRENS_HOME_ALLOCATION_LATE")["clauses"] == ["L3"]


# 13.2: working days (issue 24)


@pytest.mark.cli
def test_the_working_day_deadline_skips_the_weekend_and_the_bank_holiday(followed, tmp_path) -> None:
    """Issue 24: found on Friday 25 August 2023, the adviser's 2 working days are Tuesday and
    Wednesday (Monday 28th is England's summer bank holiday): due at 00:00 on Thursday 31st; a
    review at 23:59 on Wednesday is in time, one at 00:01 on Thursday late."""
    rules, files = followed
    timeline = files["adviser-review.json"]
    body = evaluated(rules, timeline, "2023-08-29T12:00:00+01:00")
    (review,) = deadline(body, "adviser_review")
    assert (review["status"], review["due_at"]) == ("pending", "2023-08-31T00:00:00+01:00")
    assert body["next_change_at"] == "2023-08-29T14:30:00+01:00"
    assert "Its `next_change_at` is `2023-08-29T14:30:00+01:00`" in GUIDE
    for at, status in (("2023-08-30T23:59:00+01:00", "met"), ("2023-08-31T00:01:00+01:00", "met_late")):
        review_at = {"type": "supervisor_review", "at": at, "by": "missing_persons_adviser"}
        changed = with_events(timeline, tmp_path, review_at)
        (review,) = deadline(evaluated(rules, changed, "2023-09-04T09:00:00+01:00"), "adviser_review")
        assert review["status"] == status, at
    assert (
        "at 23:59 on Wednesday 30th meets it (`met`); one at 00:01 on Thursday 31st\nis `met_late`" in GUIDE
    )


@pytest.mark.cli
def test_in_scotland_the_same_deadline_is_due_a_day_sooner(followed, tmp_path) -> None:
    """Issue 24: with Scotland's calendar (its summer bank holiday was 7 August) the Monday counts,
    as the guide says."""
    rules, files = followed
    scottish = tmp_path / "rules"
    shutil.copytree(rules, scottish)
    parameters = scottish / POLICY / "parameters.yaml"
    parameters.write_text(parameters.read_text().replace("value: GB-ENG", "value: GB-SCT", 1))
    (review,) = deadline(
        evaluated(scottish, files["adviser-review.json"], "2023-08-29T12:00:00+01:00"), "adviser_review"
    )
    assert review["due_at"] == "2023-08-30T00:00:00+01:00"
    assert "would have the review due at 00:00 on Wednesday 30 August" in GUIDE


# 13.3: a deadline for some children (issue 24)


@pytest.mark.cli
def test_the_childrens_home_deadline_applies_to_those_children_only(followed, tmp_path) -> None:
    """Issue 24: due soon at 20:30, breached at 21:00 for a looked-after child of 14 in a children's
    home; not listed at all for a child in foster care or of 16."""
    rules, files = followed
    timeline = files["childrens-home.json"]
    body = evaluated(rules, timeline, "2023-07-11T21:00:00+01:00")
    (allocation,) = deadline(body, "childrens_home_allocation")
    assert allocation["status"] == "breached"
    (late,) = [f for f in body["findings"] if f["rule"] == "L3.childrens_home_allocation:late"]
    assert late["severity"] == "breach" and late["message"].endswith(
        "was due by 20:40 on 11 July 2023 (BST) and has not been recorded; it is 20 minutes overdue."
    )
    assert "20:40 on 11 July 2023 (BST) and has not been recorded; it is 20 minutes overdue." in GUIDE
    for child in ({"placement": "foster_care"}, {"age_years": 16}):
        other = evaluated(rules, with_events(timeline, tmp_path, **child), "2023-07-11T21:00:00+01:00")
        assert deadline(other, "childrens_home_allocation") == [], child


@pytest.mark.cli
def test_only_an_allocation_of_the_investigation_meets_it(followed, tmp_path) -> None:
    """Issue 24: `task: [investigation]`: the investigation's allocation (naming no task) meets it;
    the prevention interview's does not."""
    rules, files = followed
    timeline = files["childrens-home.json"]
    for task, status in ((None, "met"), ("investigation", "met"), ("prevention_interview", "breached")):
        event = {"type": "officer_allocated", "at": "2023-07-11T20:35:00+01:00", "by": "sergeant"}
        changed = with_events(timeline, tmp_path, {**event, **({"task": task} if task else {})})
        (allocation,) = deadline(
            evaluated(rules, changed, "2023-07-11T21:00:00+01:00"), "childrens_home_allocation"
        )
        assert allocation["status"] == status, task


# 13.4: the recommendation ladder (issue 24)


@pytest.mark.cli
def test_each_rung_of_the_ladder_gives_its_grade_and_reason(followed, tmp_path) -> None:
    """Issue 24: the three Sussex children get high, medium and low with the rungs' reasons; the
    under-grading finding cites the ladder's number; G4's high still comes first."""
    rules, files = followed
    got = {}
    for name in ("sussex-often-missing.json", "sussex-one-factor.json", "sussex-no-factor.json"):
        body = evaluated(rules, files[name], "2023-07-11T20:00:00+01:00")
        assert body["policy"]["id"] == "sussex-2022-09"
        got[name] = body["grade"]["recommended"]
        if name == "sussex-often-missing.json":
            (under,) = [f for f in body["findings"] if f["code"] == "UNDER_GRADED"]
            assert "ladder_high_episodes = 3" in under["basis_note"]
    assert got == {
        "sussex-often-missing.json": "high",
        "sussex-one-factor.json": "medium",
        "sussex-no-factor.json": "low",
    }
    indicator = with_events(files["sussex-no-factor.json"], tmp_path, risk_factors=["sexual_exploitation"])
    grade = evaluated(rules, indicator, "2023-07-11T20:00:00+01:00")["grade"]
    assert grade["recommended"] == "high" and grade["reasons"] == [
        "sexual exploitation is a high-risk indicator"
    ]


# The editor schema (issue 24)


@pytest.mark.cli
def test_the_schemas_the_guide_writes_fit_the_worked_examples(followed, tmp_path) -> None:
    """Issue 24: `misper rules schema --out` writes what the guide says, where the guide's header
    lines find it; every file of the worked examples follows its schema; and the header line leaves
    the policy (and its hash) as it was."""
    import jsonschema

    from misper.engine import load_policy
    from misper.engine.policy.schema import file_kind
    from misper.engine.policy.yamlfile import read_yaml

    rules, files = followed
    schemas = tmp_path / "rules"
    shutil.copytree(rules, schemas)
    (command,) = [c for c in shown_commands() if c.argv[:2] == ["rules", "schema"]]
    done = run(command, schemas, files)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [_local(line, schemas, files) for line in command.said]
    headers = dict(re.findall(r"\| `?([\w.]+)`?[^|]* \| `(# yaml-language-server: \$schema=\S+)` \|", GUIDE))
    assert set(headers) == {"policy.yaml", "parameters.yaml", "any"}
    for folder in ("suffolk-2023-02", "sussex-2022-09"):
        before = load_policy(schemas / folder).sha256
        for path in sorted((schemas / folder).glob("*.yaml")):
            header = headers.get(path.name, headers["any"])
            schema_file = (path.parent / header.split("=", 1)[1]).resolve()
            assert schema_file.name == f"{file_kind(path.name)}.schema.json" and schema_file.exists()
            validator = jsonschema.Draft202012Validator(json.loads(schema_file.read_text()))
            problems = [e.message for e in validator.iter_errors(read_yaml(path.read_text()))]
            assert problems == [], path
            path.write_text(header + "\n" + path.read_text())
        assert load_policy(schemas / folder).sha256 == before


# Every key, list and message the guide promises (issue 24)


def _table(heading: str) -> list[list[str]]:
    """The rows of the tables under a heading of the guide (up to the next heading), as cells."""
    start = GUIDE.index(f"{heading}\n")
    after = HEADING.search(GUIDE, start + len(heading))
    section = GUIDE[start : after.start() if after else len(GUIDE)]
    lines = section.splitlines()
    rows = [
        line
        for n, line in enumerate(lines)
        if line.startswith("|")
        and not line.startswith("|---")
        and not (n + 1 < len(lines) and lines[n + 1].startswith("|---"))
    ]
    return [[cell.strip() for cell in row.strip().strip("|").split(" | ")] for row in rows]


def _names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def _first(heading: str) -> set[str]:
    return {_names(row[0])[0] for row in _table(heading) if _names(row[0])}


def test_every_key_of_a_deadline_a_trigger_and_a_test_is_in_the_guide() -> None:
    """Issue 24: the guide's tables of keys are the models' keys, no more and no fewer."""
    from misper.engine.policy.files import (
        DeadlineSpec,
        Ladder,
        Parameter,
        PolicyMeta,
        Rung,
        TestCase,
        Trigger,
    )

    assert _first("### 3.1 The keys of a deadline") == set(DeadlineSpec.model_fields)
    assert _first("### 3.2 Triggers: what starts, meets, stops and brings a clock forward") == set(
        Trigger.model_fields
    )
    assert _first("## 9. Embedded tests, key by key") == set(TestCase.model_fields)
    said = set(re.findall(r"`([a-z_]+)`", GUIDE)) | set(re.findall(r"^ *([a-z_]+):", GUIDE, re.M))
    for model in (PolicyMeta, Parameter, Rung, Ladder):
        missing = set(model.model_fields) - said - {"id", "clause"}
        assert missing == set(), (model.__name__, missing)


def test_the_reference_lists_are_the_codes() -> None:
    """Issue 24: section 10's lists are read from the code they name."""
    import holidays

    from misper.engine.contract.timeline import EVENT_MODELS
    from misper.engine.contract.vocabulary import (
        GRADE_RANK,
        EventType,
        FindingCode,
        FoundOutcome,
        Placement,
        RiskFactor,
        Role,
        Severity,
        Status,
    )
    from misper.engine.judging.wording import role_text
    from misper.engine.policy.checks import (
        DEADLINE_MESSAGE_FIELDS,
        DERIVED_INDICATORS,
        LABEL_VALUES,
        LADDER_PLACEHOLDERS,
        OPTIONAL_PARAMETERS,
        REQUIRED_PARAMETERS,
    )
    from misper.engine.policy.facts_schema import DISPLAY_FIELDS, FACT_FIELDS
    from misper.engine.policy.files import Parameter

    events = _table("### Event types")
    assert {_names(r[0])[0] for r in events} == set(EventType)
    for cells in events:
        model = EVENT_MODELS[_names(cells[0])[0]].model_fields
        assert cells[1] == ("required" if model["by"].is_required() else "optional"), cells
        own = set(model) - {"id", "at", "type", "corrects", "by"}
        assert own == {n for n in _names(cells[2]) if n in model}, cells
    assert {_names(r[0])[0]: r[1] for r in _table("### Roles")} == {r.value: role_text(r) for r in Role}
    assert {_names(r[0])[0]: int(r[1]) for r in _table("### Grades and their ranks")} == {
        g.value: rank for g, rank in GRADE_RANK.items()
    }
    placements = set(FACT_FIELDS["child"]["placement"])
    assert _first("### Placements") == set(Placement) | {"not_given"} == placements
    assert _first("### Found outcomes") == set(FoundOutcome)
    assert _first("### Indicators") == set(RiskFactor) | DERIVED_INDICATORS
    assert all(f"`{{{name}}}`" in GUIDE for name in LABEL_VALUES)
    assert _first("### Deadline statuses and severities") == set(Status) | set(Severity)
    assert _first("### Contract v1's finding codes") == set(FindingCode)
    units = _table("### Parameter units")
    assert {_names(r[0])[0] for r in units} == set(get_args(Parameter.model_fields["unit"].annotation))
    calendar = next(r for r in units if r[0] == "`calendar`")
    assert set(_names(calendar[1])) == {f"GB-{s}" for s in holidays.country_holidays("GB").subdivisions}
    flowing = " ".join(GUIDE.split())
    for name, unit in REQUIRED_PARAMETERS.items():
        assert f"`{name}` ({unit})" in flowing, name
    assert all(f"`{name}`" in GUIDE for name in OPTIONAL_PARAMETERS)
    facts = _table("### Fact kinds and their fields")
    assert {_names(r[0])[0] for r in facts} == set(FACT_FIELDS)
    for cells in facts:
        kind = _names(cells[0])[0]
        assert set(_names(cells[1])) == set(FACT_FIELDS[kind]), kind
        assert set(_names(cells[2]) if len(cells) > 2 else []) == set(DISPLAY_FIELDS[kind]), kind
    messages = {_names(r[0])[0]: r[2] for r in _table("### 3.5 Messages and severity")}
    assert {k: set(re.findall(r"`\{(\w+)\}`", v)) for k, v in messages.items()} == DEADLINE_MESSAGE_FIELDS
    ladder = GUIDE[GUIDE.index("## 8. The recommendation ladder") : GUIDE.index("## 9. Embedded tests")]
    assert all(f"`{{{name}}}`" in ladder for name in LADDER_PLACEHOLDERS)


# Common mistakes (issue 24)

ADVISER = "\nadviser_review: {value: 2, unit: working_days, clause: F3, provenance: stated}\n"
CALENDAR = "\nbank_holidays: {value: GB-ENG, unit: calendar, clause: null, provenance: statutory}\n"
FOUND_LATER = (
    "      found: {fact: event, type: found}\n      late: {fact: incident, as_of: {gte: $found.at + %s}}"
)
APPEND = None
CHILD = "      child: {fact: child, looked_after: true}"
# The guide's table of mistakes, by the start of each row: the mistake made in a copy of Suffolk's
# policy as (file, text replaced or APPEND, new text).
MISTAKES: dict[str, list[tuple[str, str | None, str]]] = {
    "A key given twice": [
        (
            "parameters.yaml",
            APPEND,
            "\nreturn_home_interview:\n  value: 48\n  unit: hours\n  clause: F3\n  provenance: statutory\n",
        ),
    ],
    "A duration as one text": [
        (
            "parameters.yaml",
            "return_home_interview:\n  value: 72\n  unit: hours",
            "return_home_interview:\n  value: 72 hours",
        ),
    ],
    "A number in a rule's time arithmetic": [
        ("looked_after.yaml", APPEND, A_RULE.format(id="L9.author", when=FOUND_LATER % "72 hours")),
    ],
    "A test offset in words": [("found.yaml", "at: +77h,", "at: +77 hours,")],
    "A misspelt key": [
        (
            "looked_after.yaml",
            "expect_fires: 0, child: {looked_after: true, placement: foster",
            "expect_fire: 0, child: {looked_after: true, placement: foster",
        )
    ],
    "A key of the rule indented": [
        ("looked_after.yaml", APPEND, A_RULE.format(id="L9.author", when=CHILD + "\n      at: $child.at")),
    ],
    "A force's code not declared": [
        ("looked_after.yaml", "code: PHILOMENA_PROFILE_MISSING", "code: PHILOMENA_MISSING"),
    ],
    "A rule id used twice": [
        ("looked_after.yaml", APPEND, A_RULE.format(id="G1.grade-not-allowed", when=CHILD)),
    ],
    "A deadline's severity as one word": [
        (
            "found.yaml",
            "    due_after: return_home_interview\n",
            "    due_after: return_home_interview\n    severity: advisory\n",
        ),
    ],
    "Working days in a rule's clock": [
        ("parameters.yaml", APPEND, CALENDAR + ADVISER),
        ("looked_after.yaml", APPEND, A_RULE.format(id="L9.author", when=FOUND_LATER % "adviser_review")),
    ],
    "Working days with no calendar": [("parameters.yaml", APPEND, ADVISER)],
    "`applies_if` on another fact": [
        (
            "found.yaml",
            "    starts: {event: found}\n",
            "    starts: {event: found}\n    applies_if: {grading: {grade: high}}\n",
        ),
    ],
    "An ISO instant left unquoted": [("found.yaml", "at: +77h,", "at: 2023-07-14T00:40:00+01:00,")],
    "`test_defaults.as_of`": [("policy.yaml", 'as_of: "+4d"', 'as_of: "+4 days"')],
}


def _mistake_rows() -> dict[str, str]:
    """The guide's table of mistakes: the start of each row -> the message it quotes."""
    rows = {}
    for cells in _table("## 12. Common mistakes and what the loader says"):
        quoted = re.match(r'`?"(.*?)"`?(?::|$)', cells[2])
        assert quoted, cells
        rows[cells[0]] = quoted[1]
    return rows


def test_the_guide_lists_each_mistake_this_test_makes() -> None:
    """Issue 24: every row of the guide's table of mistakes is made below, and no other."""
    rows = _mistake_rows()
    assert len(rows) == len(MISTAKES)
    assert all(any(row.startswith(start) for row in rows) for start in MISTAKES)


@pytest.mark.parametrize("start", list(MISTAKES))
def test_each_common_mistake_is_met_with_what_the_guide_quotes(start: str, tmp_path: Path) -> None:
    """Issue 24: made in a copy of the shipped policy, each mistake of the guide's table is refused
    with the message the guide quotes ("..." standing for text left out; line numbers aside)."""
    from misper.engine import PolicyInvalid, load_policy

    said = next(quoted for row, quoted in _mistake_rows().items() if row.startswith(start))
    folder = tmp_path / POLICY
    shutil.copytree(ROOT / "rules" / POLICY, folder)
    for name, old, new in MISTAKES[start]:
        path = folder / name
        text = path.read_text()
        if old is None:
            text = text.rstrip("\n") + "\n" + new
        else:
            assert old in text, old
            text = text.replace(old, new, 1)
        path.write_text(text)
    with pytest.raises(PolicyInvalid) as info:
        load_policy(folder)
    messages = [re.sub(r"\d+", "N", e.message) for e in info.value.errors]
    parts = [p.strip() for p in re.sub(r"\d+", "N", said).split("...") if p.strip()]
    assert any(_in_order(parts, m) for m in messages), (parts, messages)


def _in_order(parts: list[str], text: str) -> bool:
    at = 0
    for part in parts:
        at = text.find(part, at)
        if at < 0:
            return False
        at += len(part)
    return True


@pytest.mark.cli
def test_validate_prints_a_mistake_as_the_guide_shows(tmp_path: Path) -> None:
    """Issue 24: the JSON the guide shows `misper rules validate` printing for a mistake."""
    rules = tmp_path / "my-rules"
    shutil.copytree(ROOT / "rules", rules)
    parameters = rules / POLICY / "parameters.yaml"
    text = parameters.read_text()
    parameters.write_text(
        text.replace(
            "return_home_interview:\n  value: 72\n  unit: hours", "return_home_interview:\n  value: 72 hours"
        )
    )
    done = misper("rules", "validate", str(rules / POLICY))
    assert done.returncode == 2
    section = GUIDE[GUIDE.index("## 12. Common mistakes") :]
    shown = json.loads(FENCE.search(section)["body"])  # type: ignore[index]
    assert json.loads(done.stderr.replace(str(rules), MY_RULES)) == shown
