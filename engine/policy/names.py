"""Name checks with a 'did you mean' for the policy loader."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def unknown(kind: str, name: object, known: Iterable[str]) -> str | None:
    """None when ``name`` is known, else a sentence naming it, the nearest match and the choices."""
    choices = sorted(str(k) for k in known)
    if isinstance(name, str) and name in choices:
        return None
    close = difflib.get_close_matches(str(name), choices, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    shown = ", ".join(choices) if len(choices) <= 25 else ", ".join(choices[:25]) + ", ..."
    return f"unknown {kind} {name!r}{hint} (known: {shown})"
