"""Whole pieces of work for a process pool: request bytes in, answer bytes out.

A server hands large or many evaluations to worker processes so that parsing and evaluating
never hold its event loop, nor its interpreter lock (pydantic parses and serialises in Rust
without releasing it, for tens of milliseconds on a large timeline). Everything here is
picklable: plain arguments in, bytes out, and engine errors (which pickle with their field
errors) raised back to the caller.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime
from pathlib import Path

from misper.engine.contract.parse import parse_timeline
from misper.engine.errors import FieldError, PolicyInvalid
from misper.engine.inputs import agree, choose_policy
from misper.engine.judging.judge import evaluate
from misper.engine.judging.simulate import simulate
from misper.engine.policy.registry import PolicyRegistry, registry_for
from misper.engine.session import RULE_SESSION


def registry_checked(rules_dir: str, hashes: dict[str, str]) -> PolicyRegistry:
    """The rules a worker process loads must be those its server checked at start-up: a file
    edited since then (a worker started later would read it) is refused, not used unchecked."""
    registry = registry_for(Path(rules_dir))
    found = {p.id: p.sha256 for p in registry.policies}
    if found != hashes:
        raise PolicyInvalid(
            f"the rules in {rules_dir} changed after the server started; restart it to check and use them",
            [FieldError(rules_dir, "differs from the policies checked at start-up")],
        )
    return registry


def warm(rules_dir: str, hashes: dict[str, str]) -> None:
    """Ready a fresh worker process before it takes requests: load the rules and create their
    rulesets in the rule engine. Rules changed since start-up are left for a real job to report."""
    try:
        registry = registry_checked(rules_dir, hashes)
    except PolicyInvalid:
        return
    for policy in registry.policies:
        RULE_SESSION.gate(policy)


def evaluation_json(
    rules_dir: str,
    hashes: dict[str, str],
    raw: bytes,
    policy: str | None,
    as_of: datetime | None,
    trace: bool,
    fields: tuple[str, str] = ("policy", "as_of"),
    why_not: str | None = None,
) -> bytes:
    """The evaluation of a timeline's bytes, as compact JSON. ``fields`` name the policy and
    as_of given beside the timeline, as the caller wrote them (``query.policy``)."""
    timeline = parse_timeline(raw)
    chosen = choose_policy(registry_checked(rules_dir, hashes), timeline, policy, fields[0])
    moment = agree(fields[1], as_of, timeline.as_of, "as_of")
    field = fields[0].replace("policy", "why_not")
    result = evaluate(timeline, chosen, moment, trace=trace, why_not=why_not, why_not_field=field)
    return result.to_json(indent=None).encode()


def simulation_json(
    rules_dir: str,
    hashes: dict[str, str],
    raw: bytes,
    policy: str | None,
    until: datetime | None,
    page: int = 1,
    fields: tuple[str, str] = ("policy", "page"),
    at: datetime | None = None,
) -> bytes:
    """One page of the step-through simulation of a timeline's bytes (or the state at ``at``),
    as compact JSON."""
    timeline = parse_timeline(raw)
    chosen = choose_policy(registry_checked(rules_dir, hashes), timeline, policy, fields[0])
    at_field = fields[1].replace("page", "at")
    return simulate(timeline, chosen, until, page, fields[1], at, at_field).model_dump_json().encode()


def watch_parent(parent: int) -> None:
    """A worker's initializer: exit when the server that started it is gone (a SIGTERM or a
    crash skips the pool's own shutdown, and the worker would live on, orphaned)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()
