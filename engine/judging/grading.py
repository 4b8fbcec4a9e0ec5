"""G4 and R1/R3: the recommended grade with its reasons, and the repeat-missing count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from misper.engine.clock.context import Context
from misper.engine.contract.timeline import Child
from misper.engine.contract.vocabulary import Grade
from misper.engine.localtime import zone
from misper.engine.policy.conditions import meets
from misper.engine.policy.model import Policy


@dataclass(frozen=True)
class Recommendation:
    grade: str
    reasons: list[str]
    # How many of the policy's high-risk indicators and aggravating factors the child has.
    high_indicators: int = 0
    aggravating_factors: int = 0


@dataclass(frozen=True)
class RepeatCount:
    episodes_in_window: int
    window_days: int
    threshold: int | None  # None: the policy has no response-plan rule

    @property
    def required(self) -> bool:
        return self.threshold is not None and self.episodes_in_window >= self.threshold


def count_repeat(policy: Policy, ctx: Context, child: Child) -> RepeatCount:
    """Episodes in the window ending with this report (this one included), both record kinds.

    The window is read on the local wall clock, inclusive: an earlier report counts when its
    local date and time is no more than the window's days before this report's, so a clock
    change does not move the edge.
    """
    tz = zone(policy.meta.timezone)
    days = int(policy.value("repeat_window"))
    report_local = datetime.fromtimestamp(ctx.report.at, tz).replace(tzinfo=None)
    edge = report_local - timedelta(days=days)
    earlier = [
        ep for ep in child.previous_episodes if ep.reported_at.astimezone(tz).replace(tzinfo=None) >= edge
    ]
    threshold = int(policy.value("repeat_threshold")) if policy.has("repeat_threshold") else None
    return RepeatCount(len(earlier) + 1, days, threshold)


def recommend(
    policy: Policy, child: Child, repeat: RepeatCount, in_force: str | None = None
) -> Recommendation:
    """G4: any high-risk indicator, or enough aggravating factors together, indicates high. Below
    high, the policy's lowest allowed grade; or, for a policy with no rule below high (the
    baseline, settled reading 2026-12-05), the grade in force, save the grades it never
    recommends."""
    present: set[str] = set(child.risk_factors)
    if child.looked_after:
        present.add("looked_after")
    if child.age_years < int(policy.value("high_risk_age_under")):
        present.add("under_age")
    if repeat.episodes_in_window >= int(policy.value("frequent_episodes_in_window")):
        present.add("frequent_episodes")
    # A label may quote the child's own value and the threshold (settled reading 2026-12-05).
    values = {
        "age": child.age_years,
        "high_risk_age_under": int(policy.value("high_risk_age_under")),
        "episodes": repeat.episodes_in_window,
        "window_days": repeat.window_days,
        "frequent_episodes_in_window": int(policy.value("frequent_episodes_in_window")),
    }
    high = [i for i in policy.value("high_risk_indicators") if i in present]
    aggravating = [i for i in policy.value("aggravating_factors") if i in present]
    # Only the labels a reason quotes are formatted (most children have none or two).
    labels = {i: policy.meta.indicator_labels[i].format(**values) for i in {*high, *aggravating}}
    needed = int(policy.value("aggravating_count_for_high"))
    # "victim of crime in this episode is a high-risk indicator"; a label that quotes values reads
    # "the child is 10, under the high-risk age of 12: a high-risk indicator".
    reasons = [f"{labels[i]}{': a' if ',' in labels[i] else ' is a'} high-risk indicator" for i in high]
    listed = ", ".join(labels[i] for i in aggravating)
    if len(aggravating) >= needed:
        reasons.append(f"{len(aggravating)} aggravating factors together ({listed})")
    counts = {"high_indicators": len(high), "aggravating_factors": len(aggravating)}
    if reasons:
        return Recommendation(Grade.HIGH, reasons, **counts)
    if policy.ladder:
        subject = {"child": child_fields(child), "repeat": repeat_fields(repeat), "risk": counts}
        quoted = {**values, "needed": needed, "listed": listed, "aggravating": len(aggravating)}
        return _on_the_ladder(policy, subject, quoted, counts)
    reasons = [str(policy.meta.below_high_reason).format(needed=needed)]
    if aggravating:
        reasons.append(f"aggravating factor noted: {listed}")
    below = policy.meta.below_high
    if below is None:
        return Recommendation(str(policy.value("lowest_grade_allowed")), reasons, **counts)
    if in_force is None or in_force in below.never:
        return Recommendation(below.otherwise, reasons, **counts)
    return Recommendation(in_force, reasons, **counts)


def _on_the_ladder(
    policy: Policy, subject: dict[str, dict[str, Any]], quoted: dict[str, Any], counts: dict[str, int]
) -> Recommendation:
    """The first rung whose conditions hold (the last has none: the loader makes sure)."""
    for grade, reason, conditions in policy.ladder:
        if all(meets(condition, subject[kind]) for kind, condition in conditions):
            return Recommendation(grade, [reason.format(**quoted)], **counts)
    raise AssertionError("the recommendation ladder has a floor")


def child_fields(child: Child) -> dict[str, Any]:
    """The child fact's matchable fields (a deadline's applies_if and the ladder read them too)."""
    return {
        "age_years": child.age_years,
        "looked_after": child.looked_after,
        "response_plan": child.response_plan,
        "philomena_profile": child.philomena_profile,
        "placement": child.placement or "not_given",
    }


def repeat_fields(repeat: RepeatCount) -> dict[str, Any]:
    return {"episodes_in_window": repeat.episodes_in_window, "window_days": repeat.window_days}
