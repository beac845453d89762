"""``core.store.changes``: the database stamps every insert and update in commit order, and
the horizon splits what a sync has seen from what it has not."""

from __future__ import annotations

import threading
import time

from sqlalchemy import Column, Integer, MetaData, String, Table, select, text

from core.store import Store, upsert_rows
from core.store.changes import change_column, change_horizon, track_changes
from core.store.migrations import Migration, create_tables

_meta = MetaData()
notes = Table(
    "change_notes",
    _meta,
    Column("note_id", String(20), primary_key=True),
    Column("body", String(200), nullable=False),
    change_column(),
)


def _store(url: str) -> Store:
    store = Store.from_url(url)
    store.migrate(
        "change_test",
        (
            Migration(1, "notes", create_tables(notes)),
            Migration(2, "stamping", track_changes(notes)),
            Migration(3, "a column added later", lambda conn: conn.execute(text("ALTER TABLE change_notes ADD COLUMN extra VARCHAR(20)"))),
        ),
    )
    return store


def _seq(store: Store, note_id: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(notes.c.change_seq).where(notes.c.note_id == note_id)).scalar_one())


def test_inserts_and_updates_are_stamped_by_the_database(store_url: str):
    store = _store(store_url)
    with store.transaction() as conn:
        upsert_rows(conn, notes, [{"note_id": "a", "body": "one"}, {"note_id": "b", "body": "one"}], ["note_id"])
    first = _seq(store, "a")
    with store.transaction() as conn:
        upsert_rows(conn, notes, [{"note_id": "a", "body": "two"}], ["note_id"])
    assert _seq(store, "a") > first
    edited = _seq(store, "a")
    with store.transaction() as conn:  # a column a later migration added counts too
        conn.execute(text("UPDATE change_notes SET extra = 'x' WHERE note_id = 'a'"))
    assert _seq(store, "a") > edited
    settled = _seq(store, "a")
    with store.transaction() as conn:  # an unchanged re-read writes nothing, so stamps nothing
        upsert_rows(conn, notes, [{"note_id": "a", "body": "two"}], ["note_id"], only_if_changed=["body"])
    assert _seq(store, "a") == settled


def test_the_horizon_separates_committed_rows_from_rows_still_in_flight(store_url: str):
    store = _store(store_url)
    with store.transaction() as conn:
        upsert_rows(conn, notes, [{"note_id": "done", "body": "committed before the sync"}], ["note_id"])
    in_flight = store.engine.connect()
    transaction = in_flight.begin()
    upsert_rows(in_flight, notes, [{"note_id": "late", "body": "begun before, committed after"}], ["note_id"])
    if store.dialect == "postgresql":
        # A younger transaction commits first, so the in-flight one is below the snapshot's xmax.
        with store.transaction() as conn:
            upsert_rows(conn, notes, [{"note_id": "younger", "body": "began later, done first"}], ["note_id"])
    horizons: list[int] = []
    reader = threading.Thread(target=lambda: horizons.append(_horizon(store)))
    reader.start()
    reader.join(2)  # PostgreSQL answers at once; SQLite's reader never waits for the writer either
    transaction.commit()
    in_flight.close()
    reader.join(30)
    (horizon,) = horizons
    assert _seq(store, "late") >= horizon, "committed after the horizon was read: left for the next sync"
    # And the horizon moves past committed rows once nothing older is running (on PostgreSQL
    # any transaction on the cluster holds it back, so other activity may delay it a little).
    deadline = time.monotonic() + 60
    while _horizon(store) <= _seq(store, "late") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _horizon(store) > _seq(store, "late") > _seq(store, "done")


def _horizon(store: Store) -> int:
    with store.engine.connect() as conn:
        return change_horizon(conn)


def test_integer_column_tables_are_tracked_too(store_url: str):
    counters = Table("change_counters", MetaData(), Column("k", Integer, primary_key=True), Column("v", Integer), change_column())
    store = Store.from_url(store_url)
    store.migrate("change_counters", (Migration(1, "t", create_tables(counters)), Migration(2, "s", track_changes(counters))))
    with store.transaction() as conn:
        upsert_rows(conn, counters, [{"k": 1, "v": 1}], ["k"])
    with store.engine.connect() as conn:
        assert conn.execute(select(counters.c.change_seq)).scalar_one() is not None
