"""Name checks with a 'did you mean' for the policy loader."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def unknown(kind: str, name: object, known: Iterable[str]) -> str | None:
    """None when ``name`` is known, else a sentence naming it, the nearest match and the choices."""
    choices = sorted(str(k) for k in known)
    if isinstance(name, str) and name in choices:
        return None
    text = str(name)
    # 'foster' means 'foster_care' more likely than 'other': a choice the name begins.
    close = [c for c in choices if text and c.startswith(text)][:1]
    close = close or difflib.get_close_matches(text, choices, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    shown = ", ".join(choices) if len(choices) <= 25 else ", ".join(choices[:25]) + ", ..."
    return f"unknown {kind} {name!r}{hint} (known: {shown})"
