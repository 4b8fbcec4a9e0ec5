"""An app wired to a temporary data folder, with one Suffolk key per role (and one per role of a
second force, Sussex, as "sussex:<role>", and an inspectorate key), and the media type of its
problems."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from misper.api.http.app import create_app
from misper.api.keys import KeyRole, KeyStore
from misper.api.settings import Settings
from misper.engine.policy.registry import shipped_rules_dir

PROBLEM = "application/problem+json"


@dataclass
class Api:
    app: FastAPI
    client: TestClient
    keys: dict[str, str]
    store: KeyStore

    def auth(self, role: str = "admin") -> dict[str, str]:
        """A key of that role (a Suffolk one; "sussex:<role>" for Sussex's, "inspectorate" for the
        national auditor's), on a JSON body (the only media type the API takes)."""
        return {"Authorization": f"Bearer {self.keys[role]}", "Content-Type": "application/json"}


def make_api(data_dir: Path, **settings: object) -> Api:
    given = {
        "data_dir": data_dir,
        "rules_dir": shipped_rules_dir(),
        "max_body_bytes": 1024 * 1024,
        # The alert dispatcher reads the wall clock, and stored incidents here are from 2023: it
        # runs only in the tests of alerts, which ask for it.
        "dispatcher": False,
        **settings,
    }
    config = Settings(**given)  # type: ignore[arg-type]
    store = KeyStore(config.keys_file)
    keys = {role.value: store.create(f"test-{role.value}", role.value, _force(role)) for role in KeyRole}
    keys |= {
        f"sussex:{role.value}": store.create(f"sussex-{role.value}", role.value, "sussex")
        for role in KeyRole
        if role != KeyRole.METRICS
    }
    keys["inspectorate"] = store.create("test-inspectorate", KeyRole.AUDITOR, None)
    app = create_app(config)
    return Api(app, TestClient(app), keys, store)


def _force(role: KeyRole) -> str | None:
    return None if role == KeyRole.METRICS else "suffolk"
