"""The timeline as the engine reasons about it: events in time order up to as_of, as integers."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from misper.engine.contract.timeline import Event, Timeline
from misper.engine.contract.vocabulary import ALLOCATED, Mode
from misper.engine.localtime import EXACT_SECONDS, to_epoch


class Ev(NamedTuple):
    """One event, flattened: position is its place in time order (ties keep array order).
    (Named tuples, here and for the other per-evaluation records: immutable, and several times
    cheaper to make than frozen dataclasses, which an evaluation makes by the hundred.)"""

    pos: int
    id: str
    type: str
    at: int
    by: str
    grade: str
    text: str
    voice_of_child: bool | None
    outcome: str = ""
    meeting: str = ""  # a strategy discussion's marking (discussion, complex), "" when not given
    task: str = ""  # an allocation's task (investigation, prevention_interview); "" for other events


class GradeChange(NamedTuple):
    pos: int
    at: int
    grade: str
    previous: str | None
    event: Ev


@dataclass(frozen=True)
class Context:
    events: tuple[Ev, ...]
    report: Ev
    as_of: int
    complete: bool
    grades: tuple[GradeChange, ...]
    by_type: dict[str, tuple[Ev, ...]]
    end: int  # a complete record ends when it was closed (else at as_of)
    grade_positions: tuple[int, ...] = ()  # the grade changes' positions and instants, for bisection
    grade_instants: tuple[int, ...] = ()
    instants: tuple[int, ...] = ()  # every event's instant, in time order

    def last_at(self, instant: int) -> int:
        """The position of the last event at or before ``instant``."""
        return bisect_right(self.instants, instant) - 1

    def of_type(self, event_type: str) -> tuple[Ev, ...]:
        return self.by_type.get(event_type, ())

    def first(self, event_type: str) -> Ev | None:
        found = self.by_type.get(event_type)
        return found[0] if found else None

    def grade_at(self, pos: int) -> str | None:
        """The grade in force once the event at ``pos`` has been applied."""
        change = self.change_at(pos)
        return change.grade if change else None

    def change_at(self, pos: int) -> GradeChange | None:
        """The grade change in force once the event at ``pos`` has been applied."""
        i = bisect_right(self.grade_positions, pos)
        return self.grades[i - 1] if i else None

    def change_before(self, instant: int) -> GradeChange | None:
        """The grade change in force just before ``instant`` (changes at it are not yet in force)."""
        i = bisect_left(self.grade_instants, instant)
        return self.grades[i - 1] if i else None

    @property
    def current_grade(self) -> str | None:
        return self.grades[-1].grade if self.grades else None


class Ordered(NamedTuple):
    """Every event of a timeline in time order, with its instant: the events known at any
    instant are a prefix of it, so a simulation orders its timeline once for all its steps."""

    events: tuple[Ev, ...]
    instants: tuple[int, ...]


# An event as the ordering reads it: its instant in whole seconds, its microseconds, whether it is
# other than the report, and its Ev's fields after the position. It depends on the event alone,
# so a caller that sees the same events again may keep it.
Row = tuple[int, int, bool, tuple[Any, ...]]


def event_row(event: Event) -> Row:
    moment = event.at
    seconds = moment.timestamp()  # to_epoch, inline: it is asked once per event
    at = int(seconds // 1) if -EXACT_SECONDS < seconds < EXACT_SECONDS else to_epoch(moment)
    get = event.__dict__.get  # plain lookups: a missing attribute on a model is slow to ask for
    kind = event.type
    fields = (
        event.id,
        kind,
        at,
        get("by") or "",
        get("grade") or "",
        get("text") or "",
        get("voice_of_child"),
        get("outcome") or "",
        get("meeting") or "",
        get("task") or (ALLOCATED if kind == "officer_allocated" else ""),
    )
    return at, moment.microsecond, kind != "report_received", fields


def order_events(timeline: Timeline, rows: Sequence[Row] | None = None) -> Ordered:
    """The timeline's events in time order (``rows``: their event_row, when the caller has them);
    at one instant the report comes first (it starts every clock), then array order. The instant
    is compared as whole seconds and microseconds (exactly the datetimes' order, and much cheaper
    than comparing datetimes whose offsets differ)."""
    if rows is None:
        rows = [event_row(event) for event in timeline.events]
    keys = sorted((at, micro, other, n) for n, (at, micro, other, _) in enumerate(rows))
    events = tuple(Ev(pos, *rows[n][3]) for pos, (_, _, _, n) in enumerate(keys))
    return Ordered(events, tuple(e.at for e in events))


def build_context(timeline: Timeline, as_of: datetime, ordered: Ordered | None = None) -> Context:
    """The timeline as known at ``as_of`` (``ordered``: its events already in time order)."""
    as_of_epoch = to_epoch(as_of)
    if ordered is None:
        ordered = order_events(timeline)
    known = bisect_right(ordered.instants, as_of_epoch)
    events = ordered.events[:known]
    by_type: dict[str, list[Ev]] = {}
    grades: list[GradeChange] = []
    for e in events:
        kind = e.type
        if kind in by_type:
            by_type[kind].append(e)
        else:
            by_type[kind] = [e]
        if e.grade:
            grades.append(GradeChange(e.pos, e.at, e.grade, grades[-1].grade if grades else None, e))
    report = by_type["report_received"][0]
    closed = "closed" in by_type
    complete = timeline.mode == Mode.COMPLETE or (timeline.mode == Mode.AUTO and closed)
    closed_at = by_type["closed"][0].at if closed else as_of_epoch
    return Context(
        events,
        report,
        as_of_epoch,
        complete,
        tuple(grades),
        {k: tuple(v) for k, v in by_type.items()},
        closed_at if complete else as_of_epoch,
        tuple(g.pos for g in grades),
        tuple(g.at for g in grades),
        ordered.instants[:known],
    )
