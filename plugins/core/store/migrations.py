"""Versioned, forward-only schema migrations, one ordered list per component (core, each tracker).

A migration is a function of a SQLAlchemy connection. Applied versions are recorded in
``schema_migrations``; applying is idempotent and safe to run concurrently (PostgreSQL
advisory lock; SQLite serializes writers). A version is recorded in the transaction that
applied it and never removed, so :func:`recorded_versions` (one query, no lock) tells a
process whose schema is current that it has nothing to do; anything not yet recorded goes
through :func:`apply_migrations`, which re-reads the versions under the lock.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import zlib
from collections.abc import Callable, Sequence

from sqlalchemy import Column, DateTime, Engine, Integer, MetaData, String, Table, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

__all__ = [
    "Migration",
    "apply_migrations",
    "check_versions",
    "create_tables",
    "recorded_versions",
    "schema_migrations",
]

log = logging.getLogger(__name__)

_meta = MetaData()

schema_migrations = Table(
    "schema_migrations",
    _meta,
    Column("component", String(100), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("description", String(300), nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)


@dataclasses.dataclass(frozen=True)
class Migration:
    version: int
    description: str
    upgrade: Callable[[Connection], None]


def create_tables(*tables: Table) -> Callable[[Connection], None]:
    """Migration body that creates the given tables (and their indexes)."""

    def upgrade(conn: Connection) -> None:
        for table in tables:
            table.create(conn, checkfirst=True)

    return upgrade


def check_versions(component: str, migrations: Sequence[Migration]) -> None:
    """Raise ``ValueError`` unless the versions are unique and increasing."""
    versions = [m.version for m in migrations]
    if versions != sorted(set(versions)):
        raise ValueError(f"migrations of {component!r} must have unique increasing versions: {versions}")


def recorded_versions(engine: Engine) -> dict[str, set[int]]:
    """Every recorded version by component, in one query without a lock; ``{}`` when
    ``schema_migrations`` cannot be read (not created yet): the caller then applies through
    :func:`apply_migrations`, which creates it and raises any real error itself."""
    with engine.connect() as conn:
        try:
            rows = conn.execute(select(schema_migrations.c.component, schema_migrations.c.version)).all()
        except DBAPIError:
            return {}
    recorded: dict[str, set[int]] = {}
    for component, version in rows:
        recorded.setdefault(component, set()).add(version)
    return recorded


def apply_migrations(engine: Engine, component: str, migrations: Sequence[Migration]) -> list[int]:
    """Apply the not-yet-applied migrations of ``component`` in order; return the versions applied."""
    check_versions(component, migrations)
    applied_now: list[int] = []
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": zlib.crc32(b"schema_migrations")}
            )
        schema_migrations.create(conn, checkfirst=True)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            lock_key = zlib.crc32(f"migrations:{component}".encode())
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key})
        done = set(
            conn.execute(
                schema_migrations.select()
                .with_only_columns(schema_migrations.c.version)
                .where(schema_migrations.c.component == component)
            ).scalars()
        )
        for migration in migrations:
            if migration.version in done:
                continue
            log.info("Applying migration %s v%d: %s", component, migration.version, migration.description)
            migration.upgrade(conn)
            conn.execute(
                schema_migrations.insert().values(
                    component=component,
                    version=migration.version,
                    description=migration.description,
                    applied_at=dt.datetime.now(dt.UTC),
                )
            )
            applied_now.append(migration.version)
    return applied_now
