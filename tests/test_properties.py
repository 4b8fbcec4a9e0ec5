"""Properties over generated timelines: order does not matter, an on-time event never adds a
breach, and moving as_of forward never un-meets a deadline."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from misper.engine import evaluate, parse_timeline
from tests.support.generated import PLAIN, POLICY, POLICY_CLAUSE, SETTINGS, timelines


def run(body: dict[str, Any], as_of: str | None = None):
    if as_of is not None:
        body = dict(body, as_of=as_of)
    return evaluate(parse_timeline(json.dumps(body)), POLICY)


@SETTINGS
@given(timelines(), st.randoms(use_true_random=False))
def test_event_order_does_not_matter(body, random) -> None:
    shuffled = dict(body, events=random.sample(body["events"], len(body["events"])))
    assert run(shuffled).to_json() == run(body).to_json()


@SETTINGS
@given(timelines(), st.data())
def test_an_on_time_meeting_event_never_adds_a_breach(body, data) -> None:
    """No duty that existed is breached because an event met a deadline on time. An event can
    start a new clock, though: a review starts the next periodic review (S2: one interval after
    the previous review), so a breach of an occurrence the added event started is its own duty."""
    before = run(body)
    open_ones = [d for d in before.deadlines if d.status in ("pending", "due_soon", "breached")]
    spec_by_id = {s.id: s for s in POLICY.deadlines}
    candidates = [
        (d, t)
        for d in open_ones
        for t in spec_by_id[d.id].met_by
        if t.event in PLAIN or t.event == "prevention_interview"
    ]
    if not candidates:
        return
    deadline, trigger = data.draw(st.sampled_from(candidates))
    start, due = (datetime.fromisoformat(deadline.starts_at), datetime.fromisoformat(deadline.due_at))
    moment = data.draw(st.sampled_from([start + timedelta(seconds=1), due]))
    event: dict[str, Any] = {"id": "added", "type": trigger.event, "at": moment.isoformat()}
    role = trigger.by[0] if trigger.by else PLAIN.get(trigger.event, ["frontline_officer"])[0]
    if role:
        event["by"] = role
    if trigger.event == "prevention_interview":
        event["voice_of_child"] = True
    as_of = max(datetime.fromisoformat(before.as_of), moment).isoformat()
    after = run(dict(body, events=[*body["events"], event]), as_of)
    before = run(body, as_of)
    started_by_added = {(d.id, d.occurrence) for d in after.deadlines if d.evidence[0] == "added"}
    new_clocks = {(POLICY_CLAUSE[d_id], "added") for d_id, _ in started_by_added}

    def count(result) -> Counter[str]:
        return Counter(
            f.code
            for f in result.findings
            if f.severity == "breach" and (f.clause, f.evidence[0]) not in new_clocks
        )

    assert not count(after) - count(before)


@SETTINGS
@given(timelines(), st.integers(1, 60 * 48))
def test_moving_as_of_forward_never_unmeets_a_deadline(body, later_by) -> None:
    early = run(body)
    later = run(body, (datetime.fromisoformat(early.as_of) + timedelta(minutes=later_by)).isoformat())
    met_early = {(d.id, d.occurrence): d.status for d in early.deadlines if d.status in ("met", "met_late")}
    met_later = {(d.id, d.occurrence): d.status for d in later.deadlines}
    assert all(met_later.get(key) == status for key, status in met_early.items())
