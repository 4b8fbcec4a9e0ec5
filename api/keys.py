"""API keys: stored only as SHA-256 hashes, each with a name, a role and a force, in an owner-only
file.

Every key belongs to one force, and every request made with it is judged in that force: its
policies, incidents, alerts and subscriptions. Two kinds of key are national instead: an
inspectorate key (an auditor made with ``national``, which reads every force's incidents, each read
written to the incident's audit trail) and a metrics key (what a Prometheus server scrapes with;
no metric names a force's data). A key made before forces has none until ``misper upgrade
--force`` gives it one, and is refused until then.

Secrets are 32 random bytes, so a plain SHA-256 is a sound verifier (no password stretching is
needed for high-entropy tokens). Lookups compare every stored hash in constant time.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

PREFIX = "msp_"


class KeyRole(StrEnum):
    CONTROL_ROOM = "control_room"
    TRAINER = "trainer"
    AUDITOR = "auditor"
    ADMIN = "admin"
    METRICS = "metrics"  # reads /metrics only: what a Prometheus server scrapes with


NATIONAL_ROLES = frozenset({KeyRole.AUDITOR, KeyRole.METRICS})


@dataclass(frozen=True)
class ApiKey:
    name: str
    role: str
    sha256: str
    created_at: str
    force: str | None = None  # None: national (national is True), or made before forces (False)
    national: bool = False

    @property
    def before_forces(self) -> bool:
        """Made before keys had forces: refused until ``misper db upgrade --force`` names its force."""
        return self.force is None and not self.national


class KeyStoreError(Exception):
    """A key command that cannot be done (duplicate name, unknown name, bad role)."""


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


_TEXT_FIELDS = ("name", "role", "sha256", "created_at")


def _is_entry(k: object) -> bool:
    """A stored key: its text fields, and a force (text, or null for a national key), or no force
    at all when it was made before forces."""
    if not isinstance(k, dict) or not all(isinstance(k.get(f), str) for f in _TEXT_FIELDS):
        return False
    extra = set(k) - set(_TEXT_FIELDS)
    if not extra:
        return True
    return extra == {"force"} and (k["force"] is None or isinstance(k["force"], str))


def _entry(k: ApiKey) -> dict[str, object]:
    entry = asdict(k)
    national = entry.pop("national")
    if k.force is None and not national:
        del entry["force"]  # made before forces, still without one
    return entry


class KeyStoreUnreadable(KeyStoreError):
    """The key file exists but cannot be read or is not a key store: no key can be checked."""


class KeyStore:
    """The key file; re-read when it changes, so keys made or revoked take effect at once.

    Changes (create, revoke) hold an exclusive lock on a lock file beside it for the whole
    read-change-write, so concurrent commands never lose each other's changes.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cache: tuple[tuple[int, int], list[ApiKey]] | None = None

    def list(self) -> list[ApiKey]:
        """The keys; raises KeyStoreUnreadable when the file cannot be used."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise KeyStoreUnreadable(f"the key file {self.path} cannot be read: {exc.strerror}") from None
        version = (stat.st_mtime_ns, stat.st_ino)
        if self._cache is None or self._cache[0] != version:
            self._cache = (version, self._read())
        return list(self._cache[1])

    def _read(self) -> list[ApiKey]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise KeyStoreUnreadable(f"the key file {self.path} cannot be read: {exc.strerror}") from None
        except ValueError:
            raise KeyStoreUnreadable(f"the key file {self.path} is not valid JSON") from None
        entries = data.get("keys") if isinstance(data, dict) else None
        if not isinstance(entries, list) or not all(map(_is_entry, entries)):
            raise KeyStoreUnreadable(
                f'the key file {self.path} is not a key store (expected {{"keys": [...]}} with '
                "name, role, sha256, created_at and force (null for a national key) for each key)"
            )
        return [
            ApiKey(
                *(k[f] for f in _TEXT_FIELDS),
                force=k.get("force"),
                national="force" in k and k["force"] is None,
            )
            for k in entries
        ]

    def problem(self) -> str | None:
        """Why the key file cannot be used, or None when it can (a missing file is an empty
        store). Readiness asks this, so a broken store is not reported as ready."""
        try:
            self.list()
        except KeyStoreUnreadable as exc:
            return str(exc)
        return None

    @contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise KeyStoreError(
                f"cannot change the key store in {self.path.parent}: {exc.strerror}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._cache = None  # read what is on disk now, inside the lock
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def create(self, name: str, role: str, force: str | None) -> str:
        """Add a key of a force (None: a national key, which only an auditor or a metrics key may
        be) and return its secret, which is shown once and never stored. The caller has checked
        that the force is one the rules declare."""
        if role not in set(KeyRole):
            raise KeyStoreError(f"unknown role {role!r}; roles: {', '.join(KeyRole)}")
        if not name or len(name) > 64 or not all(c.isalnum() or c in "-_." for c in name):
            raise KeyStoreError("a key name is 1-64 letters, digits, '-', '_' or '.'")
        if force is None and role not in NATIONAL_ROLES:
            raise KeyStoreError(f"a {role} key belongs to a force: name it with --force")
        if force is not None and role == KeyRole.METRICS:
            raise KeyStoreError("a metrics key is national (metrics name no force's data): omit --force")
        with self._locked():
            keys = self.list()
            if any(k.name == name for k in keys):
                raise KeyStoreError(f"a key named {name!r} already exists; revoke it first")
            secret = PREFIX + secrets.token_urlsafe(32)
            created = datetime.now(UTC).replace(microsecond=0).isoformat()
            made = ApiKey(name, role, _digest(secret), created, force, national=force is None)
            self._write([*keys, made])
        return secret

    def give_force(self, force: str) -> list[str]:
        """Upgrade: every key made before forces becomes the named force's (a metrics key becomes
        national). Returns the names of the keys changed."""
        with self._locked():
            keys = self.list()
            old = [k for k in keys if k.before_forces]
            if old:
                self._write(
                    [
                        (replace(k, national=True) if k.role == KeyRole.METRICS else replace(k, force=force))
                        if k.before_forces
                        else k
                        for k in keys
                    ]
                )
        return [k.name for k in old]

    def revoke(self, name: str) -> None:
        with self._locked():
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
        body = json.dumps({"keys": [_entry(k) for k in keys]}, indent=2)
        try:
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".keys-")
        except OSError as exc:
            raise KeyStoreError(f"cannot write the key file {self.path}: {exc.strerror}") from None
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())  # an acknowledged change survives a crash
            os.replace(tmp, self.path)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise KeyStoreError(f"cannot write the key file {self.path}: {exc.strerror}") from None
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._cache = None
