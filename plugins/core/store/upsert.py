"""Batch upserts on natural keys (``INSERT ... ON CONFLICT DO UPDATE``) for PostgreSQL and SQLite."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from core.store.pg_copy import copy_upsert

__all__ = ["upsert_rows"]

_SQLITE_MAX_VARIABLES = 32_000
COPY_THRESHOLD = 50


def upsert_rows(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    key_columns: Sequence[str],
    *,
    update_columns: Sequence[str] | None = None,
    only_if_changed: Sequence[str] | None = None,
    update_where: Callable[[Table, Any], ColumnElement[bool]] | None = None,
) -> int:
    """Insert ``rows`` or update them in place when their natural key exists.

    Rows repeating a key inside the batch collapse to the last one (a statement may not
    touch the same row twice). ``update_columns`` defaults to every non-key column present.
    ``only_if_changed`` restricts updates to rows where one of those columns differs, so an
    unchanged re-read does not bump ``updated_at``-style columns. ``update_where(table,
    excluded)`` adds a condition of its own (e.g. "only if the incoming edit is newer").
    On PostgreSQL a batch of ``COPY_THRESHOLD`` rows or more goes through COPY into a staging
    table and one ``INSERT ... SELECT ... ON CONFLICT``. Returns rows submitted.
    """
    if not rows:
        return 0
    by_key: dict[tuple[Any, ...], Mapping[str, Any]] = {}
    for row in rows:
        by_key[tuple(row[k] for k in key_columns)] = row
    unique_rows = list(by_key.values())
    columns = list(unique_rows[0].keys())
    updates = (
        list(update_columns) if update_columns is not None else [c for c in columns if c not in key_columns]
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
        statement = insert.on_conflict_do_update(
            index_elements=[table.c[k] for k in key_columns],
            set_={c: excluded[c] for c in updates},
            where=where,
        )
    else:
        statement = insert.on_conflict_do_nothing(index_elements=[table.c[k] for k in key_columns])

    if dialect == "postgresql" and conn.dialect.driver == "psycopg2" and len(unique_rows) >= COPY_THRESHOLD:
        copy_upsert(conn, table, unique_rows, columns, key_columns, updates, where)
        return len(unique_rows)
    chunk = len(unique_rows)
    if dialect == "sqlite":
        chunk = max(1, _SQLITE_MAX_VARIABLES // max(1, len(columns)))
    for start in range(0, len(unique_rows), chunk):
        conn.execute(statement, unique_rows[start : start + chunk])
    return len(unique_rows)
