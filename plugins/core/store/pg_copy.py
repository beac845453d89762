"""PostgreSQL bulk upsert: COPY the batch into a temporary table, then one INSERT ... SELECT ... ON CONFLICT.

Row-by-row ``executemany`` of an upsert costs a round trip per row; this costs three
statements per batch, whatever its size.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import JSON, Boolean, Column, ColumnElement, Date, DateTime, MetaData, Table, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

__all__ = ["copy_upsert"]

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _text(value: Any) -> str:
    if value is None:
        return "\\N"
    text = value if isinstance(value, str) else str(value)
    if "\\" in text or not text.isprintable():
        return text.translate(_ESCAPES)
    return text


def _json(value: Any) -> str:
    if value is None:
        return "\\N"
    encoded = orjson.dumps(value).decode()
    return encoded.replace("\\", "\\\\") if "\\" in encoded else encoded


def _boolean(value: Any) -> str:
    return "\\N" if value is None else ("t" if value else "f")


def _instant(value: Any) -> str:
    return "\\N" if value is None else value.isoformat()


def _converter(column_type: Any) -> Callable[[Any], str]:
    """COPY text-format writer for one column (orjson output escapes control characters itself)."""
    if isinstance(column_type, JSON):
        return _json
    if isinstance(column_type, Boolean):
        return _boolean
    if isinstance(column_type, DateTime | Date):
        return _instant
    return _text


def _staging_table(table: Table, columns: Sequence[str]) -> Table:
    return Table(
        f"_stage_{table.name}",
        MetaData(),
        *(Column(name, table.c[name].type) for name in columns),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DELETE ROWS",
    )


def copy_upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    key_columns: Sequence[str],
    updates: Sequence[str],
    where: ColumnElement[bool] | None,
) -> None:
    """Upsert ``rows`` (already unique on ``key_columns``) through COPY into a staging table."""
    stage = _staging_table(table, columns)
    stage.create(conn, checkfirst=True)
    conn.execute(stage.delete())
    converters = [(name, _converter(table.c[name].type)) for name in columns]
    buffer = io.StringIO()
    write = buffer.write
    for row in rows:
        write("\t".join([convert(row[name]) for name, convert in converters]))
        write("\n")
    buffer.seek(0)
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.copy_expert(f"COPY {stage.name} ({', '.join(columns)}) FROM STDIN", buffer)
    finally:
        cursor.close()
    insert = postgresql.insert(table).from_select(list(columns), select(*(stage.c[name] for name in columns)))
    if updates:
        statement = insert.on_conflict_do_update(
            index_elements=[table.c[k] for k in key_columns],
            set_={c: insert.excluded[c] for c in updates},
            where=where,
        )
    else:
        statement = insert.on_conflict_do_nothing(index_elements=[table.c[k] for k in key_columns])
    conn.execute(statement)
