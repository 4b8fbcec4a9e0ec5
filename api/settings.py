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

    @property
    def keys_file(self) -> Path:
        return self.data_dir / "keys.json"

    @classmethod
    def from_env(cls) -> Settings:
        """MISPER_DATA_DIR moves the data folder (and the key file in it); MISPER_RULES_DIR
        points at another rules folder; MISPER_MAX_BODY_BYTES caps request bodies."""
        raw_max = os.environ.get("MISPER_MAX_BODY_BYTES", str(DEFAULT_MAX_BODY))
        if not raw_max.isdigit() or int(raw_max) <= 0:
            raise ValueError(f"MISPER_MAX_BODY_BYTES must be a positive whole number, got {raw_max!r}")
        return cls(
            data_dir=Path(os.environ.get("MISPER_DATA_DIR") or default_data_dir()),
            rules_dir=default_rules_dir(),
            max_body_bytes=int(raw_max),
        )
