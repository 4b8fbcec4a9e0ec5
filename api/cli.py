"""The `misper` command: evaluate a timeline file, list policy versions, validate a rules folder."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from misper.api.keys import KeyRole, KeyStore, KeyStoreError
from misper.api.settings import Settings
from misper.engine import (
    EngineError,
    Policy,
    PolicyRegistry,
    Timeline,
    agree,
    choose_policy,
    default_registry,
    evaluate,
    load_policy,
    parse_instant,
    parse_timeline,
)
from misper.engine.policy.registry import check_versions, default_rules_dir, registry_for
from misper.engine.version import __version__


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 0
    try:
        return int(args.func(args))
    except EngineError as exc:
        _print_error(exc, getattr(args, "file", None))
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="misper",
        description=__doc__,
        epilog="MISPER_RULES_DIR names another rules folder for every command; "
        "MISPER_DATA_DIR moves the data folder (keys).",
    )
    parser.add_argument("--version", action="version", version=f"misper {__version__}")
    sub = parser.add_subparsers(metavar="COMMAND")
    ev = sub.add_parser("evaluate", help="evaluate a timeline file and print the evaluation as JSON")
    ev.add_argument("file", help="a contract v1 timeline (JSON); - reads standard input")
    ev.add_argument("--as-of", help="judge at this instant (ISO 8601 with a UTC offset)")
    ev.add_argument("--policy", help="policy id; default: the version in force at the report")
    ev.add_argument("--rules", help="rules folder holding the policy versions (default: MISPER_RULES_DIR)")
    ev.add_argument("--trace", action="store_true", help="include the facts and the rules that fired")
    ev.add_argument(
        "--format",
        choices=["json", "text"],
        default="json",
        help="json (default, for scripts) or text: one screen for a person",
    )
    ev.add_argument(
        "--why-not",
        metavar="CODE",
        help="also say, for each rule that raises this finding code, which condition no fact met",
    )
    ev.set_defaults(func=_evaluate)
    pol = sub.add_parser("policies", help="list the policy versions")
    pol.add_argument("--rules", help="rules folder holding the policy versions (default: MISPER_RULES_DIR)")
    pol.set_defaults(func=_policies)
    serve = sub.add_parser("serve", help="start the HTTP API (policies are checked first)")
    serve.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    serve.add_argument("--port", type=int, default=8000, help="default: 8000")
    serve.add_argument("--workers", type=int, default=1, help="processes; default: 1")
    serve.set_defaults(func=_serve)
    keys = sub.add_parser("keys", help="manage API keys (stored as hashes in the data folder)")
    keys_sub = keys.add_subparsers(required=True, metavar="ACTION")
    create = keys_sub.add_parser("create", help="make a key and print its secret once")
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=[r.value for r in KeyRole])
    create.set_defaults(func=_keys_create)
    listing = keys_sub.add_parser("list", help="list key names and roles (never secrets)")
    listing.set_defaults(func=_keys_list)
    revoke = keys_sub.add_parser("revoke", help="remove a key; it stops working at once")
    revoke.add_argument("name")
    revoke.set_defaults(func=_keys_revoke)
    rules = sub.add_parser("rules", help="work with rules folders")
    rules_sub = rules.add_subparsers(required=True, metavar="ACTION")
    val = rules_sub.add_parser(
        "validate", help="check a policy folder (or a folder of them) and run its embedded tests"
    )
    val.add_argument("folder", nargs="?", help="default: the shipped rules")
    val.add_argument("--no-tests", action="store_true", help="check the files only")
    val.set_defaults(func=_validate)
    comp = rules_sub.add_parser(
        "compiled", help="print a policy's rules as compiled for the rule engine (durable-rules JSON)"
    )
    comp.add_argument("policy", help="policy id")
    comp.add_argument("--rules", help="rules folder holding the policy versions (default: MISPER_RULES_DIR)")
    comp.set_defaults(func=_compiled)
    db = sub.add_parser(
        "db", help="the incident database (SQLite in the data folder, or MISPER_DATABASE_URL)"
    )
    db_sub = db.add_subparsers(required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", help="apply the schema migrations not yet applied").set_defaults(
        func=_db_upgrade
    )
    audit = sub.add_parser("audit", help="the audit trail of decisions served from stored incidents")
    audit_sub = audit.add_subparsers(required=True, metavar="ACTION")
    verify = audit_sub.add_parser(
        "verify", help="re-evaluate every decision recorded for an incident and compare it with the record"
    )
    verify.add_argument("incident", help="incident id")
    verify.set_defaults(func=_audit_verify)
    rep = sub.add_parser(
        "replay", help="evaluate a corpus of historical incidents (JSON Lines) and report like an inspection"
    )
    rep.add_argument(
        "corpus", help="JSON Lines, one timeline per line (.gz accepted; - reads standard input)"
    )
    rep.add_argument(
        "--policy", help="judge every incident by this policy (default: the one in force at each report)"
    )
    rep.add_argument(
        "--compare", metavar="POLICY_ID", help="also judge by this policy and report what changes"
    )
    rep.add_argument("--out", help="write each result as JSON Lines here")
    rep.add_argument("--csv", help="write every finding as a CSV row here")
    rep.add_argument("--report", help="write the inspection report, one self-contained HTML file, here")
    rep.add_argument("--summary", help="write the summary JSON here instead of printing it")
    rep.add_argument(
        "--errors", help="where refused lines go (default: OUT.errors.jsonl or replay-errors.jsonl)"
    )
    rep.add_argument("--workers", type=int, default=0, help="processes (default: every core)")
    rep.add_argument("--rules", help="rules folder holding the policy versions (default: MISPER_RULES_DIR)")
    rep.set_defaults(func=_replay)
    sim = sub.add_parser("simulate", help="step through an incident as a trainer does, without a server")
    sim.add_argument("file", help="a contract v1 timeline (JSON); - reads standard input")
    sim.add_argument("--at", help="only the state at this instant (ISO 8601 with a UTC offset)")
    sim.add_argument(
        "--until", help="stop at this instant (default: as_of, else the last event or due instant)"
    )
    sim.add_argument("--page", type=int, default=1, help="which page of a long simulation (default 1)")
    sim.add_argument("--policy", help="policy id; default: the version in force at the report")
    sim.add_argument("--rules", help="rules folder holding the policy versions (default: MISPER_RULES_DIR)")
    sim.add_argument("--format", choices=["json", "text"], default="json", help="json (default) or text")
    sim.set_defaults(func=_simulate)
    syn = sub.add_parser("synth", help="print a synthetic year of incidents as JSON Lines (not real data)")
    syn.add_argument("--incidents", type=int, default=2800)
    syn.add_argument("--seed", type=int, default=1)
    syn.set_defaults(func=_synth)
    return parser


def _replay(args: argparse.Namespace) -> int:
    from misper.api.replay.command import run_replay

    rules = Path(args.rules) if args.rules else default_rules_dir()
    return run_replay(args, _registry(args.rules), rules)


def _simulate(args: argparse.Namespace) -> int:
    from misper.engine.judging.simulate import simulate

    loaded = _timeline_and_policy(args)
    if loaded is None:
        return 2
    timeline, policy = loaded
    at = parse_instant("--at", args.at) if args.at else None
    until = parse_instant("--until", args.until) if args.until else None
    result = simulate(timeline, policy, until, args.page, "--page", at, "--at")
    if args.format == "text":
        from misper.api.text import render_simulation

        sys.stdout.write(render_simulation(result))
    else:
        print(result.model_dump_json(indent=2))
    return 0


def _synth(args: argparse.Namespace) -> int:
    from misper.api.replay.synth import synth

    if args.incidents < 1:
        print("misper: --incidents must be at least 1", file=sys.stderr)
        return 2
    out = sys.stdout
    for line in synth(args.incidents, args.seed):
        out.write(line + "\n")
    return 0


def _db_upgrade(args: argparse.Namespace) -> int:
    from misper.api.main import prepare_store
    from misper.api.store import redacted, upgrade

    settings = Settings.from_env()
    prepare_store(settings)
    applied = upgrade(settings.database_url)  # already at the latest: nothing more to apply
    print(
        f"misper: {redacted(settings.database_url)} is at the latest migration"
        + (f" ({', '.join(applied)})" if applied else "")
    )
    return 0


def _audit_verify(args: argparse.Namespace) -> int:
    from misper.api.incident_jobs import verify
    from misper.api.main import prepare_store

    settings = Settings.from_env()
    prepare_store(settings)
    results = verify(settings.database_url, _registry(None), args.incident)
    for seq, same, why in results:
        print(f"decision {seq}: {'OK' if same else 'DIFFERS'} ({why})")
    differ = sum(not same for _, same, _ in results)
    print(
        f"misper: {len(results)} decisions, {len(results) - differ} reproduced, {differ} different",
        file=sys.stderr,
    )
    return 1 if differ else 0


def _compiled(args: argparse.Namespace) -> int:
    policy = _registry(args.rules).get(args.policy)
    print(json.dumps(policy.ruleset, indent=2, ensure_ascii=False))
    return 0


def _registry(rules: str | None) -> PolicyRegistry:
    return registry_for(Path(rules)) if rules else default_registry()


def _timeline_and_policy(args: argparse.Namespace) -> tuple[Timeline, Policy] | None:
    """The timeline FILE (or standard input) and the policy to judge it by; None when the file
    could not be read (the reason is printed)."""
    raw = _read_input(args.file)
    if raw is None:
        return None
    timeline = parse_timeline(raw)
    return timeline, choose_policy(_registry(args.rules), timeline, args.policy, "--policy")


def _evaluate(args: argparse.Namespace) -> int:
    loaded = _timeline_and_policy(args)
    if loaded is None:
        return 2
    timeline, policy = loaded
    given = parse_instant("--as-of", args.as_of) if args.as_of else None
    as_of = agree("--as-of", given, timeline.as_of, "as_of")
    result = evaluate(
        timeline, policy, as_of, trace=args.trace, why_not=args.why_not, why_not_field="--why-not"
    )
    if args.format == "text":
        from misper.api.text import render

        sys.stdout.write(render(result))
    else:
        print(result.to_json())
    return 0


def _read_input(path: str) -> bytes | None:
    """The file (or standard input), refused beyond the same size limit as an HTTP body."""
    limit = Settings.from_env().max_body_bytes
    try:
        if path == "-":
            raw = sys.stdin.buffer.read(limit + 1)
        else:
            with open(path, "rb") as handle:
                raw = handle.read(limit + 1)
    except OSError as exc:
        print(f"misper: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return None
    if len(raw) > limit:
        print(f"misper: {path} is over the limit of {limit} bytes (MISPER_MAX_BODY_BYTES)", file=sys.stderr)
        return None
    return raw


def _policies(args: argparse.Namespace) -> int:
    for p in _registry(args.rules).policies:
        ends = p.meta.effective_to or "-"
        print(f"{p.id}\t{p.meta.effective_from}\t{ends}\t{p.sha256}\t{p.meta.title}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from misper.engine.policy.selftest import run_policy_tests

    folder = Path(args.folder) if args.folder else default_rules_dir()
    folders = (
        [folder]
        if (folder / "policy.yaml").exists()
        else sorted(p.parent for p in folder.glob("*/policy.yaml"))
    )
    if not folders:
        print(f"misper: no policy.yaml in {folder} or its sub-folders", file=sys.stderr)
        return 2
    failed = 0
    policies = [load_policy(path) for path in folders]
    if len(policies) > 1:
        check_versions(policies)
    for policy in policies:
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


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from misper.api.main import load_registry, prepare_store
    from misper.api.protocol import GuardedH11Protocol

    settings = Settings.from_env()
    # A broken or missing rules folder, overlapping versions, a failing embedded test or an
    # unreachable database stop start-up here, with their errors, before anything is served.
    load_registry(settings)
    prepare_store(settings)
    print(f"misper: serving on http://{args.host}:{args.port} (keys: {settings.keys_file})", file=sys.stderr)
    uvicorn.run(
        "misper.api.main:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        http=GuardedH11Protocol,
        timeout_keep_alive=5,
        access_log=False,
        log_level="error",  # uvicorn warns once per malformed request: under attack, a flood
    )
    return 0


def _key_store() -> KeyStore:
    return KeyStore(Settings.from_env().keys_file)


def _keys_create(args: argparse.Namespace) -> int:
    store = _key_store()
    try:
        secret = store.create(args.name, args.role)
    except KeyStoreError as exc:
        print(f"misper: {exc}", file=sys.stderr)
        return 2
    print(secret)
    print(
        f"misper: key {args.name!r} ({args.role}) saved to {store.path}; the secret above is not "
        "stored and will not be shown again",
        file=sys.stderr,
    )
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    try:
        keys = _key_store().list()
    except KeyStoreError as exc:
        print(f"misper: {exc}", file=sys.stderr)
        return 2
    for key in keys:
        print(f"{key.name}\t{key.role}\t{key.created_at}")
    return 0


def _keys_revoke(args: argparse.Namespace) -> int:
    try:
        _key_store().revoke(args.name)
    except KeyStoreError as exc:
        print(f"misper: {exc}", file=sys.stderr)
        return 2
    print(f"misper: key {args.name!r} revoked", file=sys.stderr)
    return 0


def _print_error(exc: EngineError, file: str | None = None) -> None:
    body = {"error": exc.code, "message": exc.message, "errors": [e.as_dict() for e in exc.errors]}
    if file is not None:
        body = {"file": "<stdin>" if file == "-" else file, **body}
    print(json.dumps(body, indent=2), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
