from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, func, select

from core.errors import ConfigError
from core.protocols import Checkpoint
from core.store import Migration, Store, create_tables, load_checkpoint, save_checkpoint, upsert_rows
from core.store.engine import create_store_engine
from core.store.migrations import schema_migrations

meta = MetaData()
items = Table(
    "test_items",
    meta,
    Column("item_id", String(20), primary_key=True),
    Column("title", Text, nullable=False),
    Column("version", Integer, nullable=False),
)
MIGRATIONS = (Migration(1, "items", create_tables(items)),)


def test_migrations_apply_once_and_record_versions(store: Store):
    assert store.migrate("items", MIGRATIONS) == [1]
    assert store.migrate("items", MIGRATIONS) == []
    two = (*MIGRATIONS, Migration(2, "index", lambda conn: None))
    assert store.migrate("items", two) == [2]
    with store.engine.connect() as conn:
        versions = (
            conn.execute(select(schema_migrations.c.version).where(schema_migrations.c.component == "items"))
            .scalars()
            .all()
        )
    assert sorted(versions) == [1, 2]


def test_migrations_must_be_ordered(store: Store):
    with pytest.raises(ValueError, match="unique increasing"):
        store.migrate("bad", (Migration(2, "b", lambda c: None), Migration(1, "a", lambda c: None)))


def test_concurrent_migrations_apply_once(pg_url: str):
    errors: list[BaseException] = []
    applied: list[list[int]] = []

    def migrate() -> None:
        try:
            applied.append(Store.from_url(pg_url).migrate("items", MIGRATIONS))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(applied) == [[], [], [], [1]]


def test_upsert_inserts_updates_in_place_and_collapses_duplicates(store: Store):
    store.migrate("items", MIGRATIONS)
    with store.transaction() as conn:
        upsert_rows(
            conn,
            items,
            [
                {"item_id": "a", "title": "first", "version": 1},
                {"item_id": "b", "title": "bee", "version": 1},
                {"item_id": "a", "title": "first, edited", "version": 2},
            ],
            ["item_id"],
        )
    with store.transaction() as conn:
        upsert_rows(
            conn,
            items,
            [{"item_id": "b", "title": "bee", "version": 1}, {"item_id": "c", "title": "sea", "version": 1}],
            ["item_id"],
        )
    with store.engine.connect() as conn:
        rows = dict(conn.execute(select(items.c.item_id, items.c.title)).all())
    assert rows == {"a": "first, edited", "b": "bee", "c": "sea"}


def test_only_if_changed_leaves_identical_rows_alone(store: Store):
    store.migrate("items", MIGRATIONS)
    with store.transaction() as conn:
        upsert_rows(conn, items, [{"item_id": "a", "title": "t", "version": 1}], ["item_id"])
    with store.transaction() as conn:
        upsert_rows(
            conn,
            items,
            [{"item_id": "a", "title": "t", "version": 7}],
            ["item_id"],
            only_if_changed=["title"],
        )
        upsert_rows(
            conn,
            items,
            [{"item_id": "b", "title": "new", "version": 1}],
            ["item_id"],
            only_if_changed=["title"],
        )
    with store.engine.connect() as conn:
        assert conn.execute(select(items.c.version).where(items.c.item_id == "a")).scalar_one() == 1
        assert conn.execute(select(func.count()).select_from(items)).scalar_one() == 2


def test_batch_and_checkpoint_commit_together_or_not_at_all(store: Store):
    store.migrate("items", MIGRATIONS)
    with pytest.raises(RuntimeError), store.transaction() as conn:
        upsert_rows(conn, items, [{"item_id": "x", "title": "t", "version": 1}], ["item_id"])
        save_checkpoint(conn, "demo", Checkpoint("x", "after x"), "p1")
        raise RuntimeError("crash between batch and commit")
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(items)).scalar_one() == 0
        assert load_checkpoint(conn, "demo", "p1") is None
    with store.transaction() as conn:
        upsert_rows(conn, items, [{"item_id": "x", "title": "t", "version": 1}], ["item_id"])
        save_checkpoint(conn, "demo", Checkpoint("x", "after x", {"n": 1}), "p1")
    with store.engine.connect() as conn:
        assert load_checkpoint(conn, "demo", "p1") == Checkpoint("x", "after x", {"n": 1})
        assert load_checkpoint(conn, "demo", "p2") is None


def test_large_batches_upsert_on_both_dialects(store: Store):
    store.migrate("items", MIGRATIONS)
    rows = [{"item_id": str(i), "title": f"title {i}", "version": 1} for i in range(20_000)]
    with store.transaction() as conn:
        assert upsert_rows(conn, items, rows, ["item_id"]) == 20_000
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(items)).scalar_one() == 20_000


def test_bad_store_urls_are_config_errors():
    with pytest.raises(ConfigError, match="unsupported database"):
        create_store_engine("mysql://root@localhost/x")
    with pytest.raises(ConfigError, match="not a database URL"):
        create_store_engine("::::")


def test_datetimes_round_trip_as_aware_utc(store: Store):
    store.ensure_core()
    with store.transaction() as conn:
        save_checkpoint(conn, "t", Checkpoint("1", dt.datetime(2026, 1, 2, tzinfo=dt.UTC).isoformat()))
    with store.engine.connect() as conn:
        state = load_checkpoint(conn, "t")
    assert state is not None and state.human_readable_marker == "2026-01-02T00:00:00+00:00"
