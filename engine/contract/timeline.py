"""Contract v1's incident timeline: strict pydantic models and a parser whose errors name fields."""

from __future__ import annotations

import re
import typing
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, Strict

from misper.engine.contract.vocabulary import (
    FoundOutcome,
    Grade,
    Mode,
    Placement,
    RecordKind,
    RiskFactor,
    Role,
)

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)


RANGE_MESSAGE = "must be between 1970-01-01 and 2999-12-31"


def in_range(moment: datetime) -> bool:
    """False for instants outside any incident, including ones whose offset overflows a date."""
    try:
        return EARLIEST <= moment.astimezone(UTC) < LATEST
    except (OverflowError, ValueError):
        return False


def _in_range(moment: datetime) -> datetime:
    """Instants far outside any incident would overflow date arithmetic: refuse them by name."""
    if not in_range(moment):
        raise ValueError(RANGE_MESSAGE)
    return moment


ISO_START = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d")


def _iso_text(value: object) -> object:
    """Only ISO 8601 text is an instant: pydantic would read "1689100800" as seconds since
    1970 in UTC, an instant the contract never allows without an offset."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("must be ISO 8601 text with a UTC offset, e.g. 2023-07-11T19:40:00+01:00")
    if not ISO_START.match(value):
        raise ValueError(
            f"{value[:40]!r} is not an ISO 8601 date and time; write e.g. 2023-07-11T19:40:00+01:00 "
            "(with its UTC offset)"
        )
    return value


# Lax inside, so the text checked above is parsed as pydantic parses JSON datetimes.
Instant = Annotated[AwareDatetime, Strict(False), BeforeValidator(_iso_text), AfterValidator(_in_range)]
Text = Annotated[str, Field(max_length=20_000)]
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ufffd]")


def plain_id(value: str) -> str:
    """An id is text a person can read back and every database can store: no control characters
    (NUL among them) and no U+FFFD (what undecodable bytes become)."""
    if CONTROL.search(value):
        raise ValueError("must not hold control characters (such as NUL or a line break) or U+FFFD")
    return value


MAX_EVENTS = 5_000  # events in one timeline
Id = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(plain_id)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Event(_Strict):
    id: Id
    at: Instant
    # The id of an earlier event of the same type that this one replaces (a wrong time, grade or
    # role entered by mistake): evaluations use the corrected view; the history keeps both.
    corrects: Id | None = None


class _ByOptional(_Event):
    by: Role | None = None


class _ByRequired(_Event):
    by: Role


class ReportReceived(_ByOptional):
    type: Literal["report_received"]


class RiskGraded(_ByRequired):
    type: Literal["risk_graded"]
    grade: Grade


class GradingEndorsed(_ByRequired):
    type: Literal["grading_endorsed"]


class IntelligenceChecks(_ByRequired):
    type: Literal["intelligence_checks"]
    systems: list[Annotated[str, Field(max_length=200)]] | None = None


class ResponsePlanConsulted(_ByRequired):
    type: Literal["response_plan_consulted"]


class OfficerAllocated(_ByRequired):
    type: Literal["officer_allocated"]
    # (added 2026-12-05) What was allocated: the investigation (absent: the investigation) or the
    # prevention interview held when the child is found.
    task: Literal["investigation", "prevention_interview"] | None = None


class InvestigationPlanSet(_ByRequired):
    type: Literal["investigation_plan_set"]


class SupervisorReview(_ByRequired):
    type: Literal["supervisor_review"]
    text: Text | None = None
    grade: Grade | None = None


class OversightAccepted(_ByRequired):
    type: Literal["oversight_accepted"]


class CompactRecordCreated(_ByOptional):
    type: Literal["compact_record_created"]


class ChildRiskAssessmentForm(_ByRequired):
    type: Literal["child_risk_assessment_form"]


class Found(_ByOptional):
    type: Literal["found"]
    location: Text | None = None
    outcome: FoundOutcome | None = None  # absent means safe


class PreventionInterview(_ByRequired):
    type: Literal["prevention_interview"]
    voice_of_child: bool


class ReturnHomeInterview(_ByRequired):
    type: Literal["return_home_interview"]


class StrategyDiscussion(_ByRequired):
    type: Literal["strategy_discussion"]
    # (added 2026-12-05) "complex" marks the complex strategy meeting (S5); absent: a discussion.
    meeting: Literal["discussion", "complex"] | None = None


class Closed(_ByOptional):
    type: Literal["closed"]


class Note(_ByRequired):
    type: Literal["note"]
    text: Text


Event = Annotated[
    ReportReceived
    | RiskGraded
    | GradingEndorsed
    | IntelligenceChecks
    | ResponsePlanConsulted
    | OfficerAllocated
    | InvestigationPlanSet
    | SupervisorReview
    | OversightAccepted
    | CompactRecordCreated
    | ChildRiskAssessmentForm
    | Found
    | PreventionInterview
    | ReturnHomeInterview
    | StrategyDiscussion
    | Closed
    | Note,
    Field(discriminator="type"),
]

EVENT_MODELS: dict[str, type[_Event]] = {
    typing.get_args(model.model_fields["type"].annotation)[0]: model
    for model in typing.get_args(typing.get_args(Event)[0])
}


class PreviousEpisode(_Strict):
    reported_at: Instant
    recorded_on: RecordKind


class Child(_Strict):
    child_id: Id
    age_years: Annotated[int, Field(ge=0, le=17)]
    looked_after: bool = False
    placement: Placement | None = None  # absent means not known
    # The schema states the defaults, so a generated client leaves these out instead of sending null.
    risk_factors: list[RiskFactor] = Field(default_factory=list, json_schema_extra={"default": []})
    response_plan: bool = False
    philomena_profile: bool = False
    previous_episodes: list[PreviousEpisode] = Field(default_factory=list, json_schema_extra={"default": []})


class Timeline(_Strict):
    incident_id: Id
    # (added 2026-12-05) The force whose incident it is: it is judged by that force's policy (or a
    # national one), and a policy named must be one of those.
    force: Id | None = None
    policy: Id | None = None
    as_of: Instant | None = None
    mode: Mode = Mode.AUTO
    child: Child
    events: Annotated[list[Event], Field(min_length=1, max_length=MAX_EVENTS)]

    def report(self) -> ReportReceived:
        """The one report_received event (the parser guarantees there is exactly one)."""
        return next(e for e in self.events if isinstance(e, ReportReceived))
