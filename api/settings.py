"""Settings from the environment, read once when the app or a command starts."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from engine.registry import default_rules_dir

DEFAULT_MAX_BODY = 1024 * 1024


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "misper"


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    rules_dir: Path
    max_body_bytes: int
    eval_threads: int = 1
    eval_queue: int = 32

    @property
    def keys_file(self) -> Path:
        return self.data_dir / "keys.json"

    @classmethod
    def from_env(cls) -> Settings:
        """MISPER_DATA_DIR moves the data folder (and the key file in it); MISPER_RULES_DIR
        points at another rules folder; MISPER_MAX_BODY_BYTES caps request bodies."""
        return cls(
            data_dir=Path(os.environ.get("MISPER_DATA_DIR") or default_data_dir()),
            rules_dir=default_rules_dir(),
            max_body_bytes=_positive("MISPER_MAX_BODY_BYTES", DEFAULT_MAX_BODY),
            eval_threads=_positive("MISPER_EVAL_THREADS", 1),
            eval_queue=_positive("MISPER_EVAL_QUEUE", 32),
        )


def _positive(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default))
    if not raw.isdigit() or int(raw) <= 0:
        raise ValueError(f"{name} must be a positive whole number, got {raw!r}")
    return int(raw)
