"""The misper command as a user runs it, in a child process from the project folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.paths import ROOT


def misper(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None, timeout: int = 120
) -> subprocess.CompletedProcess[str]:
    """The misper command as a user runs it, from the project folder. ``env``, when given, is
    the whole environment besides a minimal PATH (so nothing of the caller's leaks in)."""
    return subprocess.run(
        [sys.executable, "-m", "misper.api.cli", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=None if env is None else {"PATH": "/usr/bin:/bin", **env},
    )


def serve_with_rules(rules: Path, data: Path) -> subprocess.CompletedProcess[str]:
    """`misper serve --port 1` on these rules and this data folder: the callers expect it to stop
    at start-up, before it listens."""
    return misper("serve", "--port", "1", env={"MISPER_RULES_DIR": str(rules), "MISPER_DATA_DIR": str(data)})
