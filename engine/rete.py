"""durable-rules, wrapped the way its traps require (see the project's notes on durable-rules).

- One host per process, with its background timer threads never started.
- One lock around each whole evaluation: the C core is not safe for concurrent sessions.
- A fresh session per evaluation, deleted afterwards (a ruleset holds at most 1,024 sessions).
- A start-marker fact fires a no-op rule first, because deleting a session in which no action
  ran crashes the process.
- Facts are asserted one by one; a fact no rule matches is normal, not an error.
- durable-rules identifies a fact by a 32-bit hash of its `id`, so two different caller event
  ids can collide (and raise MessageObservedException). Facts carry sequence numbers as ids
  instead (0..n, measured collision-free up to 200,000 in one session), mapped back to the
  project's fact ids when a rule fires.
- Anything durable-rules raises becomes RuleEngineFailed, an engine error, never a traceback.
- Actions are bound to rule names; an exception inside one is swallowed by durable-rules into
  the session state, so it is checked and turned into RuleActionFailed.
- Each policy version is registered under its own name (id@hash), once per process.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Callable, Iterable
from typing import Any

from durable import engine as durable

from engine.errors import EngineError, RuleActionFailed, RuleEngineFailed
from engine.loader import START_RULE, Policy

Match = tuple[str, dict[str, str]]  # (rule name, alias -> fact id)


class _QuietHost(durable.Host):  # type: ignore[misc]
    """A durable host with no timer threads whose actions record (rule, matched fact ids)."""

    def __init__(self) -> None:
        self.matches: list[tuple[str, dict[str, int]]] = []
        super().__init__()

    def _run(self) -> None:  # durable starts dispatch/timer threads here; we need neither
        return None

    def get_action(self, action_name: str) -> Callable[[Any], None]:
        def action(c: Any) -> None:
            if action_name != START_RULE:
                self.matches.append((action_name, {alias: msg["id"] for alias, msg in c._m.items()}))

        return action


class RuleEngine:
    """The process's one durable host; safe to call from many threads, one evaluation at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._host: _QuietHost | None = None
        self._registered: set[str] = set()
        self._sids = itertools.count(1)

    def run(self, policy: Policy, facts: Iterable[dict[str, Any]]) -> list[Match]:
        """Assert the facts in a fresh session and return every rule firing, in firing order,
        each with the facts (by their own ids) it matched."""
        ids: list[str] = []
        with self._lock:
            try:
                fired, state = self._session(policy, facts, ids)
            except EngineError:
                raise
            except Exception as exc:  # the C core raises bare Exceptions with error codes
                raise RuleEngineFailed(
                    f"the rule engine could not evaluate this timeline under {policy.ruleset_name}: "
                    f"{type(exc).__name__}: {exc}"
                ) from None
        if "exception" in state:
            raise RuleActionFailed(
                f"a rule action failed in policy {policy.ruleset_name}: {state['exception']}"
            )
        return [(rule, {alias: ids[n] for alias, n in aliases.items()}) for rule, aliases in fired]

    def _session(
        self, policy: Policy, facts: Iterable[dict[str, Any]], ids: list[str]
    ) -> tuple[list[Any], dict[str, Any]]:
        host = self._ensure(policy)
        name = policy.ruleset_name
        sid = str(next(self._sids))
        host.matches = []
        created = False
        try:
            host.assert_fact(name, {"sid": sid, "id": -1, "kind": "start"})
            created = True
            for fact in facts:
                ids.append(fact["id"])
                try:
                    host.assert_fact(name, {**fact, "id": len(ids) - 1, "sid": sid})
                except durable.MessageNotHandledException:
                    pass
            state = host.get_state(name, sid)
        finally:
            if created:
                host.delete_state(name, sid)
        return host.matches, state

    def _ensure(self, policy: Policy) -> _QuietHost:
        if self._host is None:
            self._host = _QuietHost()
        if policy.ruleset_name not in self._registered:
            # durable-rules mutates the definition it is given: hand it a copy.
            self._host.register_rulesets({policy.ruleset_name: copy.deepcopy(policy.ruleset)})
            self._registered.add(policy.ruleset_name)
        return self._host


RULE_ENGINE = RuleEngine()
