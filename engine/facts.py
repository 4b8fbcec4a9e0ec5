"""Python computes the instants and facts; the compiled rules decide what they mean."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from engine.context import Context, Ev
from engine.deadlines import DeadlineResult
from engine.grading import Recommendation, RepeatCount
from engine.loader import Policy
from engine.localtime import human_local, local_window_overlaps
from engine.timeline import Child
from engine.vocabulary import GRADE_RANK, Grade

CONTROL_ROOM = frozenset({"call_handler", "control_room_supervisor"})
ROLE_TEXT = {"cid_supervisor": "CID supervisor", "mash": "MASH", "": "unrecorded role"}


def _nothing() -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class Fact:
    """A fact for the rule engine (``fields``) and, computed only if a finding quotes it, the
    display text its messages use (``render``)."""

    id: str
    kind: str
    fields: dict[str, Any]
    at: int
    evidence: tuple[str, ...]
    render: Callable[[], dict[str, str]] = _nothing

    def message(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, **self.fields}

    def display(self) -> dict[str, str]:
        return self.render()


def role_text(role: str) -> str:
    return ROLE_TEXT.get(role, role.replace("_", " "))


@lru_cache(maxsize=16)
def _phrase_patterns(phrases: tuple[str, ...]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    return tuple((p, re.compile(r"\b" + re.escape(normalise(p)) + r"\b")) for p in phrases)


def normalise(text: str) -> str:
    """Case-folded, typographic apostrophes and quotes made plain, runs of space made one."""
    text = text.casefold().replace("\u2019", "'").replace("\u2018", "'")
    return re.sub(r"\s+", " ", text.replace("\u201c", '"').replace("\u201d", '"'))


def build_facts(
    policy: Policy,
    ctx: Context,
    child: Child,
    deadlines: list[DeadlineResult],
    repeat: RepeatCount,
    rec: Recommendation,
) -> list[Fact]:
    tz = policy.meta.timezone
    report = ctx.report
    found = ctx.first("found")
    facts = [
        Fact(
            "incident",
            "incident",
            {
                "mode": "complete" if ctx.complete else "live",
                "found": found is not None,
                "closed": ctx.first("closed") is not None,
            },
            report.at,
            (report.id,),
        ),
        Fact(
            "child",
            "child",
            {
                "age_years": child.age_years,
                "looked_after": child.looked_after,
                "response_plan": child.response_plan,
                "philomena_profile": child.philomena_profile,
            },
            report.at,
            (report.id,),
        ),
        Fact(
            "repeat",
            "repeat",
            {
                "episodes_in_window": repeat.episodes_in_window,
                "window_days": repeat.window_days,
                "threshold": repeat.threshold,
                "required": repeat.required,
            },
            report.at,
            (report.id,),
        ),
        Fact(
            "recommendation",
            "recommendation",
            {"grade": rec.grade, "rank": GRADE_RANK[Grade(rec.grade)]},
            report.at,
            (report.id,),
            lambda: {"reasons_text": "; ".join(rec.reasons)},
        ),
        Fact(
            "episode",
            "episode",
            {
                "compact": ctx.first("compact_record_created") is not None,
                "form": ctx.first("child_risk_assessment_form") is not None,
                "found": found is not None,
            },
            found.at if found else report.at,
            (report.id, found.id) if found else (report.id,),
        ),
    ]
    facts += [_event_fact(e, tz) for e in ctx.events]
    facts += _grading_facts(ctx, tz)
    facts += [_deadline_fact(d, tz) for d in deadlines]
    facts += _blaming_facts(policy, ctx, tz)
    facts += _gap_facts(policy, ctx, tz)
    return facts


def _event_fact(e: Ev, tz: str) -> Fact:
    fields: dict[str, Any] = {"type": e.type, "by": e.by, "at": e.at, "grade": e.grade}
    if e.voice_of_child is not None:
        fields["voice_of_child"] = e.voice_of_child
    return Fact(
        f"event:{e.id}",
        "event",
        fields,
        e.at,
        (e.id,),
        lambda: {"id": e.id, "at_text": human_local(e.at, tz), "by_text": role_text(e.by)},
    )


def _grading_facts(ctx: Context, tz: str) -> list[Fact]:
    initial = next(
        (g.event for g in ctx.grades if g.event.type == "risk_graded" and g.event.by in CONTROL_ROOM), None
    )
    out = []
    for change in ctx.grades:
        e = change.event
        checks_before = any(x.type == "intelligence_checks" for x in ctx.events[: e.pos])
        out.append(
            Fact(
                f"grading:{e.id}",
                "grading",
                {
                    "grade": change.grade,
                    "rank": GRADE_RANK[Grade(change.grade)],
                    "by": e.by,
                    "at": e.at,
                    "initial": e is initial,
                    "checks_before": checks_before,
                },
                e.at,
                (e.id,),
                _grading_text(e, change.grade, tz),
            )
        )
    return out


def _grading_text(e: Ev, grade: str, tz: str) -> Callable[[], dict[str, str]]:
    return lambda: {
        "at_text": human_local(e.at, tz),
        "by_text": role_text(e.by),
        "grade_text": grade.replace("_", " "),
    }


def _deadline_fact(d: DeadlineResult, tz: str) -> Fact:
    closing = d.met or d.stop
    evidence = tuple(dict.fromkeys((d.start.id, closing.id) if closing is not None else (d.start.id,)))
    duty = d.spec.duty + (f" (occurrence {d.occurrence})" if d.occurrence > 1 else "")
    return Fact(
        f"deadline:{d.spec.id}#{d.occurrence}",
        "deadline",
        {
            "deadline": d.spec.id,
            "occurrence": d.occurrence,
            "status": d.status,
            "owner": d.spec.owner,
            "starts_at": d.starts_at,
            "due_at": d.due_at,
            "met_at": d.met.at if d.met else 0,
        },
        d.met.at if d.status == "met_late" and d.met else d.due_at,
        evidence,
        lambda: {
            "duty": duty,
            "due_text": human_local(d.due_at, tz),
            "met_text": human_local(d.met.at, tz) if d.met else "",
        },
    )


def _blaming_facts(policy: Policy, ctx: Context, tz: str) -> list[Fact]:
    patterns = _phrase_patterns(tuple(policy.value("child_blaming_phrases")))
    out = []
    for e in ctx.events:
        if not e.text:
            continue
        text = normalise(e.text)
        hits = [phrase for phrase, pattern in patterns if pattern.search(text)]
        if hits:
            out.append(
                Fact(
                    f"blaming_text:{e.id}",
                    "blaming_text",
                    {"by": e.by, "at": e.at},
                    e.at,
                    (e.id,),
                    _blaming_text(e, hits, tz),
                )
            )
    return out


def _blaming_text(e: Ev, hits: list[str], tz: str) -> Callable[[], dict[str, str]]:
    return lambda: {
        "at_text": human_local(e.at, tz),
        "by_text": role_text(e.by),
        "kind_text": "review" if e.type == "supervisor_review" else "note",
        "phrases_text": ", ".join(f'"{p}"' for p in hits),
    }


def _gap_facts(policy: Policy, ctx: Context, tz: str) -> list[Fact]:
    """C3: the report, or any high-risk period, inside the local hours without intelligence cover."""
    cover_until, cover_from = policy.intelligence_gap
    window = f"{cover_until:%H:%M}-{cover_from:%H:%M}"
    checks = any(e.type == "intelligence_checks" for e in ctx.events)
    out = []
    report = ctx.report
    if local_window_overlaps(report.at, report.at, tz, cover_until, cover_from) is not None:
        out.append(_gap_fact("report", report, report.at, checks, window, tz))
    for start, end in _high_periods(ctx):
        hit = local_window_overlaps(start.at, end, tz, cover_until, cover_from)
        if hit is not None:
            out.append(_gap_fact("high_period", start, hit, checks, window, tz))
    return out


def _gap_fact(kind: str, e: Ev, at: int, checks: bool, window: str, tz: str) -> Fact:
    text = "report" if kind == "report" else "high-risk period that began"
    return Fact(
        f"intel_gap:{kind}:{e.id}",
        "intel_gap",
        {"source": kind, "checks_recorded": checks, "at": at},
        at,
        (e.id,),
        lambda: {
            "at_text": human_local(at if kind == "report" else e.at, tz),
            "kind_text": text,
            "window_text": window,
        },
    )


def _high_periods(ctx: Context) -> list[tuple[Ev, int]]:
    """Spans graded high: from the regrade until the grade changes, the child is found, or as_of."""
    ends = [e.at for e in ctx.events if e.type in ("found", "closed")]
    periods = []
    for i, change in enumerate(ctx.grades):
        if change.grade != Grade.HIGH or change.previous == Grade.HIGH:
            continue
        later = [g.at for g in ctx.grades[i + 1 :] if g.grade != Grade.HIGH]
        stop = min([ctx.as_of] + later[:1] + [t for t in ends if t >= change.at])
        periods.append((change.event, stop))
    return periods
