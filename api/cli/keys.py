"""`misper keys`: make, list and revoke API keys (stored as hashes in the data folder)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from misper.api.keys import KeyRole, KeyStore, KeyStoreError
from misper.api.settings import Settings
from misper.engine.errors import EngineError
from misper.engine.policy.names import unknown
from misper.engine.policy.registry import read_forces


def add_commands(sub: Any) -> None:
    keys = sub.add_parser("keys", help="manage API keys (stored as hashes in the data folder)")
    keys_sub = keys.add_subparsers(required=True, metavar="ACTION")
    create = keys_sub.add_parser("create", help="make a key and print its secret once")
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=[r.value for r in KeyRole])
    whose = create.add_mutually_exclusive_group()
    whose.add_argument(
        "--force",
        metavar="ID",
        help="the force the key belongs to (one of the rules' forces; the only one when there is one)",
    )
    whose.add_argument(
        "--inspectorate",
        action="store_true",
        help="a national auditor key: reads every force's incidents and decisions, each read audited",
    )
    create.set_defaults(func=create_key)
    listing = keys_sub.add_parser("list", help="list key names, roles and forces (never secrets)")
    listing.set_defaults(func=list_keys)
    revoke = keys_sub.add_parser("revoke", help="remove a key; it stops working at once")
    revoke.add_argument("name")
    revoke.set_defaults(func=revoke_key)


def _key_store() -> KeyStore:
    return KeyStore(Settings.from_env().keys_file)


def key_force(args: argparse.Namespace, forces: dict[str, str]) -> str | None:
    """The force a new key belongs to: the one named, the only one the rules declare, or none for
    an inspectorate or metrics key; anything else is refused, never guessed."""
    if args.inspectorate:
        if args.role != KeyRole.AUDITOR:
            raise KeyStoreError("--inspectorate makes a national auditor key: use it with --role auditor")
        return None
    if args.role == KeyRole.METRICS:
        return args.force  # refused by the store when given: a metrics key is national
    if args.force is not None:
        if args.force not in forces:
            raise KeyStoreError(unknown("force", args.force, forces) or args.force)
        return str(args.force)
    if len(forces) == 1:
        return next(iter(forces))
    raise KeyStoreError(
        f"name the force the key belongs to with --force (one of {', '.join(forces)}), "
        "or --inspectorate for a national auditor key"
    )


def create_key(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    store = KeyStore(settings.keys_file)
    try:
        force = key_force(args, read_forces(settings.rules_dir)[0])
        secret = store.create(args.name, args.role, force)
    except (KeyStoreError, EngineError) as exc:
        print(f"misper: {exc}", file=sys.stderr)
        return 2
    print(secret)
    whose = f"force {force}" if force else "national"
    print(
        f"misper: key {args.name!r} ({args.role}, {whose}) saved to {store.path}; the secret above "
        "is not stored and will not be shown again",
        file=sys.stderr,
    )
    return 0


def list_keys(args: argparse.Namespace) -> int:
    try:
        keys = _key_store().list()
    except KeyStoreError as exc:
        print(f"misper: {exc}", file=sys.stderr)
        return 2
    for key in keys:
        whose = key.force or ("national" if key.national else "(none: run misper db upgrade --force)")
        print(f"{key.name}\t{key.role}\t{whose}\t{key.created_at}")
    return 0


def revoke_key(args: argparse.Namespace) -> int:
    try:
        _key_store().revoke(args.name)
    except KeyStoreError as exc:
        print(f"misper: {exc}", file=sys.stderr)
        return 2
    print(f"misper: key {args.name!r} revoked", file=sys.stderr)
    return 0
