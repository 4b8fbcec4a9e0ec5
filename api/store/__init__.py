"""The incident store: incidents, their child profiles, their events and the decisions served
from them, in SQLite (the default: one file in the data folder) or PostgreSQL
(MISPER_DATABASE_URL).

Durability: SQLite runs in WAL mode with synchronous=FULL and every write transaction begins
IMMEDIATE (it takes the write lock at once, so concurrent appends queue instead of failing);
PostgreSQL commits synchronously (its default). A write is acknowledged only after its commit.
Appends to one incident are serialised (a row lock on PostgreSQL, the write lock on SQLite), so
parallel clients can neither lose nor duplicate an event.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from misper.api.store.schema import decisions, events, incidents, profiles
from misper.engine.errors import EngineError, FieldError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
DATABASE_FILE = "misper.db"
PREVIOUS_EPISODES_LIMIT = 1_000  # a child's stored episodes counted, the latest first


class UnknownIncident(EngineError):
    code = "unknown_incident"


class IncidentConflict(EngineError):
    code = "incident_conflict"


class StoreNotReady(EngineError):
    code = "store_not_ready"


@dataclass(frozen=True)
class Summary:
    """What the worklist shows of an incident, worked out from its timeline in event time."""

    status: str
    report_at: int | None
    recorded_on: str | None
    current_grade: str | None
    required_role: str | None
    next_deadline: str | None = None
    next_occurrence: int | None = None
    next_owner: str | None = None
    next_due_at: int | None = None
    next_due_text: str | None = None


# (combined timeline body, number of stored events before the new ones, the request's index of
# each new event) -> summary; raises the engine's InvalidTimeline for a timeline they would make
# invalid.
Check = Callable[[dict[str, Any], int, list[int]], Summary]


def database_url(data_dir: Path, configured: str | None) -> str:
    """MISPER_DATABASE_URL when set (postgresql://... uses psycopg 3), else SQLite in the data folder."""
    if configured:
        for prefix in ("postgresql://", "postgres://", "postgresql+psycopg://"):
            if configured.startswith(prefix):
                return "postgresql+psycopg://" + configured[len(prefix) :]
        if configured.startswith("sqlite:///"):
            return configured
        scheme = configured.partition(":")[0]
        raise StoreNotReady(
            "MISPER_DATABASE_URL must name a PostgreSQL database (postgresql://user:password@host/db) "
            "or an SQLite file (sqlite:///path)",
            [
                FieldError(
                    "MISPER_DATABASE_URL", f"the scheme {scheme!r} is not one misper stores incidents in"
                )
            ],
        )
    return f"sqlite:///{data_dir / DATABASE_FILE}"


@contextmanager
def reachable(url: str) -> Iterator[None]:
    """Database failures (unreachable, refused, gone away) as a named 503, never a traceback."""
    try:
        yield
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0][:300]
        raise StoreNotReady(f"the database {redacted(url)} cannot be used: {reason}") from None


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return sa.engine.make_url(url).render_as_string(hide_password=True)


_ENGINES: dict[str, sa.Engine] = {}


def engine_for(url: str) -> sa.Engine:
    """One connection pool per database per process (the server and each worker process)."""
    if url not in _ENGINES:
        if url.startswith("sqlite"):
            made = sa.create_engine(url, connect_args={"timeout": 60})
            sa.event.listen(made, "connect", _sqlite_connect)
            sa.event.listen(made, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        else:
            made = sa.create_engine(url, pool_pre_ping=True)
        _ENGINES[url] = made
    return _ENGINES[url]


def _sqlite_connect(dbapi_connection: Any, _: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event issues BEGIN IMMEDIATE
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=60000"):
        dbapi_connection.execute(f"PRAGMA {pragma}")


def _alembic(connection: sa.Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(url: str) -> list[str]:
    """Apply the migrations not yet applied; return their revisions, oldest first."""
    engine = engine_for(url)
    with reachable(url), engine.begin() as connection:
        before = MigrationContext.configure(connection).get_current_revision()
        command.upgrade(_alembic(connection), "head")
        after = MigrationContext.configure(connection).get_current_revision()
    script = ScriptDirectory(str(MIGRATIONS))
    applied = [rev.revision for rev in script.iterate_revisions(after, before)] if after != before else []
    return list(reversed(applied))


def check_current(url: str) -> None:
    """The database is at the latest migration (the server upgrades it at start-up)."""
    with engine_for(url).connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    if current != head:
        raise StoreNotReady(
            f"the database {redacted(url)} is at migration {current or 'none'}, not {head}; "
            "run misper db upgrade"
        )


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = engine_for(url)

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        with reachable(self.url), self.engine.begin() as connection:
            yield connection

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with reachable(self.url), self.engine.connect() as connection:
            yield connection

    def put_incident(
        self, incident_id: str, child: dict[str, Any], policy: str | None, now: str
    ) -> tuple[bool, int]:
        """Create the incident, or give it a new child profile when this one differs. Returns
        (created, profile version). Two clients creating one incident at once: the primary key
        refuses the second insert, and that client then saves its profile as the next version."""
        try:
            return self._put(incident_id, child, policy, now)
        except sa.exc.IntegrityError:
            return self._put(incident_id, child, policy, now)

    def _put(self, incident_id: str, child: dict[str, Any], policy: str | None, now: str) -> tuple[bool, int]:
        with self._write() as db:
            row = db.execute(
                sa.select(incidents.c.profile_version)
                .where(incidents.c.incident_id == incident_id)
                .with_for_update()
            ).first()
            if row is None:
                db.execute(
                    incidents.insert().values(
                        incident_id=incident_id,
                        child_id=child["child_id"],
                        profile_version=1,
                        created_at=now,
                        status="open",
                        event_count=0,
                    )
                )
                db.execute(
                    profiles.insert().values(
                        incident_id=incident_id, version=1, child=_json(child), policy=policy, put_at=now
                    )
                )
                return True, 1
            version = int(row.profile_version)
            current = db.execute(
                sa.select(profiles.c.child, profiles.c.policy).where(
                    profiles.c.incident_id == incident_id, profiles.c.version == version
                )
            ).one()
            if json.loads(current.child) == child and current.policy == policy:
                return False, version
            version += 1
            db.execute(
                profiles.insert().values(
                    incident_id=incident_id, version=version, child=_json(child), policy=policy, put_at=now
                )
            )
            db.execute(
                incidents.update()
                .where(incidents.c.incident_id == incident_id)
                .values(profile_version=version, child_id=child["child_id"])
            )
            return False, version

    def append(
        self,
        incident_id: str,
        batch: list[dict[str, Any]],
        now: str,
        same: Callable[[str, dict[str, Any]], bool],
        check: Check,
    ) -> dict[str, Any]:
        """Append events; an id already stored with the same content is acknowledged again, with
        other content refused (409). The combined timeline must stay valid."""
        with self._write() as db:
            incident = self._locked(db, incident_id)
            stored = {
                r.event_id: r.body
                for r in db.execute(
                    sa.select(events.c.event_id, events.c.body)
                    .where(events.c.incident_id == incident_id)
                    .order_by(events.c.seq)
                )
            }
            added: list[dict[str, Any]] = []
            positions: list[int] = []
            repeated: list[str] = []
            conflicts: list[FieldError] = []
            in_batch: dict[str, int] = {}
            for index, event in enumerate(batch):
                event_id = event["id"]
                earlier = stored.get(event_id)
                if earlier is None and event_id in in_batch:
                    earlier = _json(batch[in_batch[event_id]])
                if earlier is None:
                    in_batch[event_id] = index
                    added.append(event)
                    positions.append(index)
                elif same(earlier, event):
                    repeated.append(event_id)
                else:
                    conflicts.append(
                        FieldError(
                            f"events[{index}]",
                            f"event {event_id!r} is already stored with different content; an event is never "
                            "edited: send a new event with 'corrects' naming it",
                        )
                    )
            if conflicts:
                raise IncidentConflict(
                    f"incident {incident_id} already holds other events under these ids", conflicts
                )
            if added:
                body, _ = self._timeline(db, incident, [*map(json.loads, stored.values()), *added])
                summary = check(body, len(stored), positions)
                db.execute(
                    events.insert(),
                    [
                        {
                            "incident_id": incident_id,
                            "event_id": e["id"],
                            "body": _json(e),
                            "received_at": now,
                        }
                        for e in added
                    ],
                )
                db.execute(
                    incidents.update()
                    .where(incidents.c.incident_id == incident_id)
                    .values(event_count=len(stored) + len(added), **summary.__dict__)
                )
            return {
                "incident_id": incident_id,
                "added": [e["id"] for e in added],
                "repeated": repeated,
                "event_count": len(stored) + len(added),
            }

    def timeline(self, incident_id: str) -> tuple[dict[str, Any], int, list[dict[str, Any]]]:
        """The stored timeline as contract v1 JSON (every event, corrected ones included), its
        profile version, and the stored episodes of the same child it counts."""
        with self._read() as db:
            incident = self._row(db, incident_id)
            stored = [
                json.loads(r.body)
                for r in db.execute(
                    sa.select(events.c.body).where(events.c.incident_id == incident_id).order_by(events.c.seq)
                )
            ]
            body, counted = self._timeline(db, incident, stored)
        return body, int(incident.profile_version), counted

    def _timeline(
        self, db: sa.Connection, incident: Any, stored: list[dict[str, Any]]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        profile = db.execute(
            sa.select(profiles.c.child, profiles.c.policy).where(
                profiles.c.incident_id == incident.incident_id, profiles.c.version == incident.profile_version
            )
        ).one()
        child = json.loads(profile.child)
        episodes = self._episodes(db, incident)
        given = {e["reported_at"] for e in child.get("previous_episodes", [])}
        extra = [e for e in episodes if e["reported_at"] not in given]
        body: dict[str, Any] = {"incident_id": incident.incident_id, "child": child, "events": stored}
        if extra:
            child["previous_episodes"] = [*child.get("previous_episodes", []), *extra]
        if profile.policy:
            body["policy"] = profile.policy
        return body, extra

    def _episodes(self, db: sa.Connection, incident: Any) -> list[dict[str, Any]]:
        """The child's other stored incidents reported before this one and recorded on COMPACT or
        a child risk assessment form (R3), as previous episodes."""
        if incident.report_at is None:
            return []
        rows = db.execute(
            sa.select(incidents.c.report_at, incidents.c.recorded_on)
            .where(
                incidents.c.child_id == incident.child_id,
                incidents.c.incident_id != incident.incident_id,
                incidents.c.report_at < incident.report_at,
                incidents.c.recorded_on.is_not(None),
            )
            .order_by(incidents.c.report_at.desc())
            .limit(PREVIOUS_EPISODES_LIMIT)
        )
        return [
            {
                "reported_at": datetime.fromtimestamp(r.report_at, UTC).isoformat(),
                "recorded_on": r.recorded_on,
            }
            for r in reversed(rows.all())
        ]

    def _locked(self, db: sa.Connection, incident_id: str) -> Any:
        row = db.execute(
            sa.select(incidents).where(incidents.c.incident_id == incident_id).with_for_update()
        ).first()
        if row is None:
            raise _unknown(incident_id)
        return row

    def _row(self, db: sa.Connection, incident_id: str) -> Any:
        row = db.execute(sa.select(incidents).where(incidents.c.incident_id == incident_id)).first()
        if row is None:
            raise _unknown(incident_id)
        return row

    def record_decision(self, record: dict[str, Any]) -> int:
        with self._write() as db:
            result = db.execute(decisions.insert().values(**record))
            return int(result.inserted_primary_key[0])

    def decisions(self, incident_id: str, page: int, per_page: int) -> tuple[list[dict[str, Any]], int]:
        with self._read() as db:
            self._row(db, incident_id)
            total = db.execute(
                sa.select(sa.func.count()).where(decisions.c.incident_id == incident_id)
            ).scalar_one()
            rows = db.execute(
                sa.select(decisions)
                .where(decisions.c.incident_id == incident_id)
                .order_by(decisions.c.seq)
                .limit(per_page)
                .offset((page - 1) * per_page)
            )
            return [dict(r._mapping) for r in rows], int(total)

    def decision_timeline(self, record: dict[str, Any]) -> dict[str, Any]:
        """The timeline a recorded decision was made on: its profile version, the events it saw
        (by id, in stored order) and the stored episodes it counted."""
        with self._read() as db:
            self._row(db, record["incident_id"])
            wanted = json.loads(record["event_ids"])
            bodies = {
                r.event_id: json.loads(r.body)
                for r in db.execute(
                    sa.select(events.c.event_id, events.c.body).where(
                        events.c.incident_id == record["incident_id"], events.c.event_id.in_(wanted)
                    )
                )
            }
            profile = db.execute(
                sa.select(profiles.c.child, profiles.c.policy).where(
                    profiles.c.incident_id == record["incident_id"],
                    profiles.c.version == record["profile_version"],
                )
            ).one()
        child = json.loads(profile.child)
        counted = json.loads(record["previous_episodes"])
        if counted:
            child["previous_episodes"] = [*child.get("previous_episodes", []), *counted]
        body: dict[str, Any] = {
            "incident_id": record["incident_id"],
            "child": child,
            "events": [bodies[i] for i in wanted],
        }
        if profile.policy:
            body["policy"] = profile.policy
        return body

    def worklist(self, status: str, page: int, per_page: int) -> tuple[list[dict[str, Any]], int]:
        """Incidents by status, most urgent first: the earliest next due instant, then those with
        none, then by id."""
        where = [] if status == "all" else [incidents.c.status == status]
        with self._read() as db:
            total = db.execute(sa.select(sa.func.count()).select_from(incidents).where(*where)).scalar_one()
            rows = db.execute(
                sa.select(incidents)
                .where(*where)
                .order_by(incidents.c.next_due_at.is_(None), incidents.c.next_due_at, incidents.c.incident_id)
                .limit(per_page)
                .offset((page - 1) * per_page)
            )
            return [dict(r._mapping) for r in rows], int(total)


def _unknown(incident_id: str) -> UnknownIncident:
    return UnknownIncident(
        f"no incident {incident_id!r} is stored; create it with PUT /v1/incidents/{{incident_id}} first",
        [FieldError("incident_id", f"{incident_id!r} is not a stored incident")],
    )


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
