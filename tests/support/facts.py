"""The facts an evaluation asserts into the rule session, for tests of the session and its gate."""

from __future__ import annotations

import json

from misper.engine import parse_timeline


def facts_of(policy, body):  # type: ignore[no-untyped-def]
    """The facts an evaluation of this timeline body asserts (at its as_of)."""
    from misper.engine.judging.judge import (
        build_context,
        build_facts,
        compute_deadlines,
        count_repeat,
        judged_at,
        recommend,
        subject,
    )

    timeline = parse_timeline(json.dumps(body))
    ctx = build_context(timeline, judged_at(timeline))
    repeat = count_repeat(policy, ctx, timeline.child)
    deadlines = compute_deadlines(policy, ctx, subject(timeline.child, repeat))
    return build_facts(
        policy, ctx, timeline.child, deadlines, repeat, recommend(policy, timeline.child, repeat)
    )
