from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, func, select

from core.errors import ConfigError
from core.protocols import Checkpoint
from core.store import (
    Migration,
    Store,
    as_utc,
    collector_checkpoints,
    create_tables,
    load_checkpoint,
    save_checkpoint,
    upsert_rows,
)
from core.store.engine import create_store_engine
from core.store.migrations import schema_migrations
from core.store.pg_copy import CopyRows, copy_text

meta = MetaData()
items = Table(
    "test_items",
    meta,
    Column("item_id", String(20), primary_key=True),
    Column("title", Text, nullable=False),
    Column("version", Integer, nullable=False),
)
MIGRATIONS = (Migration(1, "items", create_tables(items)),)
stamped = Table(
    "test_stamped",
    meta,
    Column("item_id", String(20), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
)


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


def test_datetimes_round_trip_as_aware_utc(store: Store, store_url: str):
    """A datetime written to a ``DateTime(timezone=True)`` column reads back, through ``as_utc``,
    as the same instant, tz-aware and in UTC: SQLite hands back naive values, PostgreSQL hands
    back the session's zone (here deliberately not UTC)."""
    store.migrate("stamped", (Migration(1, "stamped", create_tables(stamped)),))
    written = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
    before = dt.datetime.now(dt.UTC)
    with store.transaction() as conn:
        upsert_rows(conn, stamped, [{"item_id": "a", "at": written}], ["item_id"])
        save_checkpoint(conn, "t", Checkpoint("1"))
    after = dt.datetime.now(dt.UTC)
    reader = store
    if store.dialect == "postgresql":
        reader = Store.from_url(f"{store_url}?options=-c%20timezone%3DAsia/Kolkata")
    with reader.engine.connect() as conn:
        raw = conn.execute(select(stamped.c.at)).scalar_one()
        checkpoint_at = conn.execute(select(collector_checkpoints.c.updated_at)).scalar_one()
    if reader is not store:
        assert raw.utcoffset() == dt.timedelta(hours=5, minutes=30)  # the session's zone, not UTC
        reader.dispose()
    back = as_utc(raw)
    assert back == written and back.tzinfo is dt.UTC
    assert as_utc(checkpoint_at).tzinfo is dt.UTC and before <= as_utc(checkpoint_at) <= after


@pytest.mark.parametrize("size", [3, 500])
def test_constants_fill_every_row_and_new_keys_are_counted(store: Store, size: int):
    store.migrate("items", MIGRATIONS)
    first = [{"item_id": str(i), "title": f"t{i}"} for i in range(size)]
    with store.transaction() as conn:
        assert (
            upsert_rows(conn, items, first, ["item_id"], constants={"version": 1}, count_inserted=True)
            == size
        )
    again = [{"item_id": str(i), "title": "changed" if i == 0 else f"t{i}"} for i in range(size + 2)]
    with store.transaction() as conn:
        new = upsert_rows(
            conn,
            items,
            again,
            ["item_id"],
            only_if_changed=["title"],
            constants={"version": 2},
            count_inserted=True,
        )
    assert new == 2
    with store.engine.connect() as conn:
        versions = dict(conn.execute(select(items.c.item_id, items.c.version)).all())
    assert versions["0"] == 2 and versions["1"] == 1 and versions[str(size + 1)] == 2
    assert len(versions) == size + 2


def test_copy_rows_round_trip_text_exactly_on_postgresql(pg_url: str):
    store = Store.from_url(pg_url)
    store.migrate("items", MIGRATIONS)
    titles = ["tab\there", "line\nbreak", "cr\rhere", "back\\slash \\N", "naïve 構文 🎉", "", "\\"]
    lines = "".join(f"{i}\t{copy_text(title)}\n" for i, title in enumerate(titles)).encode()
    with store.transaction() as conn:
        rows = CopyRows(("item_id", "title"), lines, len(titles))
        assert upsert_rows(conn, items, rows, ["item_id"], constants={"version": 3}, count_inserted=True) == 7
        # The same staging table again, in the same transaction: the first batch must not linger.
        again = CopyRows(("item_id", "title"), b"0\tsecond\n", 1)
        assert (
            upsert_rows(conn, items, again, ["item_id"], constants={"version": 4}, count_inserted=True) == 0
        )
    with store.transaction() as conn:
        nine = CopyRows(("item_id", "title", "version"), b"9\tnine\t5\n", 1)
        assert upsert_rows(conn, items, nine, ["item_id"]) == 1
    with store.engine.connect() as conn:
        stored = dict(conn.execute(select(items.c.item_id, items.c.title)).all())
    assert stored == {**{str(i): t for i, t in enumerate(titles)}, "0": "second", "9": "nine"}


def test_copy_rows_are_refused_by_sqlite(sqlite_url: str):
    store = Store.from_url(sqlite_url)
    store.migrate("items", MIGRATIONS)
    with store.transaction() as conn, pytest.raises(ValueError, match="PostgreSQL"):
        upsert_rows(conn, items, CopyRows(("item_id", "title"), b"1\tx\n", 1), ["item_id"])


def test_expect_new_falls_back_to_the_upsert_when_a_key_exists(pg_url: str):
    store = Store.from_url(pg_url)
    store.migrate("items", MIGRATIONS)
    columns = ("item_id", "title")
    with store.transaction() as conn:
        rows = CopyRows(columns, b"a\tfirst\nb\tbee\n", 2)
        assert (
            upsert_rows(
                conn, items, rows, ["item_id"], constants={"version": 1}, count_inserted=True, expect_new=True
            )
            == 2
        )
    with store.transaction() as conn:
        # "c" is new, "a" exists: the straight COPY is undone and the batch upserts, within this transaction.
        rows = CopyRows(columns, b"c\tsea\na\tfirst, edited\n", 2)
        assert (
            upsert_rows(
                conn, items, rows, ["item_id"], constants={"version": 2}, count_inserted=True, expect_new=True
            )
            == 1
        )
        upsert_rows(conn, items, [{"item_id": "d", "title": "dee", "version": 1}], ["item_id"])
    with store.engine.connect() as conn:
        stored = {row.item_id: (row.title, row.version) for row in conn.execute(select(items))}
    assert stored == {"a": ("first, edited", 2), "b": ("bee", 1), "c": ("sea", 2), "d": ("dee", 1)}
