"""A commit-ordered change sequence, so the vector step never misses a row.

A time stamp taken when a batch starts is not enough: the batch commits later, and a sync
that ran in between has already moved its watermark past that time. Rows of tables that
feed documents carry ``change_seq`` instead, set by the database itself on every insert and
update (a column default and a trigger, so no write path can forget it):

- PostgreSQL: the writing transaction's id (``pg_current_xact_id()``). The sync's horizon is
  the oldest transaction of this database still running when it starts (or the next id to be
  given out, when none is): every row stamped below the horizon was committed before the sync
  read, every row committed later is stamped at or above it. Transactions of other databases
  on the cluster cannot write these tables, so they do not hold the horizon back.
- SQLite: a counter incremented by a trigger inside the writing transaction. SQLite has one
  writer at a time, holding the write lock until commit, so counter order is commit order.
  The horizon is the committed counter plus one.

Either way: a sync that reads ``change_seq >= previous horizon`` sees every change since the
previous sync, at worst a few twice (documents whose content hash is unchanged cost nothing).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import BigInteger, Column, Connection, Table, inspect, text

from core.store.schema import collector_change_counter

__all__ = ["CHANGE_COLUMN", "change_column", "change_horizon", "track_changes"]

CHANGE_COLUMN = "change_seq"
_PG_STAMP = "(pg_current_xact_id()::text::bigint)"
_PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION collector_stamp_change() RETURNS trigger AS $$
BEGIN
    NEW.{CHANGE_COLUMN} := {_PG_STAMP};
    RETURN NEW;
END
$$ LANGUAGE plpgsql
"""


def change_column() -> Column[int]:
    """The ``change_seq`` column for a table definition (filled by the database, never by code)."""
    return Column(CHANGE_COLUMN, BigInteger, nullable=True)


def track_changes(*tables: Table) -> Callable[[Connection], None]:
    """Migration body: give each table (which declares :func:`change_column`) its stamping
    default/triggers and an index. Idempotent, so it also serves tables created with the column."""

    def upgrade(conn: Connection) -> None:
        for table in tables:
            _track(conn, table)

    return upgrade


def _track(conn: Connection, table: Table) -> None:
    name = table.name
    quoted = conn.dialect.identifier_preparer.quote(name)
    existing = {column["name"] for column in inspect(conn).get_columns(name)}
    if CHANGE_COLUMN not in existing:
        conn.execute(text(f"ALTER TABLE {quoted} ADD COLUMN {CHANGE_COLUMN} BIGINT"))
    conn.execute(text(f"CREATE INDEX IF NOT EXISTS ix_{name}_{CHANGE_COLUMN} ON {quoted} ({CHANGE_COLUMN})"))
    if conn.dialect.name == "postgresql":
        conn.execute(text(_PG_FUNCTION))
        conn.execute(text(f"ALTER TABLE {quoted} ALTER COLUMN {CHANGE_COLUMN} SET DEFAULT {_PG_STAMP}"))
        trigger = f"{name}_stamp_change"
        conn.execute(text(f"DROP TRIGGER IF EXISTS {trigger} ON {quoted}"))
        conn.execute(
            text(
                f"CREATE TRIGGER {trigger} BEFORE UPDATE ON {quoted} "
                "FOR EACH ROW EXECUTE FUNCTION collector_stamp_change()"
            )
        )
        return
    stamp = (
        "UPDATE collector_change_counter SET value = value + 1 WHERE id = 1; "
        f"UPDATE {quoted} SET {CHANGE_COLUMN} = (SELECT value FROM collector_change_counter WHERE id = 1) "
        "WHERE rowid = NEW.rowid;"
    )
    conn.execute(text(f"DROP TRIGGER IF EXISTS {name}_stamp_insert"))
    conn.execute(text(f"DROP TRIGGER IF EXISTS {name}_stamp_update"))
    conn.execute(text(f"CREATE TRIGGER {name}_stamp_insert AFTER INSERT ON {quoted} BEGIN {stamp} END"))
    # Any update that did not itself set change_seq (the insert trigger's stamp does) is a change,
    # whatever columns later migrations add.
    conn.execute(
        text(
            f"CREATE TRIGGER {name}_stamp_update AFTER UPDATE ON {quoted} "
            f"WHEN NEW.{CHANGE_COLUMN} IS OLD.{CHANGE_COLUMN} BEGIN {stamp} END"
        )
    )


def change_horizon(conn: Connection) -> int:
    """The lowest ``change_seq`` a change committed from now on can carry: every row stamped
    below it is committed and visible. Read it before reading the rows it covers."""
    if conn.dialect.name == "postgresql":
        return _postgres_horizon(conn)
    value = conn.execute(
        collector_change_counter.select().with_only_columns(collector_change_counter.c.value)
    ).scalar_one()
    return int(value) + 1


_NEXT_XID = text("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint")
# backend_xid is visible to every role (unlike the query text); 32 bits, widened below.
_RUNNING_XIDS = text(
    "SELECT backend_xid::text::bigint FROM pg_stat_activity "
    "WHERE datname = current_database() AND backend_xid IS NOT NULL "
    "UNION ALL SELECT transaction::text::bigint FROM pg_prepared_xacts WHERE database = current_database()"
)


def _postgres_horizon(conn: Connection) -> int:
    """min(the snapshot's xmax, every transaction of this database still running).

    xmax is read first: every id handed out later is at or above it; a transaction that got
    its id earlier and still runs when ``pg_stat_activity`` is read next lowers the minimum to
    its id; one that finished in between is committed and visible to what the sync reads next.
    """
    next_xid = int(conn.execute(_NEXT_XID).scalar_one())
    epoch, low = next_xid >> 32, next_xid & 0xFFFFFFFF
    horizon = next_xid
    for (xid32,) in conn.execute(_RUNNING_XIDS):
        full = (epoch << 32) | int(xid32)
        if int(xid32) > low:  # handed out before the 32-bit counter last wrapped
            full -= 1 << 32
        horizon = min(horizon, full)
    return horizon
