"""`misper db upgrade` and `misper audit verify`: the incident database and its audit trail."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from misper.api.settings import Settings
from misper.engine.policy.names import unknown
from misper.engine.policy.registry import registry_for


def add_commands(sub: Any) -> None:
    db = sub.add_parser(
        "db", help="the incident database (SQLite in the data folder, or MISPER_DATABASE_URL)"
    )
    db_sub = db.add_subparsers(required=True, metavar="ACTION")
    up = db_sub.add_parser("upgrade", help="apply the schema migrations not yet applied")
    up.add_argument(
        "--force",
        metavar="ID",
        help="the force that what was stored before forces belongs to: its incidents, decisions, "
        "alerts, subscriptions and keys (needed once, when a database from before forces is upgraded)",
    )
    up.set_defaults(func=upgrade)
    audit = sub.add_parser("audit", help="the audit trail of decisions served from stored incidents")
    audit_sub = audit.add_subparsers(required=True, metavar="ACTION")
    check = audit_sub.add_parser(
        "verify", help="re-evaluate every decision recorded for an incident and compare it with the record"
    )
    check.add_argument("incident", help="incident id")
    check.add_argument(
        "--force", metavar="ID", help="the incident's force (default: the rules' default force)"
    )
    check.set_defaults(func=audit_verify)


def upgrade(args: argparse.Namespace) -> int:
    from misper.api.incidents.store import redacted  # the database's code: see alerts.run
    from misper.api.startup import prepare_store

    settings = Settings.from_env()
    registry = registry_for(settings.rules_dir)
    given = prepare_store(settings, registry, args.force)
    print(f"misper: {redacted(settings.store_url)} is at the latest migration")
    if given:
        print(f"misper: keys now of force {args.force}: {', '.join(given)}")
    return 0


def audit_verify(args: argparse.Namespace) -> int:
    from misper.api.incidents.service import verify  # the database's code: see alerts.run
    from misper.api.incidents.store import IncidentStore, Scope
    from misper.api.startup import prepare_store

    settings = Settings.from_env()
    registry = registry_for(settings.rules_dir)
    prepare_store(settings, registry)
    force = args.force or registry.default_force()
    if force not in registry.forces:
        print(f"misper: {unknown('force', force, registry.forces)}", file=sys.stderr)
        return 2
    results = verify(IncidentStore(settings.store_url, Scope(force)), registry, args.incident)
    for seq, same, why in results:
        print(f"decision {seq}: {'OK' if same else 'DIFFERS'} ({why})")
    differ = sum(not same for _, same, _ in results)
    print(
        f"misper: {len(results)} decisions, {len(results) - differ} reproduced, {differ} different",
        file=sys.stderr,
    )
    return 1 if differ else 0
