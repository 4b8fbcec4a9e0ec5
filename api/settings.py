"""Every MISPER_ variable, with its default and meaning, in one place (pydantic-settings). Read
once when the app or a command starts; the engine is handed what it needs (its rules folder) and
never reads the environment, nor does the store."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated

from pydantic import Field, PositiveInt, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from misper.engine.errors import EngineError, FieldError
from misper.engine.policy.registry import shipped_rules_dir

DEFAULT_MAX_BODY = 1024 * 1024
DATABASE_FILE = "misper.db"


class SettingsInvalid(EngineError):
    """A setting names something misper cannot use; ``errors`` name the variable."""

    code = "settings_invalid"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "misper"


def cors_origins(raw: str) -> tuple[str, ...]:
    """Comma-separated origins such as https://tools.example.police.uk; '*' is refused (the API
    takes credentials), and so is anything that is not scheme://host[:port]."""
    origins = tuple(o.strip() for o in raw.split(",") if o.strip())
    for origin in origins:
        if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?", origin):
            raise ValueError(f"MISPER_CORS_ORIGINS: {origin!r} is not an origin like https://host[:port]")
    return origins


class Settings(BaseSettings):
    """misper's settings; each field is read from MISPER_<FIELD NAME> (MISPER_DATA_DIR ...)."""

    model_config = SettingsConfigDict(env_prefix="MISPER_", frozen=True, extra="ignore")

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="The data folder: the key file and the SQLite incident database "
        "(default $XDG_DATA_HOME/misper, else ~/.local/share/misper).",
    )
    rules_dir: Path = Field(
        default_factory=shipped_rules_dir,
        description="The folder of policy versions (default: the rules shipped with misper).",
    )
    max_body_bytes: PositiveInt = Field(
        DEFAULT_MAX_BODY, description="The largest request body, and timeline file the CLI reads."
    )
    replay_max_bytes: PositiveInt = Field(
        64 * 1024 * 1024, description="The largest corpus POST /v1/replays takes."
    )
    replay_concurrency: PositiveInt = Field(
        2, description="Replays a server runs at once; more are answered 429 before their body is read."
    )
    small_processes: PositiveInt = Field(1, description="Worker processes of the small lane.")
    small_queue: PositiveInt = Field(64, description="Requests that may wait in the small lane.")
    large_processes: PositiveInt = Field(1, description="Worker processes of the large lane.")
    large_queue: PositiveInt = Field(16, description="Requests that may wait in the large lane.")
    database_url: str | None = Field(
        None,
        description="The incident database: postgresql://user:password@host/db, or sqlite:///path; "
        "default SQLite in the data folder.",
    )
    cors_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="Origins a browser tool may call the API from, comma-separated "
        "(https://tools.example.police.uk); none by default, '*' refused.",
    )
    request_seconds: float = Field(
        10.0, gt=0, le=600, description="How long a request may take to arrive whole (408 after)."
    )
    max_connections: PositiveInt = Field(
        512, description="Open connections beyond this are closed at once (at most half the open-file limit)."
    )

    upgrade_force: str | None = Field(
        None,
        description="The force that incidents, decisions and keys stored before forces belong to, "
        "given to them when the database is upgraded (as `misper db upgrade --force ID`).",
    )
    dispatcher: bool = Field(
        True,
        description="Run the alert dispatcher in `misper serve` (false: a deployment runs "
        "`misper alerts run` apart).",
    )
    dispatcher_idle_seconds: float = Field(
        5.0, gt=0, le=300, description="The longest the dispatcher sleeps with no alert work known."
    )
    webhook_retry_seconds: float = Field(
        3600.0, gt=0, le=7 * 86400, description="How long a delivery is retried before it is marked failed."
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, raw: object) -> object:
        return cors_origins(raw) if isinstance(raw, str) else raw

    @field_validator("database_url", "upgrade_force", mode="before")
    @classmethod
    def _blank_is_none(cls, raw: object) -> object:
        return raw or None

    @property
    def keys_file(self) -> Path:
        return self.data_dir / "keys.json"

    @property
    def store_url(self) -> str:
        """The SQLAlchemy URL of the incident database: MISPER_DATABASE_URL (postgresql://...
        uses psycopg 3), else SQLite in the data folder."""
        configured = self.database_url
        if configured is None:
            return f"sqlite:///{self.data_dir / DATABASE_FILE}"
        for prefix in ("postgresql://", "postgres://", "postgresql+psycopg://"):
            if configured.startswith(prefix):
                return "postgresql+psycopg://" + configured[len(prefix) :]
        if configured.startswith("sqlite:///"):
            return configured
        scheme = configured.partition(":")[0]
        raise SettingsInvalid(
            "MISPER_DATABASE_URL must name a PostgreSQL database (postgresql://user:password@host/db) "
            "or an SQLite file (sqlite:///path)",
            [
                FieldError(
                    "MISPER_DATABASE_URL", f"the scheme {scheme!r} is not one misper stores incidents in"
                )
            ],
        )

    @classmethod
    def from_env(cls) -> Settings:
        """The settings of this process's environment; a bad value stops start-up, named."""
        try:
            return cls()
        except ValidationError as exc:
            errors = [
                FieldError(f"MISPER_{str(e['loc'][0]).upper()}", e["msg"].removeprefix("Value error, "))
                for e in exc.errors(include_url=False)
            ]
            raise SettingsInvalid("a MISPER_ setting is not valid", errors) from None
