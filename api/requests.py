"""What the evaluation and simulation routes share: the capped body, the policy choice and
instants given as query parameters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from fastapi import Request

from api.body import read_capped
from api.problems import ApiProblem
from engine import FieldError, Policy, PolicyRegistry, Timeline, parse_timeline
from engine.parse import OFFSET_HINT
from engine.timeline import RANGE_MESSAGE, in_range


def only_query(*names: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency refusing query parameters the route does not take: a typo such as ?asof=
    must not be ignored silently (it would change what the answer means)."""

    async def check(request: Request) -> None:
        unknown = sorted(set(request.query_params) - set(names))
        if unknown:
            accepted = ", ".join(names) or "none"
            raise ApiProblem(
                422,
                "invalid_request",
                "The request is not valid",
                "the request has query parameters this route does not take",
                [
                    FieldError(f"query.{name}", f"is not a parameter of this route; accepted: {accepted}")
                    for name in unknown
                ],
            )

    return check


async def read_timeline(request: Request, limit: int) -> Timeline:
    return parse_timeline(await read_capped(request, limit))


def instant(name: str, value: str | None) -> datetime | None:
    """A query-string instant; it must carry a UTC offset, like every instant in the contract."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        moment = None
    if moment is not None and moment.tzinfo is not None and not in_range(moment):
        raise ApiProblem(
            422,
            "invalid_request",
            "The request is not valid",
            f"the query parameter {name} is out of range",
            [FieldError(f"query.{name}", RANGE_MESSAGE)],
        )
    if moment is None or moment.tzinfo is None:
        raise ApiProblem(
            422,
            "invalid_request",
            "The request is not valid",
            f"the query parameter {name} is not a valid instant",
            [FieldError(f"query.{name}", OFFSET_HINT)],
        )
    return moment


def merged(name: str, query: datetime | str | None, body: datetime | str | None) -> datetime | str | None:
    """A value given both in the query and in the body must agree: nothing is silently chosen."""
    if query is not None and body is not None and query != body:
        raise ApiProblem(
            422,
            "invalid_request",
            "The request is not valid",
            f"{name} is given in the query and in the body with different values",
            [FieldError(f"query.{name}", f"differs from the body's {name}; send one")],
        )
    return query if query is not None else body


def choose_policy(registry: PolicyRegistry, timeline: Timeline, policy_id: str | None) -> Policy:
    chosen = merged("policy", policy_id, timeline.policy)
    if chosen is None:
        return registry.in_force(timeline.report().at)
    return registry.get(str(chosen))
