"""The shape of a policy folder: metadata, parameters, deadlines and rules, each with tests.

Names inside (event types, roles, parameters, fact fields) are plain strings here; the loader
checks every one of them against the vocabularies and says "did you mean" when one is unknown.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

MessageKey = Literal[
    "breached_live", "breached_complete", "breached_stopped", "met_late", "due_soon", "due_now"
]
Provenance = Literal["stated", "statutory", "assumed", "reported"]
SeverityName = Literal["breach", "warning", "action", "advisory"]


RELATIVE = re.compile(r"^\+(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")


def _aware(text: str) -> bool:
    """Whether the text is an ISO 8601 instant with its offset."""
    try:
        return datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False


def _test_instant(text: str) -> str:
    """An instant in an embedded test: an offset from the report, or an ISO 8601 instant."""
    if (RELATIVE.match(text) and text != "+") or _aware(text):
        return text
    raise ValueError(
        "an instant in a test is an offset from the report, + then days d, hours h and minutes m in "
        f"that order (+30m, +2h1m, +1d), or an ISO 8601 instant with its offset "
        f"(2023-07-11T19:40:00+01:00); not {text!r}"
    )


def _report_instant(text: str) -> str:
    if _aware(text):
        return text
    raise ValueError(
        f"a test's report_at is an ISO 8601 instant with its offset (2023-07-11T19:40:00+01:00), not {text!r}"
    )


TestInstant = Annotated[str, AfterValidator(_test_instant)]
ReportInstant = Annotated[str, AfterValidator(_report_instant)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Parameter(_Spec):
    """A number or list the policy sets, with where it comes from."""

    value: int | str | list[str]
    unit: Literal[
        "minutes",
        "hours",
        "days",
        "working_days",  # counted on the policy's calendar (a parameter of unit calendar)
        "calendar",  # a bank-holiday calendar: GB-ENG, GB-WLS, GB-SCT, GB-NIR
        "count",
        "years",
        "local_time",
        "phrases",
        "indicators",
        "percent",
        "grade",
        "roles",
    ]
    # The clause the number serves; none for one the engine applies to every clause (the
    # due-soon share of contract v1).
    clause: str | None
    provenance: Provenance
    note: str = ""


class Trigger(_Spec):
    """An instant on the timeline: an event (optionally by given roles, with a given outcome, the
    nth one), a regrade, the grade in force just before a deadline's due instant, or the instant
    another deadline stopped applying."""

    event: str | None = None
    # Roles, or the name of a parameter holding them (control_room_roles).
    by: list[str] | str | None = None
    outcome: list[str] | None = None
    nth: int = Field(default=1, ge=1)
    grade_becomes: str | None = None
    grade_leaves: str | None = None
    grade_at_due: str | list[str] | None = None
    deadline_stopped: str | None = None
    # For a meeting event: it counts only at or after the first instant this trigger fires (a
    # review of the initial grading made before any grading reviews nothing).
    not_before: Trigger | None = None
    # A strategy discussion marked as one of these (S5: complex).
    meeting: list[str] | None = None
    # An allocation of one of these tasks; absent: of the investigation (what an allocation is when
    # it names no task).
    task: list[str] | None = None
    # When no event of the type in the timeline carries a marking (a caller that predates it):
    # an event after the first of its type, held at least this duration parameter after the
    # report, is read as the marked one, and the deadline's basis is assumed.
    unmarked_after_report: str | None = None


class TestEvent(_Spec):
    """An event in an embedded test; ``at`` is relative to the report (+30m, +2h, +1d2h)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    type: str
    at: TestInstant
    id: str | None = None


class TestCase(_Spec):
    id: str
    note: str = ""
    report_at: ReportInstant | None = None
    as_of: TestInstant | None = None
    mode: Literal["auto", "live", "complete"] | None = None
    child: dict[str, Any] = Field(default_factory=dict)
    events: list[TestEvent] = Field(default_factory=list)
    # Deadline tests: the statuses of the occurrences, in order. Rule tests: fires or not.
    expect_status: list[str] | str | None = None
    expect_fires: int | None = None
    expect_evidence: list[str] | None = None
    # Quality tests: the rating the incident gets.
    expect_quality: Literal["good", "requires_improvement", "inadequate"] | None = None
    # Recommendation tests: the recommended grade.
    expect_recommended: str | None = None


class DeadlineSeverity(_Spec):
    """The severity of a deadline's findings: once it is late (breached or met late), and while it
    is due soon."""

    late: SeverityName = "breach"
    due_soon: SeverityName = "warning"


class DeadlineSpec(_Spec):
    """A duty with a clock, declared the way an SLA engine declares one."""

    id: str
    clause: str
    code: str
    owner: str
    duty: str
    starts: Trigger | list[Trigger]
    each_start: bool = False
    due_after: str | None = None
    due_after_by_grade: dict[str, str] | None = None
    met_by: list[Trigger]
    not_applicable_when: list[Trigger] = Field(default_factory=list)
    # Which children the duty applies to, in the rules' when language, on the child and the
    # repeat count: {child: {placement: [childrens_home], age_years: {lt: 13}}, repeat:
    # {episodes_in_window: {gte: frequent_episodes_in_window}}}. {looked_after: true} is short for
    # {child: {looked_after: true}}.
    applies_if: dict[str, Any] = Field(default_factory=dict)
    repeat: bool = False
    # Events before the start meet the duty too when this is "report" (checks made before the
    # grading they inform, a form filled in before the child was found).
    met_from: Literal["start", "report"] = "start"
    # A trigger between the start and the due instant brings the due instant forward to one
    # interval (at the grade then in force) after it, when that is earlier (S2).
    brought_forward_by: list[Trigger] = Field(default_factory=list)
    messages: dict[MessageKey, str] = Field(default_factory=dict)
    # The severity of its findings; the policy's deadline_severity when not given.
    severity: DeadlineSeverity | None = None
    tests: list[TestCase] = Field(min_length=1)
    if_record_ends_first: Literal["breached", "not_applicable"] = "not_applicable"

    @property
    def start_triggers(self) -> list[Trigger]:
        return self.starts if isinstance(self.starts, list) else [self.starts]


class RuleSpec(_Spec):
    """A finding: when these facts match, report this code under this clause."""

    id: str
    clause: str
    code: str
    severity: SeverityName
    when: dict[str, dict[str, Any]] = Field(min_length=1)
    message: str
    evidence: list[str] = Field(default_factory=list)
    at: str | None = None
    # The parameters (numbers, lists) the rule rests on: their provenance is the finding's basis.
    parameters: list[str] = Field(default_factory=list)
    tests: list[TestCase] = Field(min_length=1)


class ClauseFile(_Spec):
    """One file of clauses (grading.yaml, oversight.yaml, ...)."""

    deadlines: list[DeadlineSpec] = Field(default_factory=list)
    rules: list[RuleSpec] = Field(default_factory=list)


class TestDefaults(_Spec):
    """The timeline every embedded test starts from; a test overrides what it needs."""

    report_at: AwareDatetime
    as_of: TestInstant
    child: dict[str, Any]


class ExposingBreach(_Spec):
    """A breach that makes an incident inadequate: of this clause, and (when given) while the
    grade in force at the instant the finding cites was this one."""

    clause: str
    grade: str | None = None


class QualityRubric(_Spec):
    """The incident rated on the inspectorate's scale for audited cases: inadequate when the child
    was left exposed (a breach listed in ``inadequate_when``) or breaches of ``inadequate_clauses``
    or more different clauses; requires improvement for any other breach; good otherwise."""

    id: str = "quality"
    clause: str = "quality"
    provenance: Literal["stated", "statutory", "reported", "assumed"]
    note: str
    inadequate_when: list[ExposingBreach]
    inadequate_clauses: int = Field(ge=1)
    tests: list[TestCase] = Field(default_factory=list)


class Rung(_Spec):
    """A rung of the recommendation ladder: this grade, for this reason, when every condition
    holds (in the when language, on the child, the repeat count and the risk counts); a rung
    with no condition is the floor, and the last."""

    grade: str
    when: dict[str, Any] = Field(default_factory=dict)
    reason: str


class Ladder(_Spec):
    """The recommended grade below G4's high: the first rung whose conditions hold, top down."""

    id: str = "recommendation"
    clause: str = "recommendation"
    rungs: list[Rung] = Field(min_length=1)
    tests: list[TestCase] = Field(min_length=1)


class EscalationStep(_Spec):
    """Who is told next when an alert on a duty gone due to ``from`` (the key in ``escalation``)
    is not acknowledged within the duration parameter ``after``."""

    to: str
    after: str


class BelowHigh(_Spec):
    """For a policy with no rule of its own below high: the grade in force is recommended, but
    never a grade in ``never``; ``otherwise`` when there is none yet or it is one of those."""

    grade_in_force: Literal[True]
    never: list[str] = Field(default_factory=list)
    otherwise: str


class PolicyMeta(_Spec):
    id: str
    # The force whose policy it is (an id in the rules folder's forces.yaml); absent: national.
    force: str | None = None
    title: str
    effective_from: date
    effective_to: date | None = None
    timezone: str
    source: str
    clauses: dict[str, str]
    oversight: dict[str, str]
    indicator_labels: dict[str, str]
    # The recommended grade's reason when no indicator calls for high; {needed} is the number of
    # aggravating factors that would.
    # The recommendation's reason below high (needed unless a ladder gives each rung's).
    below_high_reason: str | None = None
    # Below high: the lowest grade allowed (absent), or the grade in force with a floor, or a
    # ladder of graded recommendations.
    below_high: BelowHigh | None = None
    recommendation: Ladder | None = None
    deadline_messages: dict[MessageKey, str]
    deadline_severity: DeadlineSeverity = DeadlineSeverity()
    # The policy's own finding codes, with what each means; contract v1's codes are reserved.
    finding_codes: dict[str, str] = Field(default_factory=dict)
    # Alerts: a role's next role up, and how long an alert may wait unacknowledged before it is told.
    escalation: dict[str, EscalationStep] = Field(default_factory=dict)
    quality: QualityRubric
    test_defaults: TestDefaults
