"""API keys: stored only as SHA-256 hashes, each with a name and a role, in an owner-only file.

Secrets are 32 random bytes, so a plain SHA-256 is a sound verifier (no password stretching is
needed for high-entropy tokens). Lookups compare every stored hash in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

PREFIX = "msp_"


class KeyRole(StrEnum):
    CONTROL_ROOM = "control_room"
    TRAINER = "trainer"
    AUDITOR = "auditor"
    ADMIN = "admin"


@dataclass(frozen=True)
class ApiKey:
    name: str
    role: str
    sha256: str
    created_at: str


class KeyStoreError(Exception):
    """A key command that cannot be done (duplicate name, unknown name, bad role)."""


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyStore:
    """The key file; re-read when it changes, so keys made or revoked take effect at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cache: tuple[float, list[ApiKey]] | None = None

    def list(self) -> list[ApiKey]:
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return []
        if self._cache is None or self._cache[0] != mtime:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            self._cache = (mtime, [ApiKey(**k) for k in data.get("keys", [])])
        return list(self._cache[1])

    def problem(self) -> str | None:
        """Why the key file cannot be used, or None when it can (a missing file is an empty
        store). Readiness asks this, so a broken store is not reported as ready."""
        try:
            keys = self.list()
        except OSError as exc:
            return f"the key file {self.path} cannot be read: {exc.strerror}"
        except (ValueError, TypeError, AttributeError):
            return f"the key file {self.path} is not a valid key store"
        if not all(isinstance(k.name, str) and isinstance(k.sha256, str) for k in keys):
            return f"the key file {self.path} is not a valid key store"
        return None

    def create(self, name: str, role: str) -> str:
        """Add a key and return its secret, which is shown once and never stored."""
        if role not in set(KeyRole):
            raise KeyStoreError(f"unknown role {role!r}; roles: {', '.join(KeyRole)}")
        if not name or len(name) > 64 or not all(c.isalnum() or c in "-_." for c in name):
            raise KeyStoreError("a key name is 1-64 letters, digits, '-', '_' or '.'")
        keys = self.list()
        if any(k.name == name for k in keys):
            raise KeyStoreError(f"a key named {name!r} already exists; revoke it first")
        secret = PREFIX + secrets.token_urlsafe(32)
        created = datetime.now(UTC).replace(microsecond=0).isoformat()
        self._write([*keys, ApiKey(name, role, _digest(secret), created)])
        return secret

    def revoke(self, name: str) -> None:
        keys = self.list()
        if not any(k.name == name for k in keys):
            raise KeyStoreError(f"no key named {name!r}")
        self._write([k for k in keys if k.name != name])

    def verify(self, secret: str) -> ApiKey | None:
        """The key whose hash matches, compared in constant time against every stored hash."""
        digest = _digest(secret)
        match = None
        for key in self.list():
            if hmac.compare_digest(digest, key.sha256):
                match = key
        return match

    def _write(self, keys: list[ApiKey]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        body = json.dumps({"keys": [asdict(k) for k in keys]}, indent=2)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".keys-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(body)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._cache = None
