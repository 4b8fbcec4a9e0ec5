"""The timeline as the engine reasons about it: events in time order up to as_of, as integers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engine.timeline import Timeline
from engine.vocabulary import Mode


@dataclass(frozen=True, slots=True)
class Ev:
    """One event, flattened: position is its place in time order (ties keep array order)."""

    pos: int
    id: str
    type: str
    at: int
    by: str
    grade: str
    text: str
    voice_of_child: bool | None


@dataclass(frozen=True, slots=True)
class GradeChange:
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

    def first(self, event_type: str) -> Ev | None:
        return next((e for e in self.events if e.type == event_type), None)

    def grade_at(self, pos: int) -> str | None:
        """The grade in force once the event at ``pos`` has been applied."""
        current = None
        for change in self.grades:
            if change.pos > pos:
                break
            current = change.grade
        return current

    @property
    def current_grade(self) -> str | None:
        return self.grades[-1].grade if self.grades else None


def build_context(timeline: Timeline, as_of: datetime) -> Context:
    as_of_epoch = int(as_of.timestamp() // 1)
    indexed = sorted(enumerate(timeline.events), key=lambda pair: (pair[1].at, pair[0]))
    events = []
    for event_index, event in indexed:
        at = int(event.at.timestamp() // 1)
        if at > as_of_epoch:
            continue
        del event_index
        events.append(Ev(
            pos=len(events), id=event.id, type=event.type, at=at, by=getattr(event, "by", None) or "",
            grade=getattr(event, "grade", None) or "", text=getattr(event, "text", None) or "",
            voice_of_child=getattr(event, "voice_of_child", None),
        ))
    report = next(e for e in events if e.type == "report_received")
    grades: list[GradeChange] = []
    for e in events:
        if e.grade:
            previous = grades[-1].grade if grades else None
            grades.append(GradeChange(e.pos, e.at, e.grade, previous, e))
    closed = any(e.type == "closed" for e in events)
    complete = timeline.mode == Mode.COMPLETE or (timeline.mode == Mode.AUTO and closed)
    return Context(tuple(events), report, as_of_epoch, complete, tuple(grades))
