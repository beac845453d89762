"""Small upserts on PostgreSQL are one statement, not a round trip per row.

SQLAlchemy 2.1 sends an executemany of ``INSERT ... ON CONFLICT`` row by row; ``upsert_rows``
(below its COPY threshold) and ``upsert_profiles`` send one multi-row statement instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, event, select

from core.errors import DataValidationError
from core.identity import Profile, ensure_identity, person_profiles, upsert_profiles
from core.store import Migration, Store, create_tables, upsert_rows

meta = MetaData()
items = Table(
    "test_round_trip_items",
    meta,
    Column("item_id", String(20), primary_key=True),
    Column("title", Text, nullable=False),
    Column("version", Integer, nullable=False),
)
MIGRATIONS = (Migration(1, "items", create_tables(items)),)
NOW = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)


@contextmanager
def statements(store: Store) -> Iterator[list[tuple[str, bool]]]:
    seen: list[tuple[str, bool]] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        seen.append((statement.split(None, 3)[2] if statement.startswith("INSERT") else statement[:20], many))

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", record)


def test_a_small_upsert_is_one_statement_and_still_upserts(pg_url: str) -> None:
    store = Store.from_url(pg_url)
    try:
        store.migrate("items", MIGRATIONS)
        with store.transaction() as conn:
            upsert_rows(
                conn,
                items,
                [{"item_id": f"k{n}", "title": "old", "version": 1} for n in range(20)],
                ["item_id"],
            )
        rows = [{"item_id": f"k{n}", "title": "new" if n % 2 else "old", "version": 2} for n in range(20)]
        with statements(store) as seen, store.transaction() as conn:
            upsert_rows(conn, items, rows, ["item_id"], only_if_changed=["title"])
        assert [s for s in seen if s[0] == "test_round_trip_items"] == [("test_round_trip_items", False)]
        with store.engine.connect() as conn:
            stored = {r.item_id: (r.title, r.version) for r in conn.execute(select(items))}
        assert stored["k1"] == ("new", 2)
        assert stored["k0"] == ("old", 1)  # unchanged title: not updated
    finally:
        store.dispose()


def test_profiles_are_one_statement_per_batch(pg_url: str) -> None:
    store = Store.from_url(pg_url)
    try:
        ensure_identity(store)
        profiles = [Profile(external_id=str(n), seen_at=NOW, username=f"user{n}") for n in range(20)]
        with statements(store) as seen, store.transaction() as conn:
            assert upsert_profiles(conn, "bench", profiles) == 20
        assert [s for s in seen if s[0] == "person_profiles"] == [("person_profiles", False)]
        with store.engine.connect() as conn:
            assert len(conn.execute(select(person_profiles.c.external_id)).all()) == 20
    finally:
        store.dispose()


def test_small_profile_batches_share_one_statement_text(pg_url: str) -> None:
    """Below the COPY threshold the rows travel as one JSON parameter: batches of any size send
    the same SQL (built once per process), not a VALUES list compiled afresh per batch."""
    store = Store.from_url(pg_url)
    texts: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if "person_profiles" in statement:
            texts.append(statement)

    try:
        ensure_identity(store)
        event.listen(store.engine, "before_cursor_execute", record)
        for size in (2, 7):
            with store.transaction() as conn:
                upsert_profiles(
                    conn,
                    "bench",
                    [Profile(str(n), NOW, username=f"u{n}", attrs={"n": n}) for n in range(size)],
                )
        assert len(texts) == 2 and texts[0] == texts[1]
        with store.engine.connect() as conn:
            stored = {r.external_id: r.attrs for r in conn.execute(select(person_profiles))}
        assert stored == {str(n): {"n": n} for n in range(7)}
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
        store.dispose()


def test_a_nul_in_a_small_profile_batch_names_the_column(pg_url: str) -> None:
    store = Store.from_url(pg_url)
    try:
        ensure_identity(store)
        with pytest.raises(DataValidationError, match="NUL") as raised, store.transaction() as conn:
            upsert_profiles(
                conn, "bench", [Profile("1", NOW, username="ok"), Profile("2", NOW, username="a\x00b")]
            )
        assert raised.value.location == "username"
    finally:
        store.dispose()
