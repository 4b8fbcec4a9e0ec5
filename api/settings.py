"""Settings from the environment, read once when the app or a command starts."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from misper.engine.policy.registry import default_rules_dir

DEFAULT_MAX_BODY = 1024 * 1024


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "misper"


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    rules_dir: Path
    max_body_bytes: int
    # Worker processes and waiting requests of the two evaluation lanes (api/work.py).
    small_processes: int = 1
    small_queue: int = 64
    large_processes: int = 1
    large_queue: int = 16
    # The incident store: MISPER_DATABASE_URL (postgresql://...), else SQLite in the data folder.
    database: str | None = None
    # POST /v1/replays takes a whole corpus: its own size limit (MISPER_REPLAY_MAX_BYTES).
    max_replay_bytes: int = 64 * 1024 * 1024
    # Origins a browser tool may call the API from (MISPER_CORS_ORIGINS, comma-separated); none
    # by default.
    cors_origins: tuple[str, ...] = ()

    @property
    def database_url(self) -> str:
        from misper.api.store import database_url

        return database_url(self.data_dir, self.database)

    @property
    def keys_file(self) -> Path:
        return self.data_dir / "keys.json"

    @classmethod
    def from_env(cls) -> Settings:
        """MISPER_DATA_DIR moves the data folder (and the key file and SQLite database in it);
        MISPER_RULES_DIR points at another rules folder; MISPER_MAX_BODY_BYTES caps request
        bodies; MISPER_DATABASE_URL names a PostgreSQL database for the incident store."""
        return cls(
            data_dir=Path(os.environ.get("MISPER_DATA_DIR") or default_data_dir()),
            rules_dir=default_rules_dir(),
            max_body_bytes=positive_from_env("MISPER_MAX_BODY_BYTES", DEFAULT_MAX_BODY),
            small_processes=positive_from_env("MISPER_SMALL_PROCESSES", 1),
            small_queue=positive_from_env("MISPER_SMALL_QUEUE", 64),
            large_processes=positive_from_env("MISPER_LARGE_PROCESSES", 1),
            large_queue=positive_from_env("MISPER_LARGE_QUEUE", 16),
            database=os.environ.get("MISPER_DATABASE_URL") or None,
            max_replay_bytes=positive_from_env("MISPER_REPLAY_MAX_BYTES", 64 * 1024 * 1024),
            cors_origins=cors_origins(os.environ.get("MISPER_CORS_ORIGINS", "")),
        )


def positive_from_env(name: str, default: int) -> int:
    """A setting that is a positive whole number; anything else stops start-up, named."""
    raw = os.environ.get(name, str(default))
    if not raw.isdigit() or int(raw) <= 0:
        raise ValueError(f"{name} must be a positive whole number, got {raw!r}")
    return int(raw)


def cors_origins(raw: str) -> tuple[str, ...]:
    """Comma-separated origins such as https://tools.example.police.uk; '*' is refused (the API
    takes credentials), and so is anything that is not scheme://host[:port]."""
    origins = tuple(o.strip() for o in raw.split(",") if o.strip())
    for origin in origins:
        if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?", origin):
            raise ValueError(f"MISPER_CORS_ORIGINS: {origin!r} is not an origin like https://host[:port]")
    return origins
