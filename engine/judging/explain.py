"""Why an evaluation says what it says: the facts asserted, each rule that fired with the facts it
matched, and, for a chosen finding code, why the rules that could raise it did not.

"Why not" asks the rule engine itself rather than re-implementing its matching: for each rule
that raises the code, a probe rule per prefix of its conditions (the first alias, the first two,
...) is run over the same facts. The first prefix that does not fire names the condition that no
fact met together with the ones before it (for an absent condition: a fact matching it exists).
"""

from __future__ import annotations

from typing import Any

import yaml

from misper.engine.contract.evaluation import Condition, FiredRule, Trace, WhyNot, WhyNotRule
from misper.engine.contract.vocabulary import finding_code
from misper.engine.errors import FieldError, InvalidRequest
from misper.engine.judging.facts import STILL_IN_FORCE, Fact
from misper.engine.localtime import iso_local
from misper.engine.policy.compiler import END_ALIAS
from misper.engine.policy.facts_schema import FACT_FIELDS, INSTANT
from misper.engine.policy.loader import joins_first
from misper.engine.policy.model import START_KIND, START_RULE, CompiledRule, Policy
from misper.engine.policy.names import unknown
from misper.engine.session import RULE_SESSION, Match


def trace(policy: Policy, facts: list[Fact], matches: list[Match], why_not: str | None) -> Trace:
    return Trace.trusted(
        facts=[_shown(policy, f) for f in facts],
        fired=[
            FiredRule.trusted(rule=name, code=finding_code(policy.compiled[name].code), facts=aliases)
            for name, aliases in matches
        ],
        why_not=_why_not(policy, facts, why_not) if why_not else None,
    )


def check_code(policy: Policy, code: str | None) -> None:
    """A code asked about must be one some rule of the policy raises."""
    if code is None:
        return
    raised = {r.code for r in policy.compiled.values()}
    bad = unknown(f"finding code of policy {policy.id}", code, raised)
    if bad:
        raise InvalidRequest(
            "there is no such finding code to explain", [FieldError("why_not", bad, parameter=True)]
        )


def _shown(policy: Policy, fact: Fact) -> dict[str, Any]:
    """A fact as asserted, its instants as ISO 8601 (null for none: no meeting, no end yet)."""
    tz = policy.meta.timezone
    fields = FACT_FIELDS[fact.kind]
    out: dict[str, Any] = {"id": fact.id, "kind": fact.kind}
    for name, value in fact.fields.items():
        if fields.get(name) == INSTANT:
            out[name] = iso_local(value, tz) if 0 < value < STILL_IN_FORCE else None
        else:
            out[name] = value
    return out


def _why_not(policy: Policy, facts: list[Fact], code: str) -> WhyNot:
    name, definition = probe_ruleset(policy, code)
    fired = {rule for rule, _ in RULE_SESSION.run_ruleset(name, definition, [f.message() for f in facts])}
    out = []
    for rule in (r for r in policy.compiled.values() if r.code == code):
        conditions, unmet = [], None
        for k, (alias, absent) in enumerate(_aliases(policy.ruleset[rule.name]["all"]), start=1):
            met = None if unmet else f"{rule.name}#{k}" in fired
            field = None
            if met is False:
                unmet = alias
                field = _unmet_field(rule, alias, k, fired) if not absent else None
            conditions.append(
                Condition.trusted(
                    alias=alias,
                    fact=str(rule.when[alias]["fact"]),
                    absent=absent,
                    met=met,
                    condition=_source(rule.when[alias]),
                    unmet_field=field,
                )
            )
        out.append(
            WhyNotRule.trusted(
                rule=rule.name,
                fired=unmet is None,
                conditions=conditions,
                unmet=unmet,
                explanation=_sentence(conditions, unmet, rule.when),
            )
        )
    return WhyNot.trusted(code=finding_code(code), rules=out)


def _unmet_field(rule: CompiledRule, alias: str, k: int, fired: set[str]) -> str | None:
    """The first field of the alias that no fact of its kind met (None: no fact of the kind)."""
    fields = rule.fields[alias]
    for j in range(1, len(fields) + 2):
        if f"{rule.name}#{k}.{j}" not in fired:
            return fields[j - 2] if j > 1 else None
    return None


def _source(spec: dict[str, Any]) -> str:
    """The condition as written in the policy file, in YAML's flow style."""
    return yaml.safe_dump(spec, default_flow_style=True, sort_keys=False, width=10_000).strip()


def _sentence(conditions: list[Condition], unmet: str | None, when: dict[str, Any]) -> str:
    if unmet is None:
        return "Every condition was met: the rule fired."
    cond = next(c for c in conditions if c.alias == unmet)
    before = [c.alias for c in conditions[: conditions.index(cond)]]
    with_those = f" together with {', '.join(before)}" if before else ""
    if cond.absent:
        return (
            f"A {cond.fact} fact matching the absent condition {unmet} {cond.condition}{with_those} exists."
        )
    if cond.unmet_field is None:
        return f"No {cond.fact} fact met {unmet} {cond.condition}{with_those}."
    value = yaml.safe_dump(when[unmet][cond.unmet_field], default_flow_style=True, width=10_000).strip()
    value = value.removesuffix("...").strip()
    return (
        f"No {cond.fact} fact met {unmet} {cond.condition}{with_those}: "
        f"no such fact meets {cond.unmet_field}: {value}."
    )


def _aliases(conditions: list[dict[str, Any]]) -> list[tuple[str, bool]]:
    """The rule's own aliases in order (the end marker left out), each with whether it is absent."""
    out = []
    for condition in conditions:
        key = next(iter(condition))
        if key != END_ALIAS:
            out.append((key.removesuffix("$not"), key.endswith("$not")))
    return out


def probe_ruleset(policy: Policy, code: str) -> tuple[str, dict[str, Any]]:
    """One probe rule per prefix of each rule raising the code, named rule#k (k aliases)."""
    rules: dict[str, Any] = {START_RULE: {"all": [{"m": {"kind": START_KIND}}]}}
    for name, compiled in policy.compiled.items():
        if compiled.code != code:
            continue
        conditions = policy.ruleset[name]["all"]
        k = 0
        for i, condition in enumerate(conditions):
            key, term = next(iter(condition.items()))
            if key == END_ALIAS:
                continue
            k += 1
            rules[f"{name}#{k}"] = {"all": conditions[: i + 1]}
            terms = term["$and"] if not key.endswith("$not") and "$and" in term else []
            for j in range(1, len(terms) + 1):  # this alias's first j terms, the first being its kind
                partial = {"$and": terms[:j]} if j > 1 else terms[0]
                rules[f"{name}#{k}.{j}"] = {"all": [*conditions[:i], {key: partial}]}
    return f"{policy.ruleset_name}?why-not={code}", joins_first(rules)
