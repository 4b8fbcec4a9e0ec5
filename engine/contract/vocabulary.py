"""Contract v1's names. Callers integrate against these: they change only with a new contract."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import StringConstraints


class EventType(StrEnum):
    REPORT_RECEIVED = "report_received"
    RISK_GRADED = "risk_graded"
    GRADING_ENDORSED = "grading_endorsed"
    INTELLIGENCE_CHECKS = "intelligence_checks"
    RESPONSE_PLAN_CONSULTED = "response_plan_consulted"
    OFFICER_ALLOCATED = "officer_allocated"
    INVESTIGATION_PLAN_SET = "investigation_plan_set"
    SUPERVISOR_REVIEW = "supervisor_review"
    OVERSIGHT_ACCEPTED = "oversight_accepted"
    COMPACT_RECORD_CREATED = "compact_record_created"
    CHILD_RISK_ASSESSMENT_FORM = "child_risk_assessment_form"
    FOUND = "found"
    PREVENTION_INTERVIEW = "prevention_interview"
    RETURN_HOME_INTERVIEW = "return_home_interview"
    STRATEGY_DISCUSSION = "strategy_discussion"
    CLOSED = "closed"
    NOTE = "note"


class Role(StrEnum):
    CALL_HANDLER = "call_handler"
    CONTROL_ROOM_SUPERVISOR = "control_room_supervisor"
    FRONTLINE_OFFICER = "frontline_officer"
    SERGEANT = "sergeant"
    INSPECTOR = "inspector"
    CID_SUPERVISOR = "cid_supervisor"
    MISSING_PERSONS_ADVISER = "missing_persons_adviser"
    MASH = "mash"
    LOCAL_AUTHORITY = "local_authority"


class Grade(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    VERY_LOW = "very_low"
    NO_APPARENT_RISK = "no_apparent_risk"


# Higher is graver; the engine compares grades by rank (G4 under-grading).
GRADE_RANK = {
    Grade.NO_APPARENT_RISK: 0,
    Grade.VERY_LOW: 1,
    Grade.LOW: 2,
    Grade.MEDIUM: 3,
    Grade.HIGH: 4,
}


class RiskFactor(StrEnum):
    SEXUAL_EXPLOITATION = "sexual_exploitation"
    CRIMINAL_EXPLOITATION = "criminal_exploitation"
    SELF_HARM_OR_SUICIDE = "self_harm_or_suicide"
    MEDICAL_NEEDS = "medical_needs"
    CHILD_ABDUCTION_WARNING_NOTICE = "child_abduction_warning_notice"
    HARMED_WHEN_PREVIOUSLY_MISSING = "harmed_when_previously_missing"
    VICTIM_OF_CRIME = "victim_of_crime"
    OUT_OF_CHARACTER = "out_of_character"
    MENTAL_HEALTH = "mental_health"
    SUBSTANCE_MISUSE = "substance_misuse"
    LEARNING_DISABILITY = "learning_disability"
    DOMESTIC_ABUSE_AT_HOME = "domestic_abuse_at_home"


class Placement(StrEnum):
    CHILDRENS_HOME = "childrens_home"
    FOSTER_CARE = "foster_care"
    FAMILY = "family"
    OTHER = "other"


class FoundOutcome(StrEnum):
    SAFE = "safe"
    HARMED = "harmed"
    DECEASED = "deceased"


class RecordKind(StrEnum):
    COMPACT = "compact"
    CHILD_RISK_ASSESSMENT_FORM = "child_risk_assessment_form"


class Status(StrEnum):
    MET = "met"
    MET_LATE = "met_late"
    BREACHED = "breached"
    PENDING = "pending"
    DUE_SOON = "due_soon"
    NOT_APPLICABLE = "not_applicable"


class Severity(StrEnum):
    BREACH = "breach"
    WARNING = "warning"
    ACTION = "action"
    ADVISORY = "advisory"


class FindingCode(StrEnum):
    GRADE_NOT_ALLOWED = "GRADE_NOT_ALLOWED"
    INITIAL_GRADING_LATE = "INITIAL_GRADING_LATE"
    CONTROL_ROOM_REVIEW_LATE = "CONTROL_ROOM_REVIEW_LATE"
    UNDER_GRADED = "UNDER_GRADED"
    INTELLIGENCE_CHECKS_MISSING = "INTELLIGENCE_CHECKS_MISSING"
    RISK_ASSESSMENT_LATE = "RISK_ASSESSMENT_LATE"
    ENDORSEMENT_LATE = "ENDORSEMENT_LATE"
    RESPONSE_PLAN_REQUIRED = "RESPONSE_PLAN_REQUIRED"
    RESPONSE_PLAN_NOT_USED = "RESPONSE_PLAN_NOT_USED"
    CID_OVERSIGHT_LATE = "CID_OVERSIGHT_LATE"
    INSPECTOR_OVERSIGHT_LATE = "INSPECTOR_OVERSIGHT_LATE"
    INVESTIGATION_PLAN_LATE = "INVESTIGATION_PLAN_LATE"
    REVIEW_OVERDUE = "REVIEW_OVERDUE"
    ESCALATION_REVIEW_LATE = "ESCALATION_REVIEW_LATE"
    CHILD_BLAMING_LANGUAGE = "CHILD_BLAMING_LANGUAGE"
    STRATEGY_DISCUSSION_LATE = "STRATEGY_DISCUSSION_LATE"
    EPISODE_NOT_RECORDED = "EPISODE_NOT_RECORDED"
    INTELLIGENCE_GAP = "INTELLIGENCE_GAP"
    PREVENTION_INTERVIEW_LATE = "PREVENTION_INTERVIEW_LATE"
    VOICE_OF_CHILD_MISSING = "VOICE_OF_CHILD_MISSING"
    RETURN_HOME_INTERVIEW_LATE = "RETURN_HOME_INTERVIEW_LATE"
    PHILOMENA_PROFILE_MISSING = "PHILOMENA_PROFILE_MISSING"


class Mode(StrEnum):
    AUTO = "auto"
    LIVE = "live"
    COMPLETE = "complete"


# A force's own finding code (declared in its policy.yaml); contract v1's codes keep their meaning.
FORCE_CODE_PATTERN = r"^[A-Z][A-Z0-9_]{2,63}$"
ForceCode = Annotated[str, StringConstraints(pattern=FORCE_CODE_PATTERN)]
CONTRACT_CODES = frozenset(FindingCode)


_FINDING_CODES: dict[str, FindingCode] = {m.value: m for m in FindingCode}
# Members by value, for code that turns many checked values into members (a dictionary lookup,
# where calling the enum costs several times more).
ROLE_OF: dict[str, Role] = {m.value: m for m in Role}
STATUS_OF: dict[str, Status] = {m.value: m for m in Status}
SEVERITY_OF: dict[str, Severity] = {m.value: m for m in Severity}
GRADE_OF: dict[str, Grade] = {m.value: m for m in Grade}


def finding_code(code: str) -> FindingCode | str:
    """Contract v1's code as its enum member; a force's own code as it is."""
    return _FINDING_CODES.get(code, code)


# What an allocation (officer_allocated) allocates when it names no task (added 2026-12-05).
ALLOCATED = "investigation"
