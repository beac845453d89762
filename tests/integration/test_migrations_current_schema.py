"""Store.migrate on a schema that is already current: one query of the recorded versions, no
lock and no DDL; anything not yet recorded still goes through the locked path (PostgreSQL
and SQLite, real databases)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, event, select

from core.store import Migration, Store, create_tables
from core.store.migrations import schema_migrations

meta = MetaData()
things = Table("test_things", meta, Column("thing_id", Integer, primary_key=True))


def _migrations(calls: list[int], upto: int) -> tuple[Migration, ...]:
    def step(version: int) -> Any:
        def upgrade(conn: Any) -> None:
            calls.append(version)
            if version == 1:
                create_tables(things)(conn)

        return upgrade

    return tuple(Migration(v, f"step {v}", step(v)) for v in range(1, upto + 1))


@pytest.fixture
def stores(store_url: str) -> Iterator[list[Store]]:
    opened: list[Store] = []
    yield opened
    for store in opened:
        store.dispose()


def _open(stores: list[Store], url: str) -> Store:
    store = Store.from_url(url)
    stores.append(store)
    return store


def _statements(store: Store) -> list[str]:
    seen: list[str] = []

    @event.listens_for(store.engine, "before_cursor_execute")
    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    return seen


def test_current_schema_costs_one_query_and_no_lock(store_url: str, stores: list[Store]):
    calls: list[int] = []
    assert _open(stores, store_url).migrate("things", _migrations(calls, 2)) == [1, 2]

    later = _open(stores, store_url)
    seen = _statements(later)
    assert later.migrate("things", _migrations(calls, 2)) == []
    assert later.migrate("things", _migrations(calls, 2)) == []
    later.ensure_core()

    assert len(seen) == 1, seen
    assert "schema_migrations" in seen[0] and seen[0].lstrip().upper().startswith("SELECT")
    assert calls == [1, 2]


def test_new_migration_still_applied_once_by_stores_that_read_the_versions_before(
    store_url: str, stores: list[Store]
):
    calls: list[int] = []
    assert _open(stores, store_url).migrate("things", _migrations(calls, 1)) == [1]
    early = _open(stores, store_url)
    assert early.migrate("things", _migrations(calls, 1)) == []  # versions read: {1}

    # A newer deployment adds v2; another process applies it first.
    assert _open(stores, store_url).migrate("things", _migrations(calls, 2)) == [2]
    # The early store's snapshot lacks v2: it goes through the locked path and finds it done.
    assert early.migrate("things", _migrations(calls, 2)) == []
    # A fresh store sees v3 missing and applies it.
    assert _open(stores, store_url).migrate("things", _migrations(calls, 3)) == [3]
    assert calls == [1, 2, 3]
    with early.engine.connect() as conn:
        versions = conn.execute(
            select(schema_migrations.c.version).where(schema_migrations.c.component == "things")
        ).scalars()
        assert sorted(versions) == [1, 2, 3]


def test_versions_checked_even_when_everything_is_recorded(store_url: str, stores: list[Store]):
    calls: list[int] = []
    store = _open(stores, store_url)
    store.migrate("things", _migrations(calls, 2))
    with pytest.raises(ValueError, match="unique increasing"):
        store.migrate("things", tuple(reversed(_migrations(calls, 2))))
