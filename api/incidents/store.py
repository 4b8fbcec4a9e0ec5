"""The incident store: plain data operations on incidents, their child profiles, their events and
the decisions served from them, in SQLite (one file in the data folder) or PostgreSQL. It knows
no policy, no timeline and no settings: the incident service decides, the store reads and writes
rows, on one connection per transaction.

Durability: SQLite runs in WAL mode with synchronous=FULL and every write transaction begins
IMMEDIATE (it takes the write lock at once, so concurrent appends queue instead of failing);
PostgreSQL commits synchronously (its default). A write is acknowledged only after its commit.
``lock`` takes the incident's row lock on PostgreSQL (the write lock on SQLite), so parallel
clients of one incident are serialised and can neither lose nor duplicate an event.

Forces: a store is opened for one ``Scope``, one force's rows or every force's, and no query has
to remember it. On SQLite every statement a scoped transaction runs is rewritten in one place
(``scoped``): each read, update or delete of a force's table is limited to the scope's force, and
each insert is given it. On PostgreSQL the transaction sets ``misper.force``, which the tables'
row-level security policies read (migration 0004), so the database itself shows and changes only
that force's rows; inserts are given the force as on SQLite. A transaction with no scope runs
nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
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

from misper.api.incidents.models import WorklistEntry
from misper.api.incidents.schema import FORCE_TABLES, decisions, events, incidents, profiles
from misper.engine.errors import EngineError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MIGRATION_LOCK = 0x6D69737065720001  # "misper" and 1: the advisory lock migrations run under
PREVIOUS_EPISODES_LIMIT = 1_000  # a child's stored episodes counted, the latest first


class StoreNotReady(EngineError):
    code = "store_not_ready"


class UpgradeNeedsForce(StoreNotReady):
    """The database holds rows from before forces and the upgrade named no force to give them."""


@dataclass(frozen=True)
class Scope:
    """Whose rows a transaction sees and writes: one force's, or every force's (``force`` None),
    which only the alert dispatcher (which judges every force's incidents, each in its own force)
    and the inspectorate's reads are given."""

    force: str | None

    @property
    def setting(self) -> str:
        """The value of PostgreSQL's ``misper.force`` for the transaction."""
        return "*" if self.force is None else self.force


EVERY_FORCE = Scope(None)
SCOPE = "misper.scope"  # where a connection's current scope is kept (Connection.info)


class ScopeMissing(Exception):
    """A statement was run outside ``IncidentStore.writing()`` or ``reading()``: a bug, refused."""


class CreatedMeanwhile(Exception):
    """Another client created the incident between this one's read and its insert."""


@dataclass(frozen=True)
class Profile:
    """One version of an incident's child profile, as stored."""

    child: dict[str, Any]
    policy: str | None


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
    """One connection pool per database per process (the server and each worker process). Its
    errors never carry a statement's parameters (a child's profile, a quoted note), so nothing
    about a child reaches a log through them."""
    if url not in _ENGINES:
        if url.startswith("sqlite"):
            _owner_only(sa.engine.make_url(url).database)
            made = sa.create_engine(url, connect_args={"timeout": 60}, hide_parameters=True)
            sa.event.listen(made, "connect", _sqlite_connect)
            sa.event.listen(made, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        else:
            made = sa.create_engine(url, pool_pre_ping=True, hide_parameters=True)
        sa.event.listen(made, "before_execute", _in_scope, retval=True)
        _ENGINES[url] = made
    return _ENGINES[url]


def _in_scope(
    conn: sa.Connection, statement: Any, multiparams: Any, params: Any, options: Any
) -> tuple[Any, Any, Any]:
    """Every statement of a store transaction, limited to its scope (see ``scoped``). On
    PostgreSQL the database's row-level security limits reads, updates and deletes to the force
    the transaction set (migration 0004), so only inserts are given their force here: rewriting
    every statement as well cost an append about a sixth of its time."""
    scope = conn.info.get(SCOPE)
    if scope is None:
        raise ScopeMissing("a statement was run outside a scoped store transaction")
    if conn.dialect.name == "postgresql" and not isinstance(statement, sa.Insert):
        return statement, multiparams, params
    return scoped(statement, scope, multiparams), multiparams, params


_SCOPED = frozenset(FORCE_TABLES)


def _tables(found: Any) -> Iterator[sa.Table]:
    if isinstance(found, sa.Table):
        yield found
    elif isinstance(found, sa.Join):
        yield from _tables(found.left)
        yield from _tables(found.right)


def scoped(statement: Any, scope: Scope, multiparams: Any = ()) -> Any:
    """The statement as the scope allows it: each SELECT (subqueries included) reads only the
    scope's force's rows of every force's table it names, each UPDATE and DELETE changes only
    them, and an INSERT is given the force (every force's scope: the insert must name its own)."""
    if isinstance(statement, sa.Insert):
        return _insert_in_scope(statement, scope, multiparams)
    if scope.force is None or not isinstance(statement, sa.Select | sa.Update | sa.Delete):
        return statement
    direct = _flat_tables(statement)
    if direct is not None:
        # No statement inside this one (the usual case): its tables are all in its own FROM (or
        # its UPDATE/DELETE target), and one generative where() limits them, without a deep copy.
        return (
            statement.where(*(t.c.force == scope.force for t in sorted(direct, key=str)))
            if direct
            else statement
        )

    def limit_select(select: Any) -> None:
        found = {t for f in select.get_final_froms() for t in _tables(f) if t in _SCOPED}
        select._where_criteria += tuple(t.c.force == scope.force for t in sorted(found, key=str))

    def limit_change(change: Any) -> None:
        if change.table in _SCOPED:
            change._where_criteria += (change.table.c.force == scope.force,)

    visit = {"select": limit_select, "update": limit_change, "delete": limit_change}
    return sa.sql.visitors.cloned_traverse(statement, {}, visit)


def _flat_tables(statement: Any) -> set[sa.Table] | None:
    """The force tables a statement names, when no statement is nested in it; None otherwise. An
    alias of a force table is refused: the scoping reads tables by name."""
    found: set[sa.Table] = set()
    nested = False
    for element in sa.sql.visitors.iterate(statement):
        nested = nested or (element is not statement and isinstance(element, sa.Select))
        if isinstance(element, sa.Alias) and getattr(element, "element", None) in _SCOPED:
            raise ScopeMissing("an alias of a force table cannot be scoped: name the table itself")
        table = element if isinstance(element, sa.Table) else getattr(element, "table", None)
        if table in _SCOPED:
            found.add(table)
    return None if nested else found


def _insert_in_scope(statement: Any, scope: Scope, multiparams: Any) -> Any:
    if statement.table not in _SCOPED:
        return statement
    given = {getattr(k, "key", k): v for k, v in (statement._values or {}).items()}
    rows = multiparams if isinstance(multiparams, list | tuple) else [multiparams]
    named = {getattr(given.get("force"), "value", None)} | {
        r.get("force") for r in rows if isinstance(r, dict) and "force" in r
    }
    named.discard(None)
    if scope.force is None:
        if not named:
            raise ScopeMissing(f"an insert into {statement.table.name} across forces names no force")
        return statement
    if named - {scope.force}:
        raise ScopeMissing(f"an insert into {statement.table.name} names another force than its scope's")
    return statement if "force" in given else statement.values(force=scope.force)


def _owner_only(database: str | None) -> None:
    """The database file holds child data: it is made owner-only before SQLite opens it, whatever
    the folder's mode (SQLite makes its -wal and -shm files with the database file's mode), and
    an existing one, with its -wal and -shm, is made so too."""
    if not database or database == ":memory:":
        return
    path = Path(database)
    if path.parent.is_dir():
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for part in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if part.exists() and part.stat().st_mode & 0o077:
            part.chmod(0o600)


def _sqlite_connect(dbapi_connection: Any, _: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event issues BEGIN IMMEDIATE
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=60000"):
        dbapi_connection.execute(f"PRAGMA {pragma}")


def _alembic(connection: sa.Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(url: str, force: str | None = None) -> list[str]:
    """Apply the migrations not yet applied; return their revisions, oldest first. ``force`` is
    the force the rows stored before forces belong to (migration 0004); a database holding such
    rows is not upgraded without one (UpgradeNeedsForce). On PostgreSQL the role misper connects
    as must not bypass row-level security."""
    engine_for(url)  # the database file made owner-only first
    migrating = _migration_engine(url)
    try:
        with reachable(url), migrating.begin() as connection:
            if connection.dialect.name == "postgresql":
                _refuse_bypassing_role(connection, url)
                # Servers starting together on a new database take turns: the first creates the
                # tables, the others find them made (without it, one failed creating a type twice).
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
                connection.execute(sa.text("SELECT set_config('misper.force', '*', true)"))
            before = MigrationContext.configure(connection).get_current_revision()
            config = _alembic(connection)
            config.attributes["upgrade_force"] = force
            command.upgrade(config, "head")
            after = MigrationContext.configure(connection).get_current_revision()
    finally:
        migrating.dispose()
    script = ScriptDirectory(str(MIGRATIONS))
    applied = [rev.revision for rev in script.iterate_revisions(after, before)] if after != before else []
    return list(reversed(applied))


def _migration_engine(url: str) -> sa.Engine:
    """A connection of its own for the migrations, closed after them: on SQLite with foreign keys
    off (a table is rebuilt by copying it; each migration that does so checks them after), on
    PostgreSQL seeing every force's rows."""
    if not url.startswith("sqlite"):
        return sa.create_engine(url, poolclass=sa.pool.NullPool, hide_parameters=True)
    made = sa.create_engine(
        url, connect_args={"timeout": 60}, hide_parameters=True, poolclass=sa.pool.NullPool
    )

    def connect(dbapi_connection: Any, _: Any) -> None:
        _sqlite_connect(dbapi_connection, _)
        dbapi_connection.execute("PRAGMA foreign_keys=OFF")

    sa.event.listen(made, "connect", connect)
    sa.event.listen(made, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    return made


def _refuse_bypassing_role(connection: sa.Connection, url: str) -> None:
    role, bypasses = connection.execute(
        sa.text("SELECT rolname, rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user")
    ).one()
    if bypasses:
        raise StoreNotReady(
            f"the database {redacted(url)} is used as role {role!r}, which bypasses row-level security "
            "(SUPERUSER or BYPASSRLS), so forces would not be kept apart by the database; connect as a "
            "role without them that owns misper's tables (README: Forces)"
        )


class IncidentStore:
    """A database of incidents, seen in one scope; each ``writing()`` or ``reading()`` is one
    connection and, when writing, one transaction, committed when the block ends without an
    error."""

    def __init__(self, url: str, scope: Scope) -> None:
        self.url = url
        self.scope = scope
        self.engine = engine_for(url)

    @contextmanager
    def writing(self) -> Iterator[Rows]:
        try:
            with reachable(self.url), self.engine.begin() as connection, self._scoped(connection):
                yield Rows(connection, self.scope)
        except sa.exc.IntegrityError:
            raise CreatedMeanwhile from None

    @contextmanager
    def reading(self) -> Iterator[Rows]:
        with reachable(self.url), self.engine.connect() as connection, self._scoped(connection):
            yield Rows(connection, self.scope)

    @contextmanager
    def _scoped(self, connection: sa.Connection) -> Iterator[None]:
        connection.info[SCOPE] = self.scope
        try:
            if connection.dialect.name == "postgresql":
                connection.execute(
                    sa.text("SELECT set_config('misper.force', :force, true)"), {"force": self.scope.setting}
                )
            yield
        finally:
            connection.info.pop(SCOPE, None)


@dataclass(frozen=True)
class Where:
    """A database and the scope it is seen in: what a worker task is handed to open its store.
    ``reader`` names the inspectorate's key when it is the one reading: each read is audited."""

    url: str
    scope: Scope
    reader: str | None = None

    def store(self) -> IncidentStore:
        return IncidentStore(self.url, self.scope)


class Rows:
    """Reads and writes of one connection, in its scope."""

    def __init__(self, db: sa.Connection, scope: Scope) -> None:
        self.db = db
        self.scope = scope

    def incident(self, incident_id: str, *, lock: bool = False) -> Any | None:
        """The incident's row (None when there is none); ``lock`` holds it until the commit."""
        query = sa.select(incidents).where(incidents.c.incident_id == incident_id)
        return self.db.execute(query.with_for_update() if lock else query).first()

    def create(self, incident_id: str, profile: Profile, now: str) -> None:
        self.db.execute(
            incidents.insert().values(
                incident_id=incident_id,
                child_id=profile.child["child_id"],
                profile_version=1,
                created_at=now,
                status="open",
                event_count=0,
            )
        )
        self._insert_profile(incident_id, 1, profile, now)

    def add_profile(self, incident_id: str, version: int, profile: Profile, now: str) -> None:
        self._insert_profile(incident_id, version, profile, now)
        self.db.execute(
            incidents.update()
            .where(incidents.c.incident_id == incident_id)
            .values(profile_version=version, child_id=profile.child["child_id"])
        )

    def _insert_profile(self, incident_id: str, version: int, profile: Profile, now: str) -> None:
        self.db.execute(
            profiles.insert().values(
                incident_id=incident_id,
                version=version,
                child=as_json(profile.child),
                policy=profile.policy,
                put_at=now,
            )
        )

    def profile(self, incident_id: str, version: int) -> Profile:
        row = self.db.execute(
            sa.select(profiles.c.child, profiles.c.policy).where(
                profiles.c.incident_id == incident_id, profiles.c.version == version
            )
        ).one()
        return Profile(json.loads(row.child), row.policy)

    def events(self, incident_id: str, ids: list[str] | None = None) -> dict[str, str]:
        """Event id -> the event's stored JSON, in the order stored (only ``ids`` when given)."""
        where = [events.c.incident_id == incident_id]
        if ids is not None:
            where.append(events.c.event_id.in_(ids))
        rows = self.db.execute(
            sa.select(events.c.event_id, events.c.body).where(*where).order_by(events.c.seq)
        )
        return dict(rows.all())  # rows as pairs: cheaper than reading each row's fields by name

    def add_events(self, incident_id: str, added: list[dict[str, Any]], now: str) -> None:
        self.db.execute(
            events.insert(),
            [
                {"incident_id": incident_id, "event_id": e["id"], "body": as_json(e), "received_at": now}
                for e in added
            ],
        )

    def episodes(self, incident: Any) -> list[dict[str, Any]]:
        """The child's other stored incidents reported before this one and recorded on COMPACT or
        a child risk assessment form (R3), as previous episodes, oldest first."""
        if incident.report_at is None:
            return []
        rows = self.db.execute(
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

    def write_entry(self, incident_id: str, event_count: int, entry: WorklistEntry) -> None:
        self.db.execute(
            incidents.update()
            .where(incidents.c.incident_id == incident_id)
            .values(event_count=event_count, **entry.__dict__)
        )

    def check_alerts(self, incident_id: str, at: int) -> None:
        """Have the alert dispatcher judge the incident at or after ``at`` (wall clock)."""
        self.db.execute(
            incidents.update().where(incidents.c.incident_id == incident_id).values(alert_check_at=at)
        )

    def add_decision(self, record: dict[str, Any]) -> int:
        result = self.db.execute(decisions.insert().values(**record))
        return int(result.inserted_primary_key[0])

    def decisions(self, incident_id: str, page: int, per_page: int) -> tuple[list[dict[str, Any]], int]:
        total = self.db.execute(
            sa.select(sa.func.count()).where(decisions.c.incident_id == incident_id)
        ).scalar_one()
        rows = self.db.execute(
            sa.select(decisions)
            .where(decisions.c.incident_id == incident_id)
            .order_by(decisions.c.seq)
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
        return [dict(r._mapping) for r in rows], int(total)

    def open_count(self) -> int:
        query = sa.select(sa.func.count()).select_from(incidents).where(incidents.c.status == "open")
        return int(self.db.execute(query).scalar_one())

    def worklist(self, status: str, page: int, per_page: int) -> tuple[list[dict[str, Any]], int]:
        """Incidents by status, most urgent first: the earliest next due instant, then those with
        none, then by id."""
        where = [] if status == "all" else [incidents.c.status == status]
        total = self.db.execute(sa.select(sa.func.count()).select_from(incidents).where(*where)).scalar_one()
        rows = self.db.execute(
            sa.select(incidents)
            .where(*where)
            .order_by(incidents.c.next_due_at.is_(None), incidents.c.next_due_at, incidents.c.incident_id)
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
        return [dict(r._mapping) for r in rows], int(total)


def as_json(value: Any) -> str:
    """A stored JSON value: keys sorted, compact, UTF-8 kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
