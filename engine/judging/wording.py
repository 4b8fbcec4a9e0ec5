"""Words for findings: how an event, a regrade or a number's provenance reads in a sentence an
inspector can paste into a report. Rendered only for the findings and deadlines shown."""

from __future__ import annotations

from misper.engine.clock.context import Ev, GradeChange
from misper.engine.contract.vocabulary import GRADE_RANK, Grade
from misper.engine.localtime import human_local
from misper.engine.policy.checks import DURATION_UNITS
from misper.engine.policy.files import Parameter

ROLE_TEXT = {"cid_supervisor": "CID supervisor", "mash": "MASH", "": "unrecorded role"}
# What each event is, after "the <role>'s".
EVENT_NOUN = {
    "report_received": "report",
    "risk_graded": "risk grading",
    "grading_endorsed": "endorsement of the grade",
    "intelligence_checks": "intelligence checks",
    "response_plan_consulted": "use of the response plan",
    "officer_allocated": "allocation of the investigation",
    "investigation_plan_set": "investigation plan",
    "supervisor_review": "review",
    "oversight_accepted": "acceptance of oversight",
    "compact_record_created": "COMPACT record",
    "child_risk_assessment_form": "child risk assessment form",
    "prevention_interview": "prevention interview",
    "return_home_interview": "return home interview",
    "strategy_discussion": "strategy discussion",
    "note": "note",
}
ALLOCATION_NOUN = {
    "investigation": "allocation of the investigation",
    "prevention_interview": "allocation of the prevention interview",
}
PROVENANCE_TEXT = {
    "stated": "Stated in the force's policy",
    "statutory": "Set by national statutory guidance",
    "reported": "Reported practice, not written policy",
    "assumed": "An assumed default (the policy names the duty but not this value; a force may change it)",
}
WEAKEST_FIRST = ("assumed", "reported", "statutory", "stated")


def role_text(role: str) -> str:
    return ROLE_TEXT.get(role, role.replace("_", " "))


def grade_text(grade: str) -> str:
    return grade.replace("_", " ")


def event_phrase(e: Ev, tz: str) -> str:
    """'the child was found at 08:15 on 12 July 2023 (BST)', "the sergeant's review at ..."."""
    at = human_local(e.at, tz)
    if e.type == "found":
        how = "" if e.outcome in ("", "safe") else f" {e.outcome}"
        return f"the child was found{how} at {at}"
    if e.type == "closed":
        return f"the record was closed at {at}"
    if e.type == "report_received":
        return f"the report at {at}"
    noun = ALLOCATION_NOUN.get(e.task) if e.type == "officer_allocated" else None
    return f"the {role_text(e.by)}'s {noun or EVENT_NOUN.get(e.type, grade_text(e.type))} at {at}"


def change_phrase(change: GradeChange, tz: str) -> str:
    """'the grade was lowered to medium at 10:45 on 12 July 2023 (BST)'."""
    at = human_local(change.at, tz)
    if change.previous is None:
        return f"the child was first graded {grade_text(change.grade)} at {at}"
    raised = GRADE_RANK[Grade(change.grade)] > GRADE_RANK[Grade(change.previous)]
    verb = "raised" if raised else "lowered" if change.grade != change.previous else "confirmed"
    return f"the grade was {verb} to {grade_text(change.grade)} at {at}"


def amount_text(name: str, param: Parameter) -> str:
    """'initial_grading = 30 minutes', 'high_risk_age_under = 12 years', 'child_blaming_phrases'."""
    if isinstance(param.value, list):
        return name
    if param.unit in WRITTEN_DURATIONS and isinstance(param.value, int):
        return f"{name} = {duration_as_written(param)}"
    unit = "" if param.unit in ("count", "local_time", "grade", "calendar") else f" {param.unit}"
    return f"{name} = {param.value}{unit}"


WRITTEN_DURATIONS = (*DURATION_UNITS, "working_days")


def duration_as_written(param: Parameter) -> str:
    """A duration parameter in the unit its author wrote: '72 hours', not '3 days'."""
    unit = param.unit.removesuffix("s") if param.value == 1 else param.unit
    return f"{param.value} {unit.replace('_', ' ')}"


def basis(params: dict[str, Parameter], names: list[str]) -> tuple[str | None, str | None]:
    """The weakest provenance among the parameters a finding rests on, and a sentence per
    provenance naming them: 'An assumed default (...): initial_grading = 30 minutes.'"""
    used = {n: params[n] for n in dict.fromkeys(names)}
    if not used:
        return None, None
    groups = sorted({p.provenance for p in used.values()}, key=WEAKEST_FIRST.index)
    sentences = []
    for g in groups:
        members = [(n, p) for n, p in used.items() if p.provenance == g]
        # An assumption its author explained is given with the author's own words.
        explained = [(n, p) for n, p in members if g == "assumed" and p.note]
        plain = [amount_text(n, p) for n, p in members if (n, p) not in explained]
        if plain:
            sentences.append(f"{PROVENANCE_TEXT[g]}: {', '.join(plain)}.")
        if explained:
            said = "; ".join(f"{amount_text(n, p)} ({p.note.strip().rstrip('.')})" for n, p in explained)
            sentences.append(f"An assumed default (a force may change it): {said}.")
    return groups[0], " ".join(sentences)


def parameter_text(param: Parameter) -> str:
    """How a parameter reads in a message: '12 hours', '07:00', '3', 'medium', 'a, b and c'."""
    value = param.value
    if param.unit in WRITTEN_DURATIONS and isinstance(value, int):
        return duration_as_written(param)
    if isinstance(value, list):
        shown = [role_text(v) if param.unit == "roles" else grade_text(v) for v in value]
        return ", ".join(shown[:-1]) + " and " + shown[-1] if len(shown) > 1 else shown[0]
    if param.unit == "grade":
        return grade_text(str(value))
    return str(value)
