"""What the command groups share: the flags' names for parameters, the rules folder chosen by
--rules and reading a timeline file within the size limit."""

from __future__ import annotations

import sys
from pathlib import Path

from misper.api.settings import Settings
from misper.engine import PolicyRegistry
from misper.engine.policy.registry import registry_for

# On the command line, what is asked beside a timeline is a flag (engine errors name it plainly).
FLAG_LABELS = {
    "policy": "--policy",
    "compare": "--compare",
    "as_of": "--as-of",
    "why_not": "--why-not",
    "until": "--until",
    "page": "--page",
    "at": "--at",
}
RULES_HELP = "rules folder holding the policy versions (default: MISPER_RULES_DIR)"


def rules_dir(rules: str | None) -> Path:
    """--rules when given, else MISPER_RULES_DIR, else the shipped rules."""
    return Path(rules) if rules else Settings.from_env().rules_dir


def registry(rules: str | None) -> PolicyRegistry:
    return registry_for(rules_dir(rules))


def read_input(path: str) -> bytes | None:
    """The file (or standard input), refused beyond the same size limit as an HTTP body; None
    when it cannot be read (the reason is printed)."""
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
