"""`misper keys`: make, list and revoke API keys (stored as hashes in the data folder)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from misper.api.keys import KeyRole, KeyStore, KeyStoreError
from misper.api.settings import Settings


def add_commands(sub: Any) -> None:
    keys = sub.add_parser("keys", help="manage API keys (stored as hashes in the data folder)")
    keys_sub = keys.add_subparsers(required=True, metavar="ACTION")
    create = keys_sub.add_parser("create", help="make a key and print its secret once")
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=[r.value for r in KeyRole])
    create.set_defaults(func=create_key)
    listing = keys_sub.add_parser("list", help="list key names and roles (never secrets)")
    listing.set_defaults(func=list_keys)
    revoke = keys_sub.add_parser("revoke", help="remove a key; it stops working at once")
    revoke.add_argument("name")
    revoke.set_defaults(func=revoke_key)


def _key_store() -> KeyStore:
    return KeyStore(Settings.from_env().keys_file)


def create_key(args: argparse.Namespace) -> int:
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


def list_keys(args: argparse.Namespace) -> int:
    try:
        keys = _key_store().list()
    except KeyStoreError as exc:
        print(f"misper: {exc}", file=sys.stderr)
        return 2
    for key in keys:
        print(f"{key.name}\t{key.role}\t{key.created_at}")
    return 0


def revoke_key(args: argparse.Namespace) -> int:
    try:
        _key_store().revoke(args.name)
    except KeyStoreError as exc:
        print(f"misper: {exc}", file=sys.stderr)
        return 2
    print(f"misper: key {args.name!r} revoked", file=sys.stderr)
    return 0
