"""`misper policies` and `misper rules`: the policy versions, checked and compiled."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from misper.api.cli.common import RULES_HELP, registry, rules_dir
from misper.engine import load_policy
from misper.engine.policy.names import unknown
from misper.engine.policy.registry import check_forces, check_versions, read_forces
from misper.engine.policy.schema import SCHEMA_FILES, policy_schema
from misper.engine.policy.selftest import run_policy_tests


def add_commands(sub: Any) -> None:
    pol = sub.add_parser("policies", help="list the policy versions")
    pol.add_argument("--rules", help=RULES_HELP)
    pol.add_argument("--force", help="only this force's versions and the national ones")
    pol.set_defaults(func=policies)
    rules = sub.add_parser("rules", help="work with rules folders")
    rules_sub = rules.add_subparsers(required=True, metavar="ACTION")
    val = rules_sub.add_parser(
        "validate", help="check a policy folder (or a folder of them) and run its embedded tests"
    )
    val.add_argument("folder", nargs="?", help="default: the shipped rules")
    val.add_argument("--no-tests", action="store_true", help="check the files only")
    val.set_defaults(func=validate)
    comp = rules_sub.add_parser(
        "compiled", help="print a policy's rules as compiled for the rule engine (durable-rules JSON)"
    )
    comp.add_argument("policy", help="policy id")
    comp.add_argument("--rules", help=RULES_HELP)
    comp.set_defaults(func=compiled)
    sch = rules_sub.add_parser(
        "schema",
        help="print (or write) the JSON Schema of a kind of policy file, for an editor's YAML server",
    )
    sch.add_argument(
        "kind",
        nargs="?",
        choices=list(SCHEMA_FILES),
        help="policy.yaml, parameters.yaml, or a file of clauses",
    )
    sch.add_argument(
        "--out", metavar="DIR", help=f"write every kind to DIR ({', '.join(SCHEMA_FILES.values())})"
    )
    sch.set_defaults(func=schema)


def policies(args: argparse.Namespace) -> int:
    """id, force (- for national), effective from, effective to, sha256, title."""
    known = registry(args.rules)
    if args.force is not None and args.force not in known.forces:
        hint = unknown("force", args.force, known.forces)
        print(f"misper: {hint}", file=sys.stderr)
        return 2
    chosen = known.policies if args.force is None else known.usable_by(args.force)
    for p in chosen:
        ends = p.meta.effective_to or "-"
        print(f"{p.id}\t{p.meta.force or '-'}\t{p.meta.effective_from}\t{ends}\t{p.sha256}\t{p.meta.title}")
    return 0


def schema(args: argparse.Namespace) -> int:
    if args.out is None:
        if args.kind is None:
            print(
                "misper: name the kind of file (policy, parameters, clauses), or --out DIR for all",
                file=sys.stderr,
            )
            return 2
        print(json.dumps(policy_schema(args.kind), indent=2))
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for kind in [args.kind] if args.kind else list(SCHEMA_FILES):
        path = out / SCHEMA_FILES[kind]
        path.write_text(json.dumps(policy_schema(kind), indent=2) + "\n", encoding="utf-8")
        print(path)
    return 0


def compiled(args: argparse.Namespace) -> int:
    """The rules as the rule engine is given them, each with the parameters written into its
    conditions (name beside value), and the deadlines as the clock judges them."""
    policy = registry(args.rules).get(args.policy)
    rules = {}
    for name, durable in policy.ruleset.items():
        rule = policy.compiled.get(name)
        inlined = [{"where": w, "parameter": p, "value": v} for w, p, v in (rule.inlined if rule else ())]
        rules[name] = {"durable": durable, **({"parameters": inlined} if inlined else {})}
    body: dict[str, Any] = {
        "rules": rules,
        "deadlines": [_deadline(policy, spec) for spec in policy.deadlines],
    }
    if policy.ladder:  # the recommendation below high, rung by rung
        body["ladder"] = [
            {
                "grade": grade,
                "reason": reason,
                "conditions": [{"fact": k, "condition": c} for k, c in conditions],
            }
            for grade, reason, conditions in policy.ladder
        ]
    print(json.dumps(body, indent=2, ensure_ascii=False))
    return 0


def _deadline(policy: Any, spec: Any) -> dict[str, Any]:
    """A deadline as the clock judges it: what starts it, what meets it, what stops it, and each
    interval by the parameter that gives it."""

    def triggers(found: list[Any]) -> list[dict[str, Any]]:
        return [t.model_dump(exclude_defaults=True) for t in found]

    def interval(name: str) -> dict[str, Any]:
        param = policy.parameters[name]
        return {"parameter": name, "value": param.value, "unit": param.unit, "provenance": param.provenance}

    out: dict[str, Any] = {
        "id": spec.id,
        "clause": spec.clause,
        "owner": spec.owner,
        "starts": triggers(spec.start_triggers),
    }
    if spec.due_after:
        out["due_after"] = interval(spec.due_after)
    else:
        out["due_after_by_grade"] = {g: interval(n) for g, n in (spec.due_after_by_grade or {}).items()}
    out["met_by"] = triggers(spec.met_by)
    out["stopped_by"] = triggers(spec.not_applicable_when)
    if spec.brought_forward_by:
        out["brought_forward_by"] = triggers(spec.brought_forward_by)
    if spec.applies_if:
        out["applies_if"] = [{"fact": kind, "condition": c} for kind, c in policy.applies.get(spec.id, ())]
    return out


def validate(args: argparse.Namespace) -> int:
    folder = Path(args.folder) if args.folder else rules_dir(None)
    folders = (
        [folder]
        if (folder / "policy.yaml").exists()
        else sorted(p.parent for p in folder.glob("*/policy.yaml"))
    )
    if not folders:
        print(f"misper: no policy.yaml in {folder} or its sub-folders", file=sys.stderr)
        return 2
    failed = 0
    loaded = [load_policy(path) for path in folders]
    if len(loaded) > 1:
        check_forces(loaded, read_forces(folder)[0])
        check_versions(loaded)
    for policy in loaded:
        line = (
            f"{policy.id}: valid, {len(policy.deadlines)} deadlines, {len(policy.rules)} rules, "
            f"sha256 {policy.sha256}"
        )
        if not args.no_tests:
            results = run_policy_tests(policy)
            bad = [r for r in results if not r.ok]
            failed += len(bad)
            line += f"; embedded tests: {len(results) - len(bad)} passed, {len(bad)} failed"
            for r in bad:
                line += f"\n  FAIL {r.name}: {r.problem}"
        print(line)
    return 1 if failed else 0
