"""Versioned, forward-only schema migrations, one ordered list per component (core, each tracker).

A migration is a function of a SQLAlchemy connection. Applied versions are recorded in
``schema_migrations``; applying is idempotent and safe to run concurrently (PostgreSQL
advisory lock; SQLite serializes writers).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import zlib
from collections.abc import Callable, Sequence

from sqlalchemy import Column, DateTime, Engine, Integer, MetaData, String, Table, text
from sqlalchemy.engine import Connection

__all__ = ["Migration", "apply_migrations", "create_tables", "schema_migrations"]

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


def apply_migrations(engine: Engine, component: str, migrations: Sequence[Migration]) -> list[int]:
    """Apply the not-yet-applied migrations of ``component`` in order; return the versions applied."""
    versions = [m.version for m in migrations]
    if versions != sorted(set(versions)):
        raise ValueError(f"migrations of {component!r} must have unique increasing versions: {versions}")
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
