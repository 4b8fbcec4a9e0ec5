"""Issue 23: an installation from before forces upgrades with nothing lost. The data folder in
tests/data/pre-forces was made by misper before forces (see its make.py): upgrading it without
naming a force is refused, saying how; naming one gives its incidents, decisions, alerts,
receivers and keys that force; every incident is kept, the old keys work in their force, and
every decision recorded before the upgrade still verifies. On PostgreSQL the same rows, loaded
into a database at the last migration before forces, upgrade the same way."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from misper.api.incidents import service
from misper.api.incidents.schema import FORCE_TABLES, decisions
from misper.api.incidents.store import IncidentStore, Scope, _alembic, _migration_engine, upgrade
from misper.engine import default_registry
from tests.support.api import make_api
from tests.support.cli import misper

PRE_FORCES = Path(__file__).parent / "data" / "pre-forces"
INCIDENTS = ["SUF-23-000001", "SUF-23-000002", "SUF-23-004711"]
# The tables in the order their references need (as migration 0003 left them, without force).
TABLES = [t.name for t in FORCE_TABLES]
REGISTRY = default_registry()


@pytest.fixture
def old_folder(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    for name in ("misper.db", "keys.json"):
        shutil.copy(PRE_FORCES / name, data / name)
    _recorded_by_this_engine(data)
    return data


def _recorded_by_this_engine(data: Path) -> None:
    """The folder's decisions were recorded by the engine of its day; a later engine may word an
    answer differently, which verify reports as another engine's answer, not as something the
    upgrade lost. So each decision's hash is first made the one this engine gives for its inputs,
    in the database from before forces: what the upgrade must keep is every input a decision was
    made from (its events, profile version, episodes, policy and instant)."""
    probe = data.parent / "probe"
    probe.mkdir(mode=0o700)
    shutil.copy(data / "misper.db", probe / "misper.db")
    url = f"sqlite:///{probe / 'misper.db'}"
    upgrade(url, "suffolk")
    with IncidentStore(url, Scope("suffolk")).reading() as rows:
        found = rows.db.execute(sa.select(decisions)).all()
        hashes = {
            r.seq: service.answer_hash(service.reproduced(rows, REGISTRY, dict(r._mapping))) for r in found
        }
    old = sa.create_engine(f"sqlite:///{data / 'misper.db'}", poolclass=sa.pool.NullPool)
    with old.begin() as db:
        for seq, digest in hashes.items():
            db.execute(
                sa.text("UPDATE decisions SET result_sha256 = :h WHERE seq = :s"), {"h": digest, "s": seq}
            )
    old.dispose()


def _secrets() -> dict[str, str]:
    return json.loads((PRE_FORCES / "secrets.json").read_text())  # type: ignore[no-any-return]


def _verified(url: str) -> list[tuple[str, int, bool]]:
    store = IncidentStore(url, Scope("suffolk"))
    return [(i, n, same) for i in INCIDENTS for n, same, _ in service.verify(store, REGISTRY, i)]


@pytest.mark.cli
def test_an_sqlite_installation_from_before_forces_upgrades_with_nothing_lost(old_folder: Path) -> None:
    env = {"MISPER_DATA_DIR": str(old_folder), "HOME": str(old_folder.parent)}
    refused = misper("db", "upgrade", env=env)
    assert refused.returncode == 2
    assert "holds 3 incidents" in refused.stdout + refused.stderr
    assert "misper db upgrade --force ID" in refused.stdout + refused.stderr
    listed = misper("keys", "list", env=env).stdout
    assert "desk\tcontrol_room\t(none: run misper db upgrade --force)" in listed

    done = misper("db", "upgrade", "--force", "suffolk", env=env)
    assert done.returncode == 0, done.stderr
    assert "keys now of force suffolk: desk, auditor1, ops, prom" in done.stdout
    listed = misper("keys", "list", env=env).stdout.splitlines()
    assert [line.split("\t")[:3] for line in listed] == [
        ["desk", "control_room", "suffolk"],
        ["auditor1", "auditor", "suffolk"],
        ["ops", "admin", "suffolk"],
        ["prom", "metrics", "national"],
    ]
    for incident in INCIDENTS:
        verified = misper("audit", "verify", incident, env=env)
        assert verified.returncode == 0, verified.stdout + verified.stderr
    assert misper("db", "upgrade", env=env).returncode == 0  # upgraded once: nothing more asked


def test_the_upgraded_folder_serves_its_incidents_to_its_old_keys_and_nothing_to_another_force(
    old_folder: Path,
) -> None:
    upgrade(f"sqlite:///{old_folder / 'misper.db'}", "suffolk")
    from misper.api.keys import KeyStore

    KeyStore(old_folder / "keys.json").give_force("suffolk")
    api = make_api(old_folder)
    secrets = _secrets()
    with api.client:
        desk = {"Authorization": f"Bearer {secrets['desk']}"}
        listed = api.client.get("/v1/incidents?status=all", headers=desk).json()
        assert sorted(i["incident_id"] for i in listed["incidents"]) == INCIDENTS
        case = api.client.get("/v1/incidents/SUF-23-004711", headers=desk).json()
        assert len(case["events"]) == 12 and case["child"]["child_id"]
        trail = api.client.get("/v1/incidents/SUF-23-004711/decisions", headers=desk).json()
        assert trail["total"] == 2
        audited = [
            api.client.get(f"/v1/incidents/{i}/audit", headers=desk).json()["total"] for i in INCIDENTS
        ]
        assert sum(audited) == 1
        alerts = api.client.get("/v1/alerts?status=all&per_page=200", headers=desk).json()
        assert alerts["total"] == 19
        ops = {"Authorization": f"Bearer {secrets['ops']}"}
        assert len(api.client.get("/v1/subscriptions", headers=ops).json()["subscriptions"]) == 1
        sussex = api.auth("sussex:control_room")
        assert api.client.get("/v1/incidents?status=all", headers=sussex).json()["total"] == 0
        assert api.client.get("/v1/alerts?status=all", headers=sussex).json()["total"] == 0
        assert api.client.get("/v1/incidents/SUF-23-004711", headers=sussex).status_code == 404
    assert all(same for _, _, same in _verified(api.app.state.settings.store_url))


def test_a_key_from_before_forces_is_refused_until_the_upgrade_gives_it_one(old_folder: Path) -> None:
    upgrade(f"sqlite:///{old_folder / 'misper.db'}", "suffolk")  # the database, not the keys
    api = make_api(old_folder)
    with api.client:
        answer = api.client.get("/v1/incidents", headers={"Authorization": f"Bearer {_secrets()['desk']}"})
    assert answer.status_code == 403 and answer.json()["type"] == "/problems/key_without_force"
    assert "misper db upgrade --force ID" in answer.json()["detail"]


@pytest.mark.postgresql
def test_a_postgresql_database_from_before_forces_upgrades_with_nothing_lost(
    pg_cluster: Any, old_folder: Path
) -> None:
    url = pg_cluster.new_database().replace("postgresql://", "postgresql+psycopg://")
    migrating = _migration_engine(url)
    with migrating.begin() as db:
        command.upgrade(_alembic(db), "0003")
    old = sa.create_engine(f"sqlite:///{old_folder / 'misper.db'}")
    with old.connect() as source, migrating.begin() as target:
        for table in TABLES:
            rows = [dict(r._mapping) for r in source.execute(sa.text(f"SELECT * FROM {table}"))]
            for row in rows:  # SQLite keeps a boolean as 0 or 1
                if "active" in row:
                    row["active"] = bool(row["active"])
            if rows:
                columns = ", ".join(rows[0])
                values = ", ".join(f":{c}" for c in rows[0])
                target.execute(sa.text(f"INSERT INTO {table} ({columns}) VALUES ({values})"), rows)
        for table, key in (("events", "seq"), ("decisions", "seq"), ("alerts", "seq"), ("audit", "seq")):
            target.execute(
                sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', '{key}'), max({key})) FROM {table}")
            )
    old.dispose()
    migrating.dispose()
    with pytest.raises(Exception, match="holds 3 incidents"):
        upgrade(url)
    assert upgrade(url, "suffolk") == ["0004"]
    found = _verified(url)
    assert len(found) == 3 and all(same for _, _, same in found)
    with IncidentStore(url, Scope("sussex")).reading() as rows:
        assert rows.db.execute(sa.text("SELECT count(*) FROM incidents")).scalar_one() == 0
