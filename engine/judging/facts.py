"""Python computes the instants and facts; the compiled rules decide what they mean."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime, tzinfo
from functools import lru_cache
from typing import Any, NamedTuple

from misper.engine.clock.context import Context, Ev
from misper.engine.clock.deadlines import DeadlineResult
from misper.engine.contract.timeline import Child
from misper.engine.contract.vocabulary import GRADE_OF, GRADE_RANK, Grade
from misper.engine.judging.grading import Recommendation, RepeatCount, child_fields, repeat_fields
from misper.engine.judging.wording import grade_text, role_text
from misper.engine.localtime import human_local, local_window_entries, zone
from misper.engine.policy.model import Policy
from misper.engine.session import Gate
from misper.engine.workdays import WEEKDAYS, is_working_day

QUOTE_LIMIT = 300  # characters of a quoted sentence in a finding
PLACEMENT_TEXT = {
    "childrens_home": "in a children's home",
    "foster_care": "in foster care",
    "family": "placed with family",
    "other": "in another placement",
    "not_given": "placement not given",
}


def _nothing() -> dict[str, str]:
    return {}


class Fact(NamedTuple):
    """A fact for the rule engine (``fields``) and, computed only if a finding quotes it, the
    display text its messages use (``render``)."""

    id: str
    kind: str
    fields: dict[str, Any]
    at: int
    evidence: tuple[str, ...]
    render: Callable[[], dict[str, str]] = _nothing
    deadline: DeadlineResult | None = None  # the occurrence a deadline fact is made of

    def message(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, **self.fields}

    def display(self) -> dict[str, str]:
        return self.render()


_WORDS = re.compile(r"[^\W_]+")


def normalise(text: str) -> str:
    """Case-folded words separated by single spaces: hyphens, quotes, apostrophes, punctuation
    and runs of white space all read as one space ("Lifestyle-choice" -> "lifestyle choice")."""
    return " ".join(_WORDS.findall(text.casefold()))


@lru_cache(maxsize=16)
def _normalised_phrases(phrases: tuple[str, ...]) -> tuple[tuple[tuple[str, str], ...], re.Pattern[str]]:
    """Each phrase with its normalised form padded by spaces, and a pattern finding any of the
    phrases' first words as a piece of text."""
    pairs = tuple((p, f" {normalise(p)} ") for p in phrases if normalise(p))
    first_words = dict.fromkeys(needle.split()[0] for _, needle in pairs)
    return pairs, re.compile("|".join(re.escape(w) for w in first_words) or "(?!)")


def blaming_phrases(text: str, phrases: tuple[str, ...]) -> tuple[str, ...]:
    """The policy's phrases that occur in the text as whole words, in the policy's order. The
    answers for the short texts seen last are kept: an incident is judged again at every append
    and every step of a simulation, with the same texts (a long text is rare, and not kept)."""
    if len(text) <= KEPT_TEXT:
        return _kept_blaming_phrases(text, phrases)
    return _blaming_phrases(text, phrases)


KEPT_TEXT = 2000  # characters: at most 4,096 such texts are kept, some 8 MB


@lru_cache(maxsize=4096)
def _kept_blaming_phrases(text: str, phrases: tuple[str, ...]) -> tuple[str, ...]:
    return _blaming_phrases(text, phrases)


def _blaming_phrases(text: str, phrases: tuple[str, ...]) -> tuple[str, ...]:
    pairs, first_words = _normalised_phrases(phrases)
    # A normalised word is a piece of the case-folded text: when no phrase's first word is in
    # it, no phrase can be (most texts; the full normalising is the costly part).
    folded = text.casefold()
    if first_words.search(folded) is None:
        return ()
    padded = " " + " ".join(_WORDS.findall(folded)) + " "
    return tuple(phrase for phrase, needle in pairs if needle in padded)


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()]


def quote(text: str, phrases: tuple[str, ...]) -> str:
    """The sentences that hold a phrase, so a reviewer can judge them (a negation included)."""
    # Line breaks and tabs read as single spaces: a quote is one line, and a line break does not
    # end a sentence (settled reading 2026-12-05).
    text = " ".join(text.split())
    chosen = [s for s in _sentences(text) if blaming_phrases(s, phrases)] or [text]
    joined = " ... ".join(s.rstrip(".!? ") for s in chosen)
    return joined if len(joined) <= QUOTE_LIMIT else joined[: QUOTE_LIMIT - 3].rstrip() + "..."


# The kinds of fact build_facts lets through the rule session's gate itself, when given it.
GATED_IN_FACTS = frozenset({"event", "deadline"})

STILL_IN_FORCE = 32503680000  # 3000-01-01T00:00:00Z: a grade period with no end yet


def subject(child: Child, repeat: RepeatCount) -> dict[str, dict[str, Any]]:
    """What a deadline's applies_if is judged on: the child's and the repeat count's fields."""
    return {"child": child_fields(child), "repeat": repeat_fields(repeat)}


def build_facts(
    policy: Policy,
    ctx: Context,
    child: Child,
    deadlines: list[DeadlineResult],
    repeat: RepeatCount,
    rec: Recommendation,
    gate: Gate | None = None,
) -> list[Fact]:
    """The timeline's facts: the incident, the child, the repeat count and the recommended grade,
    every event, the grade periods, the deadline occurrences, the texts that use the policy's
    child-blaming phrases and the nights a high-risk period enters the intelligence gap.

    With ``gate`` (the rule session's gate), an event or deadline fact whose kind and text
    fields no rule condition could match is not built at all (the session would not send it to
    the rule engine anyway); without it, every fact is built (for a trace, which lists them)."""
    tz = policy.meta.timezone
    report = ctx.report
    facts = [
        Fact(
            "incident",
            "incident",
            {"mode": "complete" if ctx.complete else "live", "as_of": ctx.as_of, "report_at": report.at},
            report.at,
            (report.id,),
            lambda: {"as_of_text": human_local(ctx.as_of, tz)},
        ),
        Fact(
            "child",
            "child",
            child_fields(child),
            report.at,
            (report.id,),
            lambda: {"placement_text": PLACEMENT_TEXT[child.placement or "not_given"]},
        ),
        Fact(
            "repeat",
            "repeat",
            repeat_fields(repeat),
            report.at,
            (report.id,),
        ),
        Fact(
            "recommendation",
            "recommendation",
            {"grade": rec.grade, "rank": GRADE_RANK[GRADE_OF[rec.grade]]},
            report.at,
            (report.id,),
            lambda: {"reasons_text": "; ".join(rec.reasons)},
        ),
    ]
    if "risk" in policy.kinds_matched:  # only a rule that reads it needs it asserted
        facts.append(
            Fact(
                "risk",
                "risk",
                {"high_indicators": rec.high_indicators, "aggravating_factors": rec.aggravating_factors},
                report.at,
                (report.id,),
            )
        )
    local = zone(tz)
    events: Sequence[Ev] = ctx.events
    if gate is not None:
        # The gate is asked of the same text fields as the facts hold, less the local-time ones; a
        # field it is not given never keeps a fact out, so a fact kept out here would be anyway.
        admits_event, admits_deadline = gate.admits_event, gate.admits_deadline
        events = [e for e in ctx.events if admits_event(e.type, e.by, e.grade, e.outcome)]
        deadlines = [d for d in deadlines if admits_deadline(d.spec.id, d.status, d.spec.owner)]
    days = policy.day_fields
    facts += [_event_fact(e, tz, local, policy.calendar if days else None, days) for e in events]
    facts += _grading_facts(policy, ctx, tz)
    facts += [_deadline_fact(d) for d in deadlines]
    facts += _blaming_facts(policy, ctx, tz)
    facts += _gap_facts(policy, ctx, tz)
    return facts


def _event_fact(e: Ev, tz: str, local: tzinfo, calendar: str | None, days: frozenset[str]) -> Fact:
    wall = datetime.fromtimestamp(e.at, local)
    fields: dict[str, Any] = {
        "type": e.type,
        "by": e.by,
        "at": e.at,
        "local_date": wall.date().isoformat(),
        "local_time": wall.hour * 60 + wall.minute,
        "local_hour": wall.hour,
        "grade": e.grade,
        "outcome": e.outcome,
    }
    # The day's fields only for a policy whose rules read them (each costs every event's fact).
    if "weekday" in days:
        fields["weekday"] = WEEKDAYS[wall.weekday()]
    if "working_day" in days and calendar is not None:
        fields["working_day"] = is_working_day(wall.date(), calendar)
    if e.voice_of_child is not None:
        fields["voice_of_child"] = e.voice_of_child
    return Fact(
        f"event:{e.id}",
        "event",
        fields,
        e.at,
        (e.id,),
        lambda: {
            "id": e.id,
            "at_text": human_local(e.at, tz),
            "by_text": role_text(e.by),
            "grade_text": grade_text(e.grade) if e.grade else "",
        },
    )


def _grading_facts(policy: Policy, ctx: Context, tz: str) -> list[Fact]:
    control_room = policy.control_room
    initial = next(
        (g.event for g in ctx.grades if g.event.type == "risk_graded" and g.event.by in control_room), None
    )
    out = []
    for n, change in enumerate(ctx.grades):
        e = change.event
        until = ctx.grades[n + 1].at if n + 1 < len(ctx.grades) else STILL_IN_FORCE
        out.append(
            Fact(
                f"grading:{e.id}",
                "grading",
                {
                    "grade": change.grade,
                    "rank": GRADE_RANK[GRADE_OF[change.grade]],
                    "by": e.by,
                    "at": e.at,
                    "until": until,
                    "initial": e is initial,
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
        "grade_text": grade_text(grade),
    }


def _deadline_fact(d: DeadlineResult) -> Fact:
    closing = d.met or d.stop
    evidence = tuple(dict.fromkeys((d.start.id, closing.id) if closing is not None else (d.start.id,)))
    return Fact(
        deadline_fact_id(d),
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
        _nothing,
        d,
    )


def deadline_fact_id(d: DeadlineResult) -> str:
    return f"deadline:{d.spec.id}#{d.occurrence}"


def _blaming_facts(policy: Policy, ctx: Context, tz: str) -> list[Fact]:
    if not policy.has("child_blaming_phrases"):
        return []
    phrases = tuple(policy.value("child_blaming_phrases"))
    out = []
    for e in ctx.events:
        if not e.text:
            continue
        hits = blaming_phrases(e.text, phrases)
        if hits:
            out.append(
                Fact(
                    f"blaming_text:{e.id}",
                    "blaming_text",
                    {"by": e.by, "at": e.at},
                    e.at,
                    (e.id,),
                    _blaming_text(e, hits, phrases, tz),
                )
            )
    return out


def _blaming_text(
    e: Ev, hits: tuple[str, ...], phrases: tuple[str, ...], tz: str
) -> Callable[[], dict[str, str]]:
    return lambda: {
        "at_text": human_local(e.at, tz),
        "by_text": role_text(e.by),
        "kind_text": "review" if e.type == "supervisor_review" else "note",
        "phrases_text": ", ".join(f'"{p}"' for p in hits),
        "quote_text": quote(e.text, phrases),
    }


def _gap_facts(policy: Policy, ctx: Context, tz: str) -> list[Fact]:
    """C3: the report, if made in the local hours without intelligence cover, and each night a
    high-risk period enters them (once per night, at the instant it enters), each with the instant
    cover resumes (``ends``); ``first`` marks the first of each night's facts, so a night is judged
    once whether the report or a high-risk period brought it."""
    if not policy.has("intelligence_cover_until"):
        return []
    cover_until, cover_from = policy.intelligence_gap
    report = ctx.report
    nights: dict[int, list[Fact]] = {}
    for night, entered, ends in local_window_entries(report.at, report.at, tz, cover_until, cover_from):
        nights.setdefault(night, []).append(_gap_fact("report", report, entered, ends, tz))
    for start, end in _high_periods(ctx):
        for night, entered, ends in local_window_entries(start.at, end, tz, cover_until, cover_from):
            if not any(f.fields["source"] == "high_period" for f in nights.get(night, [])):
                nights.setdefault(night, []).append(_gap_fact("high_period", start, entered, ends, tz))
    out = []
    for night in sorted(nights):
        for n, fact in enumerate(sorted(nights[night], key=lambda f: (f.at, f.fields["source"]))):
            fact.fields["first"] = n == 0
            out.append(fact)
    return out


def next_gap_entry(policy: Policy, ctx: Context) -> int | None:
    """C3: the instant after as_of at which a high-risk period still open at as_of would enter a
    night's intelligence gap it has not yet entered (a new intel_gap fact), if it stays open."""
    if not policy.has("intelligence_cover_until"):
        return None
    periods = _high_periods(ctx)
    if not periods or periods[-1][1] != ctx.as_of:
        return None
    tz = policy.meta.timezone
    cover_until, cover_from = policy.intelligence_gap
    nights = {
        n
        for start, end in periods
        for n, _, _ in local_window_entries(start.at, end, tz, cover_until, cover_from)
    }
    # Two local days always hold the start of the next night's gap, whatever the clocks do.
    ahead = local_window_entries(ctx.as_of + 1, ctx.as_of + 2 * 86_400, tz, cover_until, cover_from)
    return next((entered for night, entered, _ in ahead if night not in nights), None)


def _gap_fact(source: str, e: Ev, at: int, ends: int, tz: str) -> Fact:
    def render() -> dict[str, str]:
        entered = human_local(at, tz)
        if source == "report":
            what = f"The report at {entered} came in the overnight gap in intelligence cover"
        else:
            what = (
                f"The high-risk period that began at {human_local(e.at, tz)} entered the overnight gap "
                f"in intelligence cover at {entered}"
            )
        return {
            "at_text": human_local(e.at, tz),
            "entered_text": entered,
            "ends_text": human_local(ends, tz),
            "what_text": what,
        }

    return Fact(
        f"intel_gap:{source}:{at}",
        "intel_gap",
        {"source": source, "at": at, "ends": ends, "first": False},
        at,
        (e.id,),
        render,
    )


def _high_periods(ctx: Context) -> list[tuple[Ev, int]]:
    """Spans graded high while the child is missing, as [start, last second]: from the regrade
    until the grade changes, the child is found or the record closed (not included), or as_of
    (included). A regrade after the child was found opens none. One pass."""
    ends = [e.at for e in ctx.events if e.type in ("found", "closed")]
    periods = []
    opened: Ev | None = None
    for change in [*ctx.grades, None]:
        if opened is not None and (change is None or change.grade != Grade.HIGH):
            stop = min(ctx.as_of + 1, change.at if change else ctx.as_of + 1)
            if ends:  # the first found or closed ends it; one before the regrade means no period
                stop = min(stop, ends[0])
            if stop > opened.at:
                periods.append((opened, stop - 1))
            opened = None
        if change is not None and change.grade == Grade.HIGH and opened is None:
            opened = change.event
    return periods
