"""A loaded policy version: its checked files, its rules compiled for the rule engine, and what
the engine asks of it (durations in seconds, the parameters as messages quote them, the order
deadlines are judged in)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time
from functools import cached_property
from types import SimpleNamespace
from typing import Any, TypeVar

from misper.engine.judging.wording import basis, parameter_text
from misper.engine.localtime import zone
from misper.engine.policy.compiler import Clock, duration_seconds
from misper.engine.policy.files import DeadlineSpec, Parameter, PolicyMeta, RuleSpec
from misper.engine.workdays import CALENDAR, shortest_working_days, working_days_after

T = TypeVar("T")
START_RULE = "__start__"
START_KIND, END_KIND = "start", "end"  # marker facts asserted first and last in every session


@dataclass(frozen=True)
class CompiledRule:
    """What an action needs when its rule fires: the rule's identity and how to word the finding."""

    name: str
    clause: str
    code: str
    severity: str | None = None
    message: str | None = None
    evidence: tuple[str, ...] = ()
    at: tuple[str, str, int] | None = None  # (alias, field, offset seconds): the finding's instant
    deadline: str | None = None
    parameters: tuple[str, ...] = ()
    clocks: tuple[Clock, ...] = ()
    when: dict[str, Any] = field(default_factory=dict)  # the condition as the policy file wrote it
    fields: dict[str, tuple[str, ...]] = field(default_factory=dict)  # alias -> field of each term
    # Each parameter written into a condition as a number or value: (where, name, value).
    inlined: tuple[tuple[str, str, Any], ...] = ()


@dataclass(frozen=True)
class Policy:
    """A loaded, validated policy version: an artefact with a content hash."""

    meta: PolicyMeta
    parameters: dict[str, Parameter]
    deadlines: tuple[DeadlineSpec, ...]
    rules: tuple[RuleSpec, ...]
    compiled: dict[str, CompiledRule]
    ruleset: dict[str, Any]
    sha256: str
    # deadline or rule id -> the file that declares it, so a failing embedded test names it.
    sources: dict[str, str] = field(default_factory=dict)
    # deadline id -> its applies_if compiled: (fact kind, condition) pairs, all of which must hold.
    applies: dict[str, tuple[tuple[str, dict[str, Any]], ...]] = field(default_factory=dict)
    # The recommendation ladder below high: (grade, reason, conditions) per rung, top down.
    ladder: tuple[tuple[str, str, tuple[tuple[str, dict[str, Any]], ...]], ...] = ()

    @property
    def id(self) -> str:
        return self.meta.id

    @property
    def ruleset_name(self) -> str:
        return f"{self.meta.id}@{self.sha256[:16]}"

    # Worked out once per policy (a frozen dataclass still lets cached_property fill __dict__).
    @cached_property
    def clause_rank(self) -> dict[str, int]:
        return {clause: i for i, clause in enumerate(self.meta.clauses)}

    @cached_property
    def deadline_rank(self) -> dict[str, int]:
        return {d.id: i for i, d in enumerate(self.deadlines)}

    @cached_property
    def deadline_specs(self) -> dict[str, DeadlineSpec]:
        return {d.id: d for d in self.deadlines}

    @cached_property
    def shortest_interval(self) -> dict[str, int]:
        """Per deadline timed by grade, its shortest interval in seconds (bounds S2's
        bring-forward scan)."""
        return {
            d.id: min(self.shortest(p) for p in d.due_after_by_grade.values())
            for d in self.deadlines
            if d.due_after_by_grade
        }

    @cached_property
    def deadlines_in_order(self) -> tuple[DeadlineSpec, ...]:
        """Declared order, except that a deadline started by another one comes after it (the
        loader has refused cycles)."""
        return tuple(sorted(self.deadlines, key=lambda d: _depth(d, self.deadline_specs)))

    @cached_property
    def intelligence_gap(self) -> tuple[time, time]:
        """C3's uncovered local hours: from the end of cover until it starts again."""
        return (
            time.fromisoformat(str(self.value("intelligence_cover_until"))),
            time.fromisoformat(str(self.value("intelligence_cover_from"))),
        )

    def kept(self, name: str, make: Callable[[Policy], T]) -> T:
        """What ``make`` works out of this policy, made on first use and kept with it, as its cached
        properties are: for parts of the engine that plan their work once per policy (the
        deadline clock, the output) and that this module must not import."""
        found = self.__dict__.get(name)
        if found is None:
            found = self.__dict__[name] = make(self)
        return found

    def seconds(self, name: str) -> int:
        return self.durations[name]

    def due_from(self, name: str, start: int) -> int:
        """The instant a duty timed by the duration parameter ``name`` falls due when it started at
        ``start``: so many minutes, hours or days after it, or the end of so many working days."""
        if self.counts_working_days(name):
            days, calendar = self.parameters[name].value, self.calendar
            assert isinstance(days, int) and calendar is not None
            return working_days_after(start, days, self.meta.timezone, calendar)
        return start + self.durations[name]

    def counts_working_days(self, name: str) -> bool:
        """Whether the duration parameter ``name`` is counted in working days of the calendar
        (else it is a plain number of seconds)."""
        param = self.parameters[name]
        return param.unit == "working_days" and isinstance(param.value, int) and bool(self.calendar)

    def shortest(self, name: str) -> int:
        """A lower bound of the interval ``name`` gives, in seconds."""
        param = self.parameters[name]
        if param.unit == "working_days" and isinstance(param.value, int):
            return shortest_working_days(param.value)
        return self.durations[name]

    @cached_property
    def kinds_matched(self) -> frozenset[str]:
        """The fact kinds some rule of the policy matches (a kind none matches need not be built)."""
        return frozenset(
            str(spec.get("fact"))
            for r in self.compiled.values()
            for spec in r.when.values()
            if isinstance(spec, dict)
        )

    @cached_property
    def day_fields(self) -> frozenset[str]:
        """Which of an event's day fields (weekday, working_day) some rule reads: only those are
        worked out for each event."""
        read = {f for r in self.compiled.values() for fields in r.fields.values() for f in fields}
        return frozenset(read & {"weekday", "working_day"})

    @cached_property
    def calendar(self) -> str | None:
        """The bank-holiday calendar working days are counted on (the parameter of unit calendar)."""
        name = self.calendar_parameter
        return None if name is None else str(self.parameters[name].value)

    @cached_property
    def calendar_parameter(self) -> str | None:
        return next((n for n, p in self.parameters.items() if p.unit == CALENDAR), None)

    def interval_parameters(self, name: str) -> list[str]:
        """What an interval rests on: its parameter, and for working days the calendar too."""
        if self.parameters[name].unit == "working_days" and self.calendar_parameter:
            return [name, self.calendar_parameter]
        return [name]

    def escalation(self, role: str) -> tuple[str, int] | None:
        """Alerts: the role told next when an alert on a duty gone due to ``role`` waits
        unacknowledged, and after how many seconds; None at the top of a chain."""
        step = self.meta.escalation.get(role)
        return (step.to, self.seconds(step.after)) if step else None

    @cached_property
    def durations(self) -> dict[str, int]:
        """Each duration parameter in seconds."""
        out = {}
        for name, param in self.parameters.items():
            seconds = duration_seconds(param)
            if seconds is not None:
                out[name] = seconds
        return out

    @cached_property
    def trigger_keys(self) -> dict[int, tuple[Any, ...]]:
        """Triggers of different deadlines that find the same instants (the child found, a
        grading by the control room) share a key, so an evaluation finds their hits once. A
        trigger on another deadline keeps its own (its hits depend on that deadline)."""
        out: dict[int, tuple[Any, ...]] = {}
        for d in self.deadlines:
            for t in [*d.start_triggers, *d.met_by, *d.not_applicable_when, *d.brought_forward_by]:
                if t.deadline_stopped is not None or t.grade_at_due is not None:
                    continue
                by = tuple(t.by) if isinstance(t.by, list) else t.by
                out[id(t)] = (
                    t.event,
                    by,
                    tuple(t.outcome or ()),
                    t.grade_becomes,
                    t.grade_leaves,
                    tuple(t.meeting or ()),
                    tuple(t.task or ()),
                    t.unmarked_after_report,
                )
        return out

    def basis(self, names: tuple[str, ...] | list[str]) -> tuple[str | None, str | None]:
        """The provenance and sentence of a finding resting on these parameters (wording.basis),
        worked out once per policy and list of names."""
        key = tuple(names)
        if key not in self._bases:
            self._bases[key] = basis(self.parameters, list(key))
        return self._bases[key]

    @cached_property
    def _bases(self) -> dict[tuple[str, ...], tuple[str | None, str | None]]:
        return {}

    @cached_property
    def clocks(self) -> tuple[Clock, ...]:
        """Every instant a rule compares as_of with, as (fact kind, field, offset)."""
        return tuple(dict.fromkeys(c for r in self.compiled.values() for c in r.clocks))

    @cached_property
    def clocks_on_gated_facts(self) -> bool:
        """Whether a rule clock reads event or deadline facts, which the rule session's gate may
        keep out (then an evaluation builds every fact)."""
        return any(c.kind in ("event", "deadline") for c in self.clocks)

    @cached_property
    def parameter_texts(self) -> SimpleNamespace:
        """Each parameter as it reads in a message ({parameters.name})."""
        return SimpleNamespace(**{name: parameter_text(p) for name, p in self.parameters.items()})

    @cached_property
    def control_room(self) -> frozenset[str]:
        """The control room's roles: the first grading by one of them is the initial grading."""
        return frozenset(self.value("control_room_roles"))

    @cached_property
    def due_soon_percent(self) -> int:
        return int(self.value("due_soon_share"))

    def in_force_at(self, epoch: int) -> bool:
        """True when the instant's local date lies in the policy's effective dates."""
        day = datetime.fromtimestamp(epoch, zone(self.meta.timezone)).date()
        ends = self.meta.effective_to
        return self.meta.effective_from <= day and (ends is None or day <= ends)

    def has(self, name: str) -> bool:
        return name in self.parameters

    def value(self, name: str) -> Any:
        return self.parameters[name].value


def _depth(spec: DeadlineSpec, specs: dict[str, DeadlineSpec]) -> int:
    """How many deadlines must be judged before this one (0: none)."""
    depth, seen = 0, {spec.id}
    while True:
        parent = next((t.deadline_stopped for t in spec.start_triggers if t.deadline_stopped), None)
        if parent is None or parent not in specs or parent in seen:
            return depth
        depth, spec = depth + 1, specs[parent]
        seen.add(parent)
