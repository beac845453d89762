"""Batch upserts on natural keys (``INSERT ... ON CONFLICT DO UPDATE``) for PostgreSQL and SQLite."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from core.store.pg_copy import CopyRows, copy_supported, copy_upsert, encode_rows, on_conflict

__all__ = ["upsert_rows"]

_SQLITE_MAX_VARIABLES = 32_000
_PG_MAX_PARAMETERS = 30_000  # of the protocol's 65,535 per statement
COPY_THRESHOLD = 50


def upsert_rows(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]] | CopyRows,
    key_columns: Sequence[str],
    *,
    update_columns: Sequence[str] | None = None,
    only_if_changed: Sequence[str] | None = None,
    update_where: Callable[[Table, Any], ColumnElement[bool]] | None = None,
    constants: Mapping[str, Any] | None = None,
    count_inserted: bool = False,
    expect_new: bool = False,
) -> int:
    """Insert ``rows`` or update them in place when their natural key exists.

    Rows repeating a key inside the batch collapse to the last one (a statement may not
    touch the same row twice), and rows are written in key order, so two runs upserting
    overlapping rows lock them in the same order and cannot deadlock. ``update_columns`` defaults to every non-key column present.
    ``only_if_changed`` restricts updates to rows where one of those columns differs, so an
    unchanged re-read does not bump ``updated_at``-style columns. ``update_where(table,
    excluded)`` adds a condition of its own (e.g. "only if the incoming edit is newer").
    ``constants`` are columns with one value for every row (e.g. ``updated_at``).
    On PostgreSQL a batch of ``COPY_THRESHOLD`` rows or more goes through COPY into a staging
    table and one ``INSERT ... SELECT ... ON CONFLICT``; :class:`CopyRows` (already COPY
    text, unique on the key) always does; with ``expect_new`` (nearly every key is new) it
    first tries a plain COPY into the table, falling back when a key exists. Returns rows
    submitted, or with ``count_inserted`` the rows whose key was new.
    """
    shared = dict(constants or {})
    if isinstance(rows, CopyRows):
        if not copy_supported(conn):
            raise ValueError(
                f"CopyRows need PostgreSQL through psycopg2 or psycopg, not {conn.dialect.name}+{conn.dialect.driver}"
            )
        unique_rows: list[Mapping[str, Any]] = []
        columns = list(rows.columns)
        count = rows.count
    else:
        by_key: dict[tuple[Any, ...], Mapping[str, Any]] = {}
        for row in rows:
            by_key[tuple(row[k] for k in key_columns)] = row
        # Key order: concurrent upserts then lock rows in one order and cannot deadlock.
        unique_rows = [by_key[key] for key in sorted(by_key, key=_sortable)]
        columns = list(unique_rows[0].keys()) if unique_rows else []
        count = len(unique_rows)
    if not count:
        return 0
    updates = (
        list(update_columns)
        if update_columns is not None
        else [c for c in (*columns, *shared) if c not in key_columns]
    )

    dialect = conn.dialect.name
    if dialect == "postgresql":
        insert = postgresql.insert(table)
    elif dialect == "sqlite":
        insert = sqlite.insert(table)
    else:
        raise NotImplementedError(f"upsert is not implemented for {dialect}")

    excluded = insert.excluded
    where = None
    if updates:
        if only_if_changed:
            conditions = [table.c[c].is_distinct_from(excluded[c]) for c in only_if_changed]
            where = conditions[0]
            for condition in conditions[1:]:
                where = where | condition
        if update_where is not None:
            extra = update_where(table, excluded)
            where = extra if where is None else (where & extra)

    if isinstance(rows, CopyRows) or (copy_supported(conn) and len(unique_rows) >= COPY_THRESHOLD):
        copy_rows = rows if isinstance(rows, CopyRows) else encode_rows(table, columns, unique_rows)
        return copy_upsert(
            conn,
            table,
            copy_rows,
            key_columns,
            updates,
            where,
            constants=shared,
            count_inserted=count_inserted,
            expect_new=expect_new,
        )
    statement = on_conflict(insert, table, key_columns, updates, where)
    if shared:
        unique_rows = [{**row, **shared} for row in unique_rows]
    chunk = len(unique_rows)
    if dialect == "sqlite":
        chunk = max(1, _SQLITE_MAX_VARIABLES // max(1, len(columns) + len(shared)))
    existing = _count_existing(conn, table, key_columns, unique_rows) if count_inserted else 0
    if dialect == "postgresql" and len(unique_rows) > 1:
        # SQLAlchemy sends an executemany of an ON CONFLICT insert row by row (a round trip
        # each); one multi-row VALUES statement per chunk is one round trip.
        per_statement = max(1, _PG_MAX_PARAMETERS // max(1, len(columns) + len(shared)))
        for start in range(0, len(unique_rows), per_statement):
            conn.execute(statement.values(unique_rows[start : start + per_statement]))
        return len(unique_rows) - existing if count_inserted else len(unique_rows)
    for start in range(0, len(unique_rows), chunk):
        conn.execute(statement, unique_rows[start : start + chunk])
    return len(unique_rows) - existing if count_inserted else len(unique_rows)


def _sortable(key: tuple[Any, ...]) -> tuple[tuple[bool, str, Any], ...]:
    return tuple((value is None, type(value).__name__, "" if value is None else value) for value in key)


def _count_existing(
    conn: Connection, table: Table, key_columns: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> int:
    """How many of ``rows`` (unique on the key) are stored already."""
    if len(key_columns) == 1:
        key: Any = table.c[key_columns[0]]
        values: list[Any] = [row[key_columns[0]] for row in rows]
    else:
        key = tuple_(*(table.c[k] for k in key_columns))
        values = [tuple(row[k] for k in key_columns) for row in rows]
    chunk = max(1, _SQLITE_MAX_VARIABLES // len(key_columns))
    return sum(
        conn.execute(
            select(func.count()).select_from(table).where(key.in_(values[i : i + chunk]))
        ).scalar_one()
        for i in range(0, len(values), chunk)
    )
