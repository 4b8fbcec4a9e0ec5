"""A throwaway PostgreSQL cluster for the store tests, started from the PostgreSQL binaries on
this machine (Debian's package is installed first where they are missing and the tests run as
root). It listens on a Unix socket in its own folder only, and is stopped and deleted after.

misper connects as ``misper_app``, a role without SUPERUSER or BYPASSRLS that owns each database
it is given, as a deployment's should: row-level security then applies to it."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

APP_ROLE = "misper_app"


def _bindir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


def _install() -> None:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise RuntimeError("PostgreSQL's binaries (initdb, pg_ctl) are not installed; install postgresql")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-q", "postgresql"], check=True, env=env, capture_output=True)


@dataclass
class Cluster:
    folder: Path
    bindir: Path
    port: int
    as_user: list[str]

    def url(self, database: str = "postgres", user: str = APP_ROLE) -> str:
        return f"postgresql://{user}@/{database}?host={self.folder}&port={self.port}"

    def admin(self) -> Any:
        """A connection as the cluster's superuser (autocommit)."""
        import psycopg

        return psycopg.connect(
            f"host={self.folder} port={self.port} user=misper dbname=postgres", autocommit=True
        )

    def new_database(self) -> str:
        name = "t_" + uuid.uuid4().hex[:12]
        with self.admin() as c:
            c.execute(f"CREATE DATABASE {name} OWNER {APP_ROLE}")
        return self.url(name)

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self.as_user, str(self.bindir / tool), *args], check=True, capture_output=True, text=True
        )


def start_cluster() -> Cluster:
    with socket.socket() as s:  # a free port number names the cluster's socket file
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    bindir = _bindir()
    if bindir is None:
        _install()
        bindir = _bindir()
    assert bindir is not None
    folder = Path(tempfile.mkdtemp(prefix="misper-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: run the cluster as the postgres user
        shutil.chown(folder, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    cluster = Cluster(folder, bindir, port, as_user)
    data = folder / "data"
    cluster._run("initdb", "-D", str(data), "-A", "trust", "-U", "misper", "--no-sync", "-E", "UTF8")
    options = f"-c listen_addresses='' -k {folder} -p {port} -c max_connections=100"
    cluster._run("pg_ctl", "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start")
    with cluster.admin() as c:
        c.execute(f"CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS")
    return cluster
