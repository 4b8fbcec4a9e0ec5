"""Contract v1's evaluation: what the engine answers. Instants are ISO 8601 in the policy's
local time with their offset, so the same input gives the same bytes on any machine."""

from __future__ import annotations

import copy
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, WithJsonSchema

from misper.engine.contract.vocabulary import FindingCode, ForceCode, Grade, Role, Severity, Status

# Instants are rendered by the engine in the policy's local time with their offset; the schema
# says they are date-times, so a generated client parses them as such.
Instant = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
Provenance = Literal["stated", "statutory", "reported", "assumed"]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)

    @classmethod
    def trusted(cls, **values: Any) -> Self:
        """The model of values the engine built itself from checked input: like
        ``model_construct``, nothing is validated again, but at a fifth of its cost (an
        evaluation makes dozens of these). Fields not given take their defaults (copied), and
        the fields keep their declared order, which the JSON follows."""
        out = cls.__new__(cls)
        given = set(values)
        names, defaults = _LAYOUTS.get(cls) or _layout(cls)
        if len(values) != len(names) or tuple(values) != names:
            values = {n: values[n] if n in values else copy.copy(defaults[n]) for n in names}
        setattr_ = object.__setattr__
        setattr_(out, "__dict__", values)
        setattr_(out, "__pydantic_fields_set__", given)
        setattr_(out, "__pydantic_extra__", None)
        setattr_(out, "__pydantic_private__", None)
        return out


_LAYOUTS: dict[type, tuple[tuple[str, ...], dict[str, Any]]] = {}


def _layout(cls: type[_Out]) -> tuple[tuple[str, ...], dict[str, Any]]:
    """A model's field names in declared order, and the defaults of those that have one."""
    if cls not in _LAYOUTS:
        fields = cls.model_fields
        defaults = {name: f.default for name, f in fields.items() if not f.is_required()}
        _LAYOUTS[cls] = (tuple(fields), defaults)
    return _LAYOUTS[cls]


class PolicyRef(_Out):
    id: str
    # (added 2026-12-05) The force whose policy it is; absent for a national policy.
    force: str | None = None
    sha256: str
    title: str


class EngineRef(_Out):
    name: str
    version: str


class GradeView(_Out):
    current: Grade | None
    recommended: Grade
    reasons: list[str]


class OversightView(_Out):
    required_role: Role | None  # None: the policy sets no oversight duty at this grade
    accepted_at: Instant | None
    deadline: str | None
    # The role the recommended grade would require, when it is higher than the grade in force.
    recommended_role: Role | None = None


class RepeatMissing(_Out):
    episodes_in_window: int
    window_days: int
    threshold: int | None  # None: the policy has no response-plan rule
    response_plan_required: bool
    response_plan_exists: bool


class Deadline(_Out):
    id: str
    occurrence: int
    clause: str
    code: FindingCode | ForceCode
    owner: Role
    duty: str
    starts_at: Instant
    due_at: Instant
    met_at: Instant | None
    met_by: str | None
    status: Status
    reason: str | None
    basis: Provenance  # of the duration
    evidence: list[str]


class Finding(_Out):
    code: FindingCode | ForceCode
    clause: str
    severity: Severity
    message: str
    at: Instant
    evidence: list[str]
    rule: str
    # Provenance of the number or list the finding rests on (the weakest, if several), and a
    # sentence naming them; None when it rests on the clause alone.
    basis: Provenance | None = None
    basis_note: str | None = None


class Quality(_Out):
    """The incident rated on the inspectorate's scale for audited cases, by the policy's rubric:
    the rating, the codes of the findings behind it, the rubric's provenance, and whether the
    record is still live (the rating so far)."""

    rating: Literal["good", "requires_improvement", "inadequate"]
    reasons: list[FindingCode | ForceCode]
    basis: Provenance
    so_far: bool


class FiredRule(_Out):
    rule: str
    code: FindingCode | ForceCode
    facts: dict[str, str]  # alias -> the id of the fact it matched


class Condition(_Out):
    alias: str
    fact: str  # the fact kind
    absent: bool  # a condition that no such fact exists
    met: bool | None  # None: not reached, an earlier condition was not met
    condition: str  # as the policy file writes it
    unmet_field: str | None = None  # of the first unmet condition: the first field no fact met


class WhyNotRule(_Out):
    rule: str
    fired: bool
    conditions: list[Condition]
    unmet: str | None  # the first condition no fact met together with those before it
    explanation: str


class WhyNot(_Out):
    code: FindingCode | ForceCode
    rules: list[WhyNotRule]


class Trace(_Out):
    """Opt-in explanation: every fact asserted (instants in ISO 8601; null for none), every rule
    that fired with the facts it matched, and, when asked for a code, why its rules did not."""

    facts: list[dict[str, Any]]
    fired: list[FiredRule]
    why_not: WhyNot | None = None


class Evaluation(_Out):
    incident_id: str
    policy: PolicyRef
    engine: EngineRef
    as_of: Instant
    mode: Literal["live", "complete"]
    # The next instant after as_of at which a deadline's status changes (due soon, or due), or
    # None: a caller asks again then instead of polling.
    next_change_at: Instant | None = None
    grade: GradeView
    oversight: OversightView
    repeat_missing: RepeatMissing
    deadlines: list[Deadline]
    findings: list[Finding]
    quality: Quality | None = None  # (added 2026-12-05) always given by the engine
    notes: list[str] = []  # e.g. the named policy was not in force at the report
    trace: Trace | None = None

    def to_json(self, indent: int | None = 2) -> str:
        """The contract's JSON; the opt-in trace appears only when it was asked for, and a
        national policy has no force."""
        exclude: dict[str, Any] = {}
        if self.policy.force is None:
            exclude["policy"] = {"force"}
        if self.trace is None:
            exclude["trace"] = True
        elif self.trace.why_not is None:
            exclude["trace"] = {"why_not"}
        return self.model_dump_json(indent=indent, exclude=exclude or None)


class DeadlineState(_Out):
    id: str
    occurrence: int
    status: Status
    due_at: Instant
    clause: str = ""
    owner: Role | None = None
    duty: str = ""
    starts_at: Instant | None = None


class StepEvent(_Out):
    """An event at a step's instant, as a trainer reads it."""

    id: str
    type: str
    by: Role | None = None
    grade: Grade | None = None
    text: str | None = None


class Step(_Out):
    """One instant a trainer steps to: what happened, where each clock stands, what is new."""

    at: Instant
    triggers: list[str]
    mode: Literal["live", "complete"]
    grade: GradeView
    oversight: OversightView
    deadlines: list[DeadlineState]
    new_findings: list[Finding]
    events: list[StepEvent] = []
    findings: list[Finding] = []


class Simulation(_Out):
    incident_id: str
    policy: PolicyRef
    until: Instant
    # A long simulation comes in pages of bounded work: this is page ``page`` of ``pages``.
    page: int = 1
    pages: int = 1
    steps: list[Step]
