"""The framework's own tables: checkpoints, run history, HTTP validators (ETag cache)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB

from core.store.migrations import Migration, create_tables

__all__ = [
    "CORE_MIGRATIONS",
    "collector_alerts",
    "collector_change_counter",
    "collector_checkpoints",
    "collector_locks",
    "collector_runs",
    "core_metadata",
    "core_outbox",
    "http_validators",
]

core_metadata = MetaData()

collector_checkpoints = Table(
    "collector_checkpoints",
    core_metadata,
    Column("collector", String(200), primary_key=True),
    Column("partition", String(500), primary_key=True, default=""),
    Column("checkpoint_token", Text, nullable=True),
    Column("marker", Text, nullable=True),
    Column("extras", JSON, nullable=False, default=dict),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

collector_runs = Table(
    "collector_runs",
    core_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("collector", String(200), nullable=False),
    Column("dag_id", String(250), nullable=True),
    Column("run_id", String(250), nullable=True),
    Column("task_id", String(250), nullable=True),
    Column("map_index", Integer, nullable=False, default=-1),
    Column("partition", String(500), nullable=False, default=""),
    Column("step", String(40), nullable=False),
    Column("status", String(20), nullable=False),
    Column("failure_category", String(40), nullable=True),
    Column("try_number", Integer, nullable=True),
    Column("counts", JSON, nullable=False, default=dict),
    Column("errors", JSON, nullable=False, default=list),
    Column("duration_seconds", Float, nullable=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=False),
    Index("ix_collector_runs_collector_finished", "collector", "finished_at"),
)

http_validators = Table(
    "http_validators",
    core_metadata,
    Column("scope", String(300), primary_key=True),
    Column("request_key", String(1000), primary_key=True),
    Column("etag", Text, nullable=True),
    Column("last_modified", Text, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Alert suppression state: one row per (collector, category); see core.store.alerts.
collector_alerts = Table(
    "collector_alerts",
    core_metadata,
    Column("collector", String(200), primary_key=True),
    Column("category", String(40), primary_key=True),
    Column("last_sent_at", DateTime(timezone=True), nullable=True),
    Column("last_seen_at", DateTime(timezone=True), nullable=True),
    Column("suppressed_count", Integer, nullable=False, default=0),
    Column("sent_count", Integer, nullable=False, default=0),
    Column("last_kind", String(40), nullable=True),
    Column("last_dag_id", String(250), nullable=True),
    Column("last_run_id", String(250), nullable=True),
    Column("last_message", Text, nullable=True),
)

# Who holds (or last held) each run lock; informational, see core.store.locks.
collector_locks = Table(
    "collector_locks",
    core_metadata,
    Column("lock_name", String(800), primary_key=True),
    Column("run_id", String(250), nullable=True),
    Column("holder", String(300), nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
)

# SQLite only: the commit-ordered change sequence (see core.store.changes).
collector_change_counter = Table(
    "collector_change_counter",
    core_metadata,
    Column("id", Integer, primary_key=True),
    Column("value", BigInteger, nullable=False),
)

# Side effects to send once after their batch commits; see core.store.outbox.
core_outbox = Table(
    "core_outbox",
    core_metadata,
    Column("event_key", String(500), primary_key=True),
    Column("kind", String(100), nullable=False),
    Column("payload", JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Column("last_category", String(40), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("claim_token", String(64), nullable=True),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Column("failed_at", DateTime(timezone=True), nullable=True),
    Index("ix_core_outbox_due", "kind", "sent_at", "failed_at", "next_attempt_at"),
    Index("ix_core_outbox_claim", "claim_token"),
)


def _locks_and_change_counter(conn: Connection) -> None:
    collector_locks.create(conn, checkfirst=True)
    collector_change_counter.create(conn, checkfirst=True)
    if conn.execute(collector_change_counter.select()).first() is None:
        conn.execute(collector_change_counter.insert().values(id=1, value=0))


CORE_MIGRATIONS = (
    Migration(
        1,
        "checkpoints, run history, HTTP validators",
        create_tables(collector_checkpoints, collector_runs, http_validators),
    ),
    Migration(2, "alert suppression state", create_tables(collector_alerts)),
    Migration(3, "run lock holders, change sequence counter", _locks_and_change_counter),
    Migration(4, "outbox", create_tables(core_outbox)),
)
