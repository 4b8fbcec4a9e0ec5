"""What every way in takes beside a timeline, read the same way: instants written as text, values
given twice, and the choice of policy version. Each is named by its plain parameter name; errors
about them are parameter errors (see FieldError), which each way in names in its own words."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TypeVar

from misper.engine.contract.parse import BROKEN, OFFSET_HINT
from misper.engine.contract.timeline import RANGE_MESSAGE, Timeline, in_range
from misper.engine.errors import FieldError, InvalidRequest, InvalidTimeline
from misper.engine.policy.model import Policy
from misper.engine.policy.names import unknown
from misper.engine.policy.registry import PolicyRegistry

T = TypeVar("T")
# '2023-07-11T19:40:00 01:00': a '+' that URL decoding turned into a space.
LOST_PLUS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)? \d\d(:?\d\d)?$")


def parse_instant(name: str, text: str) -> datetime:
    """An ISO 8601 instant with a UTC offset, given as the parameter ``name`` (``as_of``)."""
    value = text.strip()
    problem = None
    moment = None
    if LOST_PLUS.match(value):
        problem = (
            f"{value!r} has a space where its offset's '+' should be: in a URL query a '+' reads "
            "as a space, so write it as %2B (e.g. 2023-07-11T19:40:00%2B01:00)"
        )
    elif value.isdigit():
        problem = "is a number, not an instant; " + OFFSET_HINT
    else:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            problem = f"{value!r} is not an ISO 8601 instant; " + OFFSET_HINT
    if moment is not None and moment.tzinfo is None:
        problem = OFFSET_HINT
    elif moment is not None and not in_range(moment):
        problem = RANGE_MESSAGE
    if problem or moment is None:
        raise InvalidRequest(
            f"{name} is not a valid instant", [FieldError(name, problem or OFFSET_HINT, parameter=True)]
        )
    return moment


def agree(name: str, given: T | None, in_timeline: T | None) -> T | None:
    """A value given beside the timeline and in it must be the same: nothing is silently chosen."""
    if given is not None and in_timeline is not None and given != in_timeline:
        shown = in_timeline.isoformat() if isinstance(in_timeline, datetime) else in_timeline
        raise InvalidRequest(
            f"{name} is given twice with different values",
            [
                FieldError(
                    name, f"differs from the {name} in the timeline ({shown}); send one", parameter=True
                )
            ],
        )
    return given if given is not None else in_timeline


def choose_policy(
    registry: PolicyRegistry, timeline: Timeline, named: str | None = None, caller: str | None = None
) -> Policy:
    """The policy named (beside the timeline and/or in it, which must agree), else the version
    in force at the report: the force's own before a national one. The force is the caller's
    (its key's), else the timeline's, else the folder's default; a timeline naming a force other
    than the caller's is refused. A policy named must be national or the force's."""
    chosen = agree("policy", named, timeline.policy)
    force = timeline.force
    if force is not None and force not in registry.forces:
        raise InvalidTimeline(
            BROKEN, [FieldError("force", unknown("force", force, registry.forces) or force)]
        )
    if caller is not None and force not in (None, caller):
        raise InvalidTimeline(
            BROKEN,
            [
                FieldError(
                    "force",
                    f"the timeline is {registry.forces[force]}'s ({force}); this key is "
                    f"{registry.forces.get(caller, caller)}'s ({caller}) and judges only its own force's",
                )
            ],
        )
    force = force or caller
    if not chosen:
        return registry.in_force(timeline.report().at, force)
    # To a force's key, another force's policy is as unknown as one that does not exist.
    policy = registry.usable(chosen, caller)
    if force is not None and policy.meta.force not in (None, force):
        raise InvalidTimeline(
            BROKEN,
            [
                FieldError(
                    "policy", f"{chosen} is {registry.forces[policy.meta.force]}'s policy, not {force}'s"
                )
            ],
        )
    return policy
