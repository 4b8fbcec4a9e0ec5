"""The facts rules can match on: their kinds, matchable fields (with allowed values) and the
display fields messages may quote. The loader checks rule files against this; the fact builder
produces exactly these fields.
"""

from __future__ import annotations

from misper.engine.contract.vocabulary import EventType, FoundOutcome, Grade, Placement, Role, Status
from misper.engine.workdays import WEEKDAYS

INT = "int"
INSTANT = "instant"  # epoch seconds; compared like INT, shown as ISO 8601 in a trace
NUMBERS = (INT, INSTANT)
BOOL = "bool"
TEXT = "text"

# Matchable fields: a type name or the set of allowed string values.
FACT_FIELDS: dict[str, dict[str, str | frozenset[str]]] = {
    # Every event of the timeline up to as_of. at: epoch seconds; local_date (YYYY-MM-DD),
    # local_time (minutes after local midnight), local_hour and weekday (monday ... sunday) in the
    # policy's time zone; working_day: a weekday that is not a bank holiday of the policy's
    # calendar (only for a policy that names one).
    "event": {
        "type": frozenset(EventType),
        "by": frozenset(Role) | {""},
        "at": INSTANT,
        "local_date": TEXT,
        "local_time": INT,
        "local_hour": INT,
        "weekday": frozenset(WEEKDAYS),
        "working_day": BOOL,
        "grade": frozenset(Grade) | {""},
        "outcome": frozenset(FoundOutcome) | {""},
        "voice_of_child": BOOL,
    },
    # A grade period: from a grade change until the next (until: 3000-01-01 while in force).
    # initial: the first grading by a control-room role (the control_room_roles parameter).
    "grading": {
        "grade": frozenset(Grade),
        "rank": INT,
        "by": frozenset(Role) | {""},
        "at": INSTANT,
        "until": INSTANT,
        "initial": BOOL,
    },
    "recommendation": {"grade": frozenset(Grade), "rank": INT},
    # How many of the policy's high-risk indicators and aggravating factors the child has.
    "risk": {"high_indicators": INT, "aggravating_factors": INT},
    "child": {
        "age_years": INT,
        "looked_after": BOOL,
        "response_plan": BOOL,
        "philomena_profile": BOOL,
        "placement": frozenset(Placement) | {"not_given"},
    },
    "repeat": {"episodes_in_window": INT, "window_days": INT},
    "deadline": {
        "deadline": TEXT,
        "occurrence": INT,
        "status": frozenset(Status),
        "owner": frozenset(Role),
        "starts_at": INSTANT,
        "due_at": INSTANT,
        "met_at": INSTANT,
    },
    "blaming_text": {"by": frozenset(Role) | {""}, "at": INSTANT},
    # C3: the report made in the local hours without intelligence cover, and each night a
    # high-risk period enters them: when it entered, when cover resumes, and whether it is the
    # first of its night's.
    "intel_gap": {
        "source": frozenset({"report", "high_period"}),
        "at": INSTANT,
        "ends": INSTANT,
        "first": BOOL,
    },
    # The evaluation itself: live or complete, judged at as_of, the report received at report_at.
    "incident": {"mode": frozenset({"live", "complete"}), "as_of": INSTANT, "report_at": INSTANT},
}

# Fields for messages only (never sent to the rule engine).
DISPLAY_FIELDS: dict[str, frozenset[str]] = {
    "event": frozenset({"id", "at_text", "by_text", "grade_text"}),
    "grading": frozenset({"at_text", "by_text", "grade_text"}),
    "recommendation": frozenset({"reasons_text"}),
    "risk": frozenset(),
    "child": frozenset({"placement_text"}),
    "repeat": frozenset(),
    "deadline": frozenset(),
    "blaming_text": frozenset({"at_text", "by_text", "kind_text", "phrases_text", "quote_text"}),
    "intel_gap": frozenset({"at_text", "entered_text", "ends_text", "what_text"}),
    "incident": frozenset({"as_of_text"}),
}
