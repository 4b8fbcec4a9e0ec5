"""What the engine and the replay do to be fast must not change what they say."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from misper.engine import default_registry, evaluate, parse_timeline
from misper.engine.contract import evaluation


def test_trusted_models_equal_model_construct(case_study, policy) -> None:  # type: ignore[no-untyped-def]
    """Every output model built the fast way equals pydantic's model_construct: same fields,
    same fields set, same JSON, defaults copied (never shared between instances)."""
    result = evaluate(
        parse_timeline(json.dumps(case_study)), policy, trace=True, why_not="INITIAL_GRADING_LATE"
    )
    seen = 0

    def walk(model):  # type: ignore[no-untyped-def]
        nonlocal seen
        if isinstance(model, list):
            for item in model:
                walk(item)
            return
        if not isinstance(model, evaluation._Out):
            return
        seen += 1
        values = {k: getattr(model, k) for k in model.__pydantic_fields_set__}
        slow, fast = type(model).model_construct(**values), type(model).trusted(**values)
        assert fast == slow and fast.model_fields_set == slow.model_fields_set
        assert fast.model_dump_json() == slow.model_dump_json()
        for name in type(model).model_fields:
            walk(getattr(model, name))

    walk(result)
    assert seen > 40
    given = {k: getattr(result, k) for k in type(result).model_fields if k != "notes"}
    a, b = evaluation.Evaluation.trusted(**given), evaluation.Evaluation.trusted(**given)
    assert a.notes == [] and a.notes is not b.notes and a.to_json() == result.to_json()


def test_replay_reads_a_bounded_window_ahead_of_its_workers() -> None:
    """With workers, replay reads at most AHEAD chunks per worker ahead of the results it has
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
    """Children are counted by a digest of their id: the counts equal counting the ids."""
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


def test_facts_no_rule_could_match_are_not_built_and_nothing_changes(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Evaluation skips building event and deadline facts the session's gate would keep out: over
    the generated timelines the answers equal those with every fact built."""
    from misper.engine.inputs import choose_policy
    from misper.engine.session import RULE_SESSION, Gate
    from tests.differential import CASES, case

    timelines = [parse_timeline(json.dumps(case(n))) for n in range(0, CASES, 3)]
    registry = default_registry()
    pairs = [(t, choose_policy(registry, t)) for t in timelines]
    skipping = [evaluate(t, p).to_json() for t, p in pairs]
    gates = [RULE_SESSION.gate(p) for _, p in pairs]
    assert any(not g.admits({"kind": "event", "type": "note"}) for g in gates)  # something is skipped
    monkeypatch.setattr(RULE_SESSION, "gate", lambda policy: Gate({"any": {"all": [{"m": {}}]}}))
    built = [evaluate(t, p).to_json() for t, p in pairs]
    assert skipping == built


def test_the_quick_phrase_check_finds_what_full_normalising_finds(policy) -> None:  # type: ignore[no-untyped-def]
    """blaming_phrases skips normalising a text holding none of the phrases' first words; over
    texts made of the phrases' words, cut, joined and re-cased, it finds exactly what comparing
    the fully normalised texts finds."""
    from itertools import product

    from misper.engine.judging.facts import blaming_phrases, normalise

    phrases = tuple(policy.value("child_blaming_phrases"))
    words = sorted({w for p in phrases for w in p.split()}) + ["Enquiries", "CCTV", "STREET-wise"]
    texts = [
        sep.join(words[i : i + n]).upper() if upper else sep.join(words[i : i + n])
        for i, n, sep, upper in product(range(len(words)), (1, 2, 3), (" ", "-", ", ", "'"), (False, True))
    ]
    texts += [f"{p[:-1]}. {p}!" for p in phrases] + [p.replace(" ", "  ") for p in phrases]
    found = 0
    for text in texts:
        expected = [p for p in phrases if f" {normalise(p)} " in f" {normalise(text)} "]
        assert blaming_phrases(text, phrases) == expected, text
        found += bool(expected)
    assert found > 20


def test_a_worker_pool_is_replaced_only_once_its_successor_is_warm(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """When a lane retires its pool, the successor starts and warms while the old pool goes on
    answering: jobs given meanwhile run on the old pool, without waiting for the warm-up."""
    import asyncio
    import os
    import time

    import misper.api.workers.pools as work

    monkeypatch.setattr(work, "MAX_TASKS", 3)
    lane = work.Lane("test", 1, 64)
    lane.warm = (time.sleep, (3.0,))

    async def scenario() -> tuple[list[int], float, list[int]]:
        first = [await lane.run(os.getpid) for _ in range(5)]  # the 4th starts the successor
        started = time.perf_counter()
        during = [await lane.run(os.getpid) for _ in range(5)]
        waited = time.perf_counter() - started
        await asyncio.sleep(4.0)  # the successor's warm-up ends
        after = [await lane.run(os.getpid) for _ in range(2)]
        return first + during, waited, after

    try:
        before, waited, after = asyncio.run(asyncio.wait_for(scenario(), timeout=120))
    finally:
        lane.shutdown()
    assert len(set(before)) == 1 and waited < 2.0  # the old pool answered, not the warming one
    assert set(after).isdisjoint(before) and len(set(after)) == 1


def test_time_order_and_whole_seconds_are_exact_in_far_years(policy) -> None:  # type: ignore[no-untyped-def]
    """Events are ordered by whole seconds and microseconds: the whole seconds must be exact
    even where a float timestamp rounds .999999 up (after 2514; the contract allows to 2999)."""
    from datetime import datetime

    from misper.engine.clock.context import build_context
    from misper.engine.localtime import to_epoch

    for text, expected in (
        ("2999-06-01T00:10:00.999999+00:00", 32485191000),
        ("2600-01-01T00:00:00.999999-05:00", 19880917200),
        ("2023-07-11T19:40:00.999999+01:00", 1689100800),
        ("1900-01-01T00:00:00.5+00:00", -2208988800),
    ):
        assert to_epoch(datetime.fromisoformat(text)) == expected, text
    body = {
        "incident_id": "ORD-1",
        "as_of": "2999-06-01T03:00:00+00:00",
        "child": {"child_id": "C-1", "age_years": 14},
        "events": [
            {"id": "e01", "type": "report_received", "at": "2999-06-01T00:00:00+00:00", "by": "call_handler"},
            {
                "id": "e02",
                "type": "risk_graded",
                "at": "2999-06-01T00:10:00.999999+00:00",
                "by": "call_handler",
                "grade": "high",
            },
            {
                "id": "e03",
                "type": "risk_graded",
                "at": "2999-06-01T00:10:01+00:00",
                "by": "call_handler",
                "grade": "medium",
            },
        ],
    }
    timeline = parse_timeline(json.dumps(body))
    ctx = build_context(timeline, datetime.fromisoformat(body["as_of"]))
    assert [e.id for e in ctx.events] == ["e01", "e02", "e03"] and ctx.events[1].at == 32485191000
    assert evaluate(timeline, policy).grade.current == "medium"


def _die() -> None:
    import os

    os._exit(1)  # a worker that dies while warming (killed for memory, a crash of the C core)


def _twice(x: int) -> int:
    return 2 * x


def test_a_successor_pool_that_breaks_while_warming_is_not_handed_over(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A pool whose worker dies during its warm-up is dropped and a fresh one used instead:
    every job is still answered."""
    import asyncio

    import misper.api.workers.pools as work

    monkeypatch.setattr(work, "MAX_TASKS", 2)
    lane = work.Lane("test", 1, 8)
    lane.warm = (_die, ())

    async def scenario() -> list[int]:
        out = []
        for n in range(8):
            out.append(await lane.run(_twice, n))
            await asyncio.sleep(0.3)
        return out

    try:
        answers = asyncio.run(asyncio.wait_for(scenario(), timeout=120))
    finally:
        lane.shutdown()
    assert answers == [2 * n for n in range(8)] and lane._busy == 0
