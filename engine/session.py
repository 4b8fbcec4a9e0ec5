"""The rule session: a timeline's facts asserted into durable-rules' C core, and the rules that
fired with the facts they matched.

durable-rules' Python host spends most of its time in Python (closures, promises, callbacks,
timer threads); its C core, ``durable_rules_engine``, is driven here directly, keeping the traps
in the project's notes on durable-rules handled:

- Each policy version is a ruleset of its own (id@hash), created once per process, from a copy
  of its definition without the ``run`` keys (the core refuses them).
- One lock around each whole evaluation: the C core is not safe for concurrent sessions.
- A fresh session per evaluation, deleted afterwards (a ruleset holds at most 1,024 sessions).
- A start-marker fact fires a no-op rule first, because deleting a session in which no action
  ran crashes the process.
- Facts are asserted one by one, and after every assertion the actions it queued are drained
  before anything else is asserted (asserting while actions are queued gave wrong firings and
  crashes as soon as rules joined facts by reference).
- An end-marker fact is asserted last: rules with an absence condition wait for it, so "no fact
  matching X" is judged over the whole timeline, in any order of assertion.
- durable-rules identifies a fact by a 32-bit hash of its ``id``, so two caller event ids can
  collide. Facts carry sequence numbers as ids instead (measured collision-free up to 200,000
  in one session), mapped back to the project's fact ids when a rule fires.
- Anything the core raises becomes RuleEngineFailed, an engine error, never a traceback.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
from collections.abc import Iterable
from typing import Any

import durable_rules_engine as core
from pydantic_core import to_json

from engine.errors import EngineError, RuleEngineFailed
from engine.policy.compiler import END_ALIAS
from engine.policy.model import END_KIND, START_KIND, START_RULE, Policy

Match = tuple[str, dict[str, str]]  # (rule name, alias -> fact id)
_NO_RULE_MATCHED, _SEEN_BEFORE = 1, 2


class RuleSession:
    """The process's rulesets; safe to call from many threads, one evaluation at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handles: dict[str, int] = {}
        self._sids = itertools.count(1)

    def run(self, policy: Policy, facts: Iterable[dict[str, Any]]) -> list[Match]:
        """Assert the facts in a fresh session of the policy's ruleset and return every rule
        firing, in firing order, each with the facts (by their own ids) it matched."""
        return self.run_ruleset(policy.ruleset_name, policy.ruleset, facts)

    def run_ruleset(
        self, name: str, definition: dict[str, Any], facts: Iterable[dict[str, Any]]
    ) -> list[Match]:
        """The same for any ruleset, created under ``name`` on first use."""
        ids: list[str] = []
        with self._lock:
            try:
                fired = self._session(self._handle(name, definition), facts, ids)
            except EngineError:
                raise
            except Exception as exc:  # the C core raises bare Exceptions with error codes
                raise RuleEngineFailed(
                    f"the rule engine could not evaluate this timeline under {name}: "
                    f"{type(exc).__name__}: {exc}"
                ) from None
        return [(rule, {alias: ids[n] for alias, n in aliases.items()}) for rule, aliases in fired]

    def _session(
        self, handle: int, facts: Iterable[dict[str, Any]], ids: list[str]
    ) -> list[tuple[str, dict[str, int]]]:
        sid = str(next(self._sids))
        fired: list[tuple[str, dict[str, int]]] = []
        _assert(handle, {"sid": sid, "id": -1, "kind": START_KIND}, fired)
        try:
            for fact in facts:
                ids.append(fact["id"])
                _assert(handle, {**fact, "id": len(ids) - 1, "sid": sid}, fired)
            _assert(handle, {"sid": sid, "id": -2, "kind": END_KIND}, fired)
        finally:
            core.delete_state(handle, sid)
        return fired

    def _handle(self, name: str, definition: dict[str, Any]) -> int:
        if name not in self._handles:
            definition = copy.deepcopy(definition)  # the core keeps what it is given
            for rule in definition.values():
                rule.pop("run", None)
            self._handles[name] = core.create_ruleset(name, json.dumps(definition, ensure_ascii=False))
        return self._handles[name]


def _assert(handle: int, fact: dict[str, Any], fired: list[tuple[str, dict[str, int]]]) -> None:
    """Assert one fact and drain the actions it queued, recording each firing."""
    code, state = core.assert_fact(handle, to_json(fact).decode())
    if code == _NO_RULE_MATCHED:
        return
    if code == _SEEN_BEFORE:
        raise RuleEngineFailed(f"the rule engine saw fact {fact['id']} twice in one session")
    result = core.start_action_for_state(handle, state)
    message = result[1] if result else None
    while message:
        for rule, matched in json.loads(message).items():
            if rule != START_RULE:
                fired.append((rule, {a: f["id"] for a, f in matched.items() if a != END_ALIAS}))
        message = core.complete_and_start_action(handle, state)


RULE_SESSION = RuleSession()
