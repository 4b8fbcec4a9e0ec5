"""One exception tree for the engine; each error has a stable ``code`` the doors map to responses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class FieldError:
    """One bad field: where it is (``events[2].at``) and what would be accepted.

    ``parameter``: the field is a value asked beside the timeline (``policy``, ``as_of``,
    ``why_not``, ``until``, ``page``, ``at``, ``compare``), named plainly; each way in renames
    it once, in its own words (``--as-of`` on the command line, ``query.as_of`` over HTTP)."""

    field: str
    message: str
    parameter: bool = False

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


# The values a caller may ask beside a timeline, by their plain names.
PARAMETERS = ("policy", "compare", "as_of", "why_not", "until", "page", "at")


def relabelled(errors: list[FieldError], labels: Mapping[str, str]) -> list[FieldError]:
    """The errors with each parameter named as a way in calls it (others as they are)."""
    return [replace(e, field=labels.get(e.field, e.field)) if e.parameter else e for e in errors]


class EngineError(Exception):
    """Base of every error the engine raises on purpose."""

    code = "engine_error"

    def __init__(self, message: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or []

    def __reduce__(self) -> tuple[type[EngineError], tuple[str, list[FieldError]]]:
        """Pickled whole (with its field errors), so a worker process can raise it to its caller."""
        return (self.__class__, (self.message, self.errors))


class InvalidTimeline(EngineError):
    """The timeline breaks contract v1; ``errors`` names each field."""

    code = "invalid_timeline"


class InvalidRequest(EngineError):
    """A value the caller gave beside the timeline (an instant, a policy id) is not valid, or is
    given twice with different values; ``errors`` names each one as the caller wrote it."""

    code = "invalid_request"


class UnknownPolicy(EngineError):
    """A policy id that no loaded policy version has."""

    code = "unknown_policy"


class NoPolicyInForce(EngineError):
    """No policy version was in force when the report was received."""

    code = "no_policy_in_force"


class PolicyInvalid(EngineError):
    """A rules folder failed validation; ``errors`` name file and rule."""

    code = "policy_invalid"


class RuleEngineFailed(EngineError):
    """The rule engine itself raised: the evaluation is void, never partial."""

    code = "rule_engine_failed"
