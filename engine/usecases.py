"""One function per use case, called by every way in (the command line, the HTTP workers, the
replay and the incident service): a timeline and what the caller asked beside it in, the answer
out.

What is asked beside a timeline is named here by its plain name (``policy``, ``as_of``,
``why_not``, ``until``, ``page``, ``at``); an error about one of them is a parameter error, and
each way in renames it once, in its own words (``--as-of``, ``query.as_of``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from misper.engine.clock.context import Ordered
from misper.engine.contract.evaluation import Evaluation, Simulation
from misper.engine.contract.parse import parse_timeline
from misper.engine.contract.timeline import Timeline
from misper.engine.errors import FieldError, InvalidRequest
from misper.engine.inputs import agree, choose_policy
from misper.engine.judging.judge import check_as_of, evaluate
from misper.engine.judging.simulate import simulate
from misper.engine.policy.registry import PolicyRegistry


@dataclass(frozen=True)
class EvaluationAsk:
    """What a caller may ask beside a timeline to evaluate; ``force`` is the caller's own (its
    key's, or a stored incident's): a timeline naming another is refused."""

    policy: str | None = None
    as_of: datetime | None = None
    trace: bool = False
    why_not: str | None = None
    force: str | None = None


@dataclass(frozen=True)
class SimulationAsk:
    """What a caller may ask beside a timeline to step through."""

    policy: str | None = None
    until: datetime | None = None
    page: int = 1
    at: datetime | None = None
    force: str | None = None  # the caller's own, as EvaluationAsk's


def evaluation(
    registry: PolicyRegistry, timeline: Timeline | bytes, ask: EvaluationAsk, ordered: Ordered | None = None
) -> Evaluation:
    """Parse (unless parsed), choose the policy, agree the instant, evaluate (``ordered``: the
    parsed timeline's events already in time order)."""
    parsed = timeline if isinstance(timeline, Timeline) else parse_timeline(timeline)
    policy = choose_policy(registry, parsed, ask.policy, ask.force)
    as_of = agree("as_of", ask.as_of, parsed.as_of)
    if ask.as_of is not None:
        check_as_of(parsed, ask.as_of, "as_of", parameter=True)  # named as the caller gave it
    return evaluate(parsed, policy, as_of, trace=ask.trace, why_not=ask.why_not, ordered=ordered)


def simulation(registry: PolicyRegistry, timeline: Timeline | bytes, ask: SimulationAsk) -> Simulation:
    """Parse (unless parsed), choose the policy, step through one page (or to one instant)."""
    if ask.at is not None and ask.page != 1:
        raise InvalidRequest(
            "page and at cannot be given together",
            [
                FieldError(
                    "page", "the state at one instant is one step: give page or at, not both", parameter=True
                )
            ],
        )
    parsed = timeline if isinstance(timeline, Timeline) else parse_timeline(timeline)
    policy = choose_policy(registry, parsed, ask.policy, ask.force)
    return simulate(parsed, policy, ask.until, ask.page, ask.at)
