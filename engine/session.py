"""The rule session: a timeline's facts asserted into durable-rules' C core, and the rules that
fired with the facts they matched.

durable-rules' Python host spends most of its time in Python (closures, promises, callbacks,
timer threads); its C core, ``durable_rules_engine``, is driven here directly, keeping the traps
in docs/durable-rules.md handled:

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

A fact that no condition of the ruleset could match is not sent to the core at all (the core
would parse it, find no alpha node for it and answer "no rule matched"): each ruleset gets a
gate, worked out once from its own conditions (see ``Gate``). The rules still decide; the gate
only skips work whose answer is known.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import durable_rules_engine as core
import orjson

from misper.engine.errors import EngineError, RuleEngineFailed
from misper.engine.policy.compiler import END_ALIAS
from misper.engine.policy.model import END_KIND, START_KIND, START_RULE, Policy

Match = tuple[str, dict[str, str]]  # (rule name, alias -> fact id)
_NO_RULE_MATCHED, _SEEN_BEFORE = 1, 2


class RuleSession:
    """The process's rulesets; safe to call from many threads, one evaluation at a time."""

    def __init__(self, gated: bool = True) -> None:
        """``gated=False`` sends every fact to the core (the gate's tests compare the two)."""
        self._gated = gated
        self._lock = threading.Lock()
        self._handles: dict[str, tuple[int, Gate, frozenset[str]]] = {}
        self._sids = itertools.count(1)

    def run(
        self, policy: Policy, facts: Iterable[dict[str, Any]], checked: frozenset[str] = frozenset()
    ) -> list[Match]:
        """Assert the facts in a fresh session of the policy's ruleset and return every rule
        firing, in firing order, each with the facts (by their own ids) it matched. Facts of the
        ``checked`` kinds were let through the policy's gate already, by whoever built them."""
        return self.run_ruleset(policy.ruleset_name, policy.ruleset, facts, checked)

    def run_ruleset(
        self,
        name: str,
        definition: dict[str, Any],
        facts: Iterable[dict[str, Any]],
        checked: frozenset[str] = frozenset(),
    ) -> list[Match]:
        """The same for any ruleset, created under ``name`` on first use."""
        ids: list[str] = []
        with self._lock, _core_errors(name):
            fired = self._session(*self._handle(name, definition), facts, ids, checked)
        return [(rule, {alias: ids[n] for alias, n in aliases.items()}) for rule, aliases in fired]

    def gate(self, policy: Policy) -> Gate:
        """The gate of the policy's ruleset: which facts some condition could match."""
        made = self._handles.get(policy.ruleset_name)  # made once, never changed: no lock to read
        if made is None:
            with self._lock, _core_errors(policy.ruleset_name):
                made = self._handle(policy.ruleset_name, policy.ruleset)
        return made[1]

    def _session(
        self,
        handle: int,
        gate: Gate,
        named: frozenset[str],
        facts: Iterable[dict[str, Any]],
        ids: list[str],
        checked: frozenset[str],
    ) -> list[tuple[str, dict[str, int]]]:
        sid = str(next(self._sids))
        fired: list[tuple[str, dict[str, int]]] = []
        _assert(handle, {"sid": sid, "id": -1, "kind": START_KIND}, fired)
        try:
            for fact in facts:
                if fact["kind"] not in checked and not gate.admits(fact):
                    continue
                ids.append(fact["id"])
                # Only the fields some condition names go to the core, which parses every field.
                sent = {k: v for k, v in fact.items() if k in named}
                sent["id"], sent["sid"] = len(ids) - 1, sid
                _assert(handle, sent, fired)
            _assert(handle, {"sid": sid, "id": -2, "kind": END_KIND}, fired)
        finally:
            core.delete_state(handle, sid)
        return fired

    def _handle(self, name: str, definition: dict[str, Any]) -> tuple[int, Gate, frozenset[str]]:
        if name not in self._handles:
            gate = Gate(definition if self._gated else {"any": {"all": [{"m": {}}]}})
            # Every text in the definition: a field no condition names (as a key, or as the text
            # of a join to another fact's field) is never read by the core, which parses every
            # field it is sent; only the named ones are sent.
            named = frozenset(_texts(definition)) | {"kind"}
            definition = copy.deepcopy(definition)  # the core keeps what it is given
            for rule in definition.values():
                rule.pop("run", None)
            handle = core.create_ruleset(name, json.dumps(definition, ensure_ascii=False))
            self._handles[name] = (handle, gate, named)
        return self._handles[name]


@contextmanager
def _core_errors(name: str) -> Iterator[None]:
    """Anything the C core raises (bare Exceptions with error codes) as RuleEngineFailed."""
    try:
        yield
    except EngineError:
        raise
    except Exception as exc:
        raise RuleEngineFailed(
            f"the rule engine could not evaluate this timeline under {name}: {type(exc).__name__}: {exc}"
        ) from None


Constraint = tuple[str, frozenset[str]]  # a field and the texts it must equal one of


class Gate:
    """Which facts some condition of a ruleset could match: a Python copy of the core's first
    test of a fact (its alpha network), kept deliberately loose.

    Each alias condition gives one alternative: the text equalities among its top-level terms
    (``{"type": "found"}``, or an ``$or`` of such on one field); every other term (numbers,
    comparisons, joins) is left to the core. A fact is admitted when it meets every equality of
    some alternative, and a field that is missing or not text never keeps a fact out. A term
    the gate does not understand only makes it admit more, so it never keeps out a fact a rule
    needs. The answer depends only on the fact's kind and the fields the alternatives name, so
    it is worked out once per such combination and remembered (up to ``REMEMBERED`` of them).
    """

    REMEMBERED = 4096

    def __init__(self, definition: dict[str, Any]) -> None:
        alternatives = dict.fromkeys(_alternative(c) for r in definition.values() for c in _conditions(r))
        self._any_kind = [alt for alt in alternatives if "kind" not in dict(alt)]
        self._by_kind: dict[Any, list[tuple[Constraint, ...]]] = {}
        for alt in alternatives:
            for kind in sorted(dict(alt).get("kind", ())):
                self._by_kind.setdefault(kind, []).append(alt)
        self._fields: dict[Any, tuple[str, ...]] = {
            kind: tuple(sorted({name for alt in alts + self._any_kind for name, _ in alt} - {"kind"}))
            for kind, alts in self._by_kind.items()
        }
        self._other_fields = tuple(sorted({name for alt in self._any_kind for name, _ in alt} - {"kind"}))
        self._decided: dict[tuple[Any, ...], bool] = {}
        self._events: dict[tuple[str, str, str, str], bool] = {}
        self._deadlines: dict[tuple[str, str, str], bool] = {}

    def admits_event(self, type_: str, by: str, grade: str, outcome: str) -> bool:
        """admits() of an event fact with these text fields (every text field an event fact has,
        less its local-time ones: a field the probe lacks never keeps a fact out), remembered
        per combination without building the probe each time."""
        key = (type_, by, grade, outcome)
        decided = self._events.get(key)
        if decided is None:
            decided = self.admits(
                {"kind": "event", "type": type_, "by": by, "grade": grade, "outcome": outcome}
            )
            if len(self._events) < self.REMEMBERED:
                self._events[key] = decided
        return decided

    def admits_deadline(self, deadline: str, status: str, owner: str) -> bool:
        """admits() of a deadline fact with these text fields, remembered likewise."""
        key = (deadline, status, owner)
        decided = self._deadlines.get(key)
        if decided is None:
            decided = self.admits(
                {"kind": "deadline", "deadline": deadline, "status": status, "owner": owner}
            )
            if len(self._deadlines) < self.REMEMBERED:
                self._deadlines[key] = decided
        return decided

    def admits(self, fact: dict[str, Any]) -> bool:
        kind = fact.get("kind")
        get = fact.get
        try:
            key = (kind, *[get(name) for name in self._fields.get(kind, self._other_fields)])
            return self._decided[key]
        except KeyError:
            decided = self._decide(fact)
            if len(self._decided) < self.REMEMBERED:
                self._decided[key] = decided
            return decided
        except TypeError:  # a value that cannot be a key (a list): decide without remembering
            return self._decide(fact)

    def _decide(self, fact: dict[str, Any]) -> bool:
        return any(_meets(fact, alt) for alt in self._by_kind.get(fact.get("kind"), []) + self._any_kind)


def _texts(value: Any) -> Iterator[str]:
    """Every key and text anywhere in a ruleset's definition."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)
    elif isinstance(value, str):
        yield value


def _conditions(rule: dict[str, Any]) -> list[Any]:
    """Each alias condition of a rule; one matching everything for a shape the gate does not know."""
    if not set(rule) <= {"all", "any", "run", "pri"}:
        return [None]
    out = []
    for key in ("all", "any"):
        for item in rule.get(key, ()):
            out += list(item.values()) if isinstance(item, dict) and item else [None]
    return out


def _alternative(condition: Any) -> tuple[Constraint, ...]:
    """The text equalities a fact must meet to match ``condition`` (none: anything may)."""
    terms = condition.get("$and") if isinstance(condition, dict) and len(condition) == 1 else None
    found: dict[str, frozenset[str]] = {}
    for term in terms if isinstance(terms, list) else [condition]:
        equality = _equality(term)
        if equality is not None and equality[0] not in found:
            found[equality[0]] = equality[1]
    return tuple(sorted(found.items(), key=lambda c: (c[0], sorted(c[1]))))


def _equality(term: Any) -> Constraint | None:
    """``{"field": "text"}`` or ``{"$or": [{"field": "a"}, {"field": "b"}]}``; None otherwise."""
    if not isinstance(term, dict) or len(term) != 1:
        return None
    ((name, value),) = term.items()
    if name == "$or" and isinstance(value, list) and value:
        parts = [_equality(t) for t in value]
        names = {p[0] for p in parts if p is not None}
        if None in parts or len(names) != 1:
            return None
        return names.pop(), frozenset(v for p in parts if p is not None for v in p[1])
    if isinstance(name, str) and not name.startswith("$") and isinstance(value, str):
        return name, frozenset([value])
    return None


def _meets(fact: dict[str, Any], alternative: tuple[Constraint, ...]) -> bool:
    for name, values in alternative:
        value = fact.get(name)
        if isinstance(value, str) and value not in values:
            return False
    return True


def _assert(handle: int, fact: dict[str, Any], fired: list[tuple[str, dict[str, int]]]) -> None:
    """Assert one fact and drain the actions it queued, recording each firing."""
    code, state = core.assert_fact(handle, orjson.dumps(fact).decode())
    if code == _NO_RULE_MATCHED:
        return
    if code == _SEEN_BEFORE:
        raise RuleEngineFailed(f"the rule engine saw fact {fact['id']} twice in one session")
    result = core.start_action_for_state(handle, state)
    message = result[1] if result else None
    while message:
        for rule, matched in orjson.loads(message).items():
            if rule != START_RULE:
                fired.append((rule, {a: f["id"] for a, f in matched.items() if a != END_ALIAS}))
        message = core.complete_and_start_action(handle, state)


RULE_SESSION = RuleSession()
