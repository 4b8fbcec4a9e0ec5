"""The facts rules can match on: their kinds, matchable fields (with allowed values) and the
display fields messages may quote. The loader checks rule files against this; the fact builder
produces exactly these fields.
"""

from __future__ import annotations

from engine.vocabulary import EventType, Grade, Placement, Role, Status

INT = "int"
BOOL = "bool"
TEXT = "text"

# Matchable fields: a type name or the set of allowed string values.
FACT_FIELDS: dict[str, dict[str, str | frozenset[str]]] = {
    "event": {
        "type": frozenset(EventType),
        "by": frozenset(Role) | {""},
        "at": INT,
        "grade": frozenset(Grade) | {""},
        "voice_of_child": BOOL,
    },
    "grading": {
        "grade": frozenset(Grade),
        "rank": INT,
        "by": frozenset(Role) | {""},
        "at": INT,
        "initial": BOOL,
    },
    "recommendation": {"grade": frozenset(Grade), "rank": INT},
    "child": {
        "age_years": INT,
        "looked_after": BOOL,
        "response_plan": BOOL,
        "philomena_profile": BOOL,
        "placement": frozenset(Placement) | {"not_given"},
    },
    "repeat": {"episodes_in_window": INT, "window_days": INT, "threshold": INT, "required": BOOL},
    "deadline": {
        "deadline": TEXT,
        "occurrence": INT,
        "status": frozenset(Status),
        "owner": frozenset(Role),
        "starts_at": INT,
        "due_at": INT,
        "met_at": INT,
    },
    "blaming_text": {"by": frozenset(Role) | {""}, "at": INT},
    "intel_gap": {"source": frozenset({"report", "high_period"}), "checks_recorded": BOOL, "at": INT},
    "episode": {"compact": BOOL, "form": BOOL, "found": BOOL},
    "incident": {"mode": frozenset({"live", "complete"}), "found": BOOL, "closed": BOOL},
}

# Fields for messages only (never sent to the rule engine).
DISPLAY_FIELDS: dict[str, frozenset[str]] = {
    "event": frozenset({"id", "at_text", "by_text"}),
    "grading": frozenset({"at_text", "by_text", "grade_text"}),
    "recommendation": frozenset({"reasons_text"}),
    "child": frozenset({"placement_text"}),
    "repeat": frozenset(),
    "deadline": frozenset(),
    "blaming_text": frozenset({"at_text", "by_text", "kind_text", "phrases_text", "quote_text"}),
    "intel_gap": frozenset({"at_text", "entered_text", "cover_text"}),
    "episode": frozenset(),
    "incident": frozenset(),
}
