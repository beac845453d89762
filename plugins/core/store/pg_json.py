"""Upserts whose SQL text does not depend on the batch, on PostgreSQL: the rows travel as ONE
JSON parameter and ``json_to_recordset`` turns them back into typed rows. The text is built
once per process by string formatting: compiling the SQLAlchemy form costs a fresh process
milliseconds, and a multi-row ``VALUES`` statement is built and compiled again for every batch."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql

from core.store.pg_copy import encode_rows

__all__ = ["json_rows", "json_upsert_head"]

_PG = postgresql.dialect()


@functools.cache
def json_upsert_head(table: Table, columns: tuple[str, ...], keys: tuple[str, ...], param: str) -> str:
    """``INSERT INTO <table> AS t (columns) SELECT columns FROM json_to_recordset(:<param>) ...
    ORDER BY keys ON CONFLICT (keys)``; the caller appends its ``DO NOTHING`` or ``DO UPDATE
    SET`` (the stored row is ``t``). Rows go in key order: one lock order for concurrent batches."""
    names = ", ".join(f'"{c}"' for c in columns)
    typed = ", ".join(f'"{c}" {table.c[c].type.compile(dialect=_PG)}' for c in columns)
    key = ", ".join(f'"{k}"' for k in keys)
    return (
        f"INSERT INTO {table.name} AS t ({names}) SELECT {names}"
        f" FROM json_to_recordset(CAST(:{param} AS json)) AS r ({typed})"
        f" ORDER BY {key} ON CONFLICT ({key}) "
    )


def json_rows(table: Table, columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
    """``rows`` as the JSON parameter. A NUL character in a text field raises
    DataValidationError naming the table, column and row (PostgreSQL text cannot hold one);
    the result may still hold an escaped ``\\u0000`` elsewhere (inside a JSON value, or a
    literal backslash-u0000), which the caller decides about."""
    data = orjson.dumps(rows)
    if b"\\u0000" in data:
        encode_rows(table, tuple(columns), rows)
    return data.decode()
